"""Where a run's wall time goes, by phase: ``with phase("evaluation"): ...`` anywhere in the code.

Phases nest and are exclusive: time spent in an inner phase is not counted in the one around it, so
the totals add up to the time they cover and ``summary()`` names what is left as "other". One
process-wide recorder (like a logger): the training command resets it, and logs ``summary()`` at the
end of a run. Only the thread that started a phase may end it; other threads are not timed.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import defaultdict


def seconds_since_process_start() -> float | None:
    """Wall time since this process started (interpreter start-up and imports included); None where
    the OS does not say (read from /proc on Linux)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time, in clock ticks
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


class PhaseTimes:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []
        self._since = time.perf_counter()  # when the innermost open phase last (re)started
        self._origin = self._since
        self._thread = threading.get_ident()

    def add(self, name: str, seconds: float) -> None:
        """Count time measured elsewhere (e.g. start-up before the recorder existed)."""
        self.totals[name] += seconds

    @contextlib.contextmanager
    def __call__(self, name: str):
        if threading.get_ident() != self._thread:  # a background thread's time overlaps the main one's
            yield
            return
        self._switch()
        self._stack.append(name)
        try:
            yield
        finally:
            self._switch()
            self._stack.pop()

    def _switch(self) -> None:
        now = time.perf_counter()
        if self._stack:
            self.totals[self._stack[-1]] += now - self._since
        self._since = now

    def summary(self) -> str:
        """One line: each phase's seconds and share of the time since ``reset`` (plus what was ``add``-ed)."""
        timed = time.perf_counter() - self._origin
        totals = dict(self.totals)
        inside = sum(v for k, v in totals.items() if k != "start-up")
        totals["other"] = max(0.0, timed - inside)
        whole = timed + totals.get("start-up", 0.0)
        return f"{whole:.1f} s: " + ", ".join(f"{k} {v:.1f} s ({100 * v / max(whole, 1e-9):.0f}%)"
                                              for k, v in sorted(totals.items(), key=lambda kv: -kv[1]))


phase = PhaseTimes()
