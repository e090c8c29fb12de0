"""``--verify``: is a dataset complete on disk, with the published number of images per domain?"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class VerifyReport:
    name: str
    counts: dict[str, int]
    expected: dict[str, int]
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (expected, found)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def format(self) -> str:
        keys = list(self.expected) + [k for k in self.counts if k not in self.expected]
        width = max([len(k) for k in keys] + [6])
        lines = [f"{self.name}: {'OK' if self.ok else 'MISMATCH'}", f"  {'':{width}}  {'found':>8}  {'expected':>8}"]
        for k in keys:
            exp = self.expected.get(k)
            mark = "" if k not in self.mismatches else "  <-"
            lines.append(f"  {k:{width}}  {self.counts.get(k, 0):>8}  {exp if exp is not None else '-':>8}{mark}")
        if not self.expected:
            lines.append("  (no published counts: only completeness was checked)")
        return "\n".join(lines)


def verify_dataset(dataset_cls, root: str, expected: dict[str, int] | None = None) -> VerifyReport:
    """Open the dataset under ``root`` (raises ``DatasetMissingError`` naming what is missing) and
    compare its image counts with ``expected`` (default: the dataset's published counts)."""
    counts = dataset_cls.open(root).count_images()
    expected = dict(dataset_cls.expected_counts if expected is None else expected)
    mismatches = {k: (n, counts.get(k, 0)) for k, n in expected.items() if counts.get(k, 0) != n}
    return VerifyReport(dataset_cls.name, counts, expected, mismatches)
