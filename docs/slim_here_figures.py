"""The two figures of the README's "What SLIM does here", from ``tools/analyze.py`` output.

    python docs/slim_here_figures.py ANALYSIS_DIR [--output-dir docs]

``ANALYSIS_DIR`` holds ``gradients_<setting>/gradients.json`` and ``perturbation_<setting>/perturbation.json``
for the settings below, each analysed on one plain-trained AdvStyle run with the SLIM objective set by
trailing overrides (the README gives the commands). Writes ``slim_direction_cosine.png`` (SLIM's ascent
direction vs the plain one, per setting and per candidate tap) and ``slim_perturbation_depth.png``
(feature change over depth, plain vs SLIM at each setting).
"""
from __future__ import annotations

import argparse
import json
import os

from PIL import Image

from slim_dg.analysis import plots

SETTINGS = {"default": "SLIM default", "x10": "λ range ×10", "grad_norm": "BALANCE grad_norm",
            "shallow": "taps act1-layer2"}


def _result(path: str) -> dict:
    (result,) = json.load(open(path))["results"].values()
    return result


def small(path: str) -> str:
    """The PNG with a 256-colour palette: a few tens of kB for the repository instead of ~200."""
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("analysis_dir")
    p.add_argument("--output-dir", default=os.path.dirname(os.path.abspath(__file__)))
    args = p.parse_args(argv)
    cos, curves = {}, {}
    for key, label in SETTINGS.items():
        g = _result(os.path.join(args.analysis_dir, f"gradients_{key}", "gradients.json"))
        cos[label] = {"layer drawn": g["cos_to_plain"], **{t: v["cos_to_plain"] for t, v in g["per_tap"].items()}}
        r = _result(os.path.join(args.analysis_dir, f"perturbation_{key}", "perturbation.json"))
        curves.setdefault("plain AdvStyle", r["plain"])
        curves[f"SLIM: {label}"] = r["slim"]
    print(small(plots.grouped_bars(cos, None, os.path.join(args.output_dir, "slim_direction_cosine.png"),
                             "cos(SLIM direction, plain direction)",
                             "AdvStyle's ascent direction: SLIM vs plain (1 = unchanged)")))
    print(small(plots.perturbation_plot(curves, os.path.join(args.output_dir, "slim_perturbation_depth.png"))))


if __name__ == "__main__":
    main()
