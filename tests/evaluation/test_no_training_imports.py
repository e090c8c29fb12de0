"""evaluation/ measures models; it never imports the training side (engine/, adversarial/), so an
evaluation number cannot depend on a training helper."""
import ast
import os

import slim_dg.evaluation

TRAINING = ("slim_dg.engine", "slim_dg.adversarial")


def _imports(path: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom):  # relative: "..adversarial.pgd" from slim_dg.evaluation.x
            base = "slim_dg" if node.level == 2 else "slim_dg.evaluation" if node.level == 1 else ""
            names.add(".".join(p for p in (base, node.module or "") if p))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_evaluation_imports_nothing_of_the_training_side():
    folder = os.path.dirname(slim_dg.evaluation.__file__)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            bad = [m for m in _imports(os.path.join(folder, name)) if m.startswith(TRAINING)]
            assert not bad, f"evaluation/{name} imports {bad}"
