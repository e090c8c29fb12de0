"""A ``LodoTable`` as Markdown, CSV and LaTeX.

Markdown and LaTeX: one row per target domain and an ``Avg`` row, one column per method (and grid
point), cells ``mean ± std``; the best complete cell of each row in bold (``\\textbf``). A cell with
fewer (or more) seeds than expected shows ``n=k/N`` (Markdown) or a dagger (LaTeX); an ``Avg``
that cannot be computed says so. CSV is tidy, one line per cell, with the numbers unrounded.
"""
from __future__ import annotations

import csv
import io
import math

from .lodo import AVG_NAME, Cell, LodoTable

CSV_FIELDS = ("dataset", "selection", "target", "method", "mean", "std", "n", "expected_n", "seeds", "epochs")


def caption(table: LodoTable) -> str:
    sel = table.selection
    return (f"{table.dataset}: accuracy (%) on each held-out target domain (leave-one-domain-out), "
            f"mean ± sample std (ddof=1) over {table.expected} seed(s); model selection: {sel.label}")


def _rows(table: LodoTable) -> list[tuple[str, dict[str, Cell | None]]]:
    rows = [(t, {c: table.cells.get((t, c)) for c in table.columns}) for t in table.targets]
    return rows + [(AVG_NAME, dict(table.avg))]


def _number(cell: Cell, precision: int, pm: str) -> str:
    text = f"{cell.mean:.{precision}f}"
    return text + (f" {pm} {cell.std:.{precision}f}" if not math.isnan(cell.std) else "")


def _best(table: LodoTable, cells: dict[str, Cell | None], precision: int) -> set[str]:
    """Columns holding the row's best mean among complete cells (ties at the shown precision all count)."""
    shown = {c: round(cell.mean, precision) for c, cell in cells.items() if table.complete(cell)}
    top = max(shown.values(), default=None)
    return {c for c, v in shown.items() if v == top}


def to_markdown(table: LodoTable, precision: int = 1) -> str:
    lines = [f"**{caption(table)}**", "", "| Target | " + " | ".join(table.columns) + " |",
             "|---|" + "---|" * len(table.columns)]
    incomplete = False
    for name, cells in _rows(table):
        best = _best(table, cells, precision)
        out = []
        for col, cell in cells.items():
            if cell is None or cell.n == 0:
                text = "incomplete" if name == AVG_NAME else "–"
                incomplete |= name == AVG_NAME
            else:
                text = _number(cell, precision, "±")
                text = f"**{text}**" if col in best else text
                text += f" (n={cell.n})" if table.complete(cell) else f" (n={cell.n}/{table.expected})"
            out.append(text)
        lines.append(f"| {name} | " + " | ".join(out) + " |")
    if incomplete:
        lines += ["", f"Avg incomplete: some target has not got the same {table.expected} seed(s) as the others."]
    return "\n".join(lines) + "\n"


def to_csv(table: LodoTable) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for name, cells in _rows(table):
        for col, cell in cells.items():
            cell = cell or Cell()
            writer.writerow({"dataset": table.dataset, "selection": table.selection.name, "target": name,
                             "method": col, "mean": "" if cell.n == 0 else repr(cell.mean),
                             "std": "" if cell.n < 2 else repr(cell.std), "n": cell.n, "expected_n": table.expected,
                             "seeds": " ".join(map(str, sorted(cell.values))),
                             "epochs": " ".join(str(cell.epochs[s]) for s in sorted(cell.epochs))})
    return buf.getvalue()


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: LodoTable, precision: int = 1) -> str:
    lines = [f"% {caption(table)}",
             f"% \\dagger: fewer (or more) than {table.expected} seed(s); --: Avg not computed (incomplete targets)",
             "% needs \\usepackage{booktabs}",
             "\\begin{tabular}{l" + "c" * len(table.columns) + "}", "\\toprule",
             "Target & " + " & ".join(_tex(c) for c in table.columns) + " \\\\", "\\midrule"]
    for name, cells in _rows(table):
        if name == AVG_NAME:
            lines.append("\\midrule")
        best = _best(table, cells, precision)
        out = []
        for col, cell in cells.items():
            if cell is None or cell.n == 0:
                out.append("--")
                continue
            text = _number(cell, precision, "$\\pm$")
            text = f"\\textbf{{{text}}}" if col in best else text
            out.append(text if table.complete(cell) else text + "$^\\dagger$")
        lines.append(f"{_tex(name)} & " + " & ".join(out) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


# --format name -> (file extension, writer(table, precision))
FORMATS = {"md": ("md", to_markdown), "csv": ("csv", lambda table, precision: to_csv(table)),
           "latex": ("tex", to_latex)}
