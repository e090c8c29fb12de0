"""Model selection: which of a run's recorded evaluations (``results.json`` ``history``) it reports.

Each rule is a small named class with one ``select(results) -> evaluation``; an evaluation is
``{"epoch", "target", "source_val"}`` as in the history. Nothing is re-run or guessed: a rule only
picks among the evaluations the run made (every ``TRAIN.EVAL_FREQ`` epochs, and the last one).

- ``last``: the final model (Dassl's protocol);
- ``source_val``: training-domain validation, the evaluation with the best mean accuracy on the
  source domains' held-out split (DomainBed's default; ties go to the earliest, as for
  ``model-best.pt``);
- ``oracle``: the evaluation with the best mean target accuracy. It looks at the test domain,
  so its tables always say "oracle (test-domain)": an upper bound, not a result.
"""
from __future__ import annotations

from ..errors import InputError
from ..registry import Registry

SELECTION_REGISTRY = Registry("Selection method")


def evaluations(res: dict) -> list[dict]:
    """The run's evaluations, oldest first; a results.json without history has its final one only."""
    return res.get("history") or [{"epoch": res["epoch"], "target": res["target"], "source_val": res["source_val"]}]


def mean_accuracy(per_domain: dict) -> float:
    return sum(m["accuracy"] for m in per_domain.values()) / len(per_domain)


class SelectionMethod:
    name = ""
    label = ""  # how tables and plots name the rule

    @classmethod
    def select(cls, res: dict) -> dict:
        raise NotImplementedError


@SELECTION_REGISTRY.register(name="last")
class Last(SelectionMethod):
    name, label = "last", "last epoch"

    @classmethod
    def select(cls, res: dict) -> dict:
        return {"epoch": res["epoch"], "target": res["target"], "source_val": res["source_val"]}


@SELECTION_REGISTRY.register(name="source_val")
class SourceVal(SelectionMethod):
    name, label = "source_val", "training-domain validation"

    @classmethod
    def select(cls, res: dict) -> dict:
        scored = [e for e in evaluations(res) if e["source_val"]]
        if not scored:
            raise InputError("no source-validation accuracy recorded (DATASET.VAL_RATIO 0?): "
                             "select with 'last' or 'oracle'")
        return max(scored, key=lambda e: mean_accuracy(e["source_val"]))  # max keeps the first of equals


@SELECTION_REGISTRY.register(name="oracle")
class Oracle(SelectionMethod):
    name, label = "oracle", "oracle (test-domain)"

    @classmethod
    def select(cls, res: dict) -> dict:
        return max(evaluations(res), key=lambda e: mean_accuracy(e["target"]))


def get_selection(name: str) -> type[SelectionMethod]:
    return SELECTION_REGISTRY.get(name)  # KeyError listing the rules
