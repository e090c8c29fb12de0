"""The run's time by phase (issue 21): nested phases are exclusive, other threads are not timed."""
import re
import threading

from slim_dg.utils import phases
from slim_dg.utils.phases import PhaseTimes, seconds_since_process_start


def test_nested_phases_are_exclusive_and_the_rest_is_other(monkeypatch):
    clock = iter([0.0, 1.0, 3.0, 7.0, 8.0, 10.0])  # reset, enter outer, enter inner, leave inner, leave outer, summary
    monkeypatch.setattr(phases.time, "perf_counter", lambda: next(clock))
    times = PhaseTimes()
    times.add("start-up", 5.0)
    with times("outer"):
        with times("inner"):
            pass
    assert dict(times.totals) == {"start-up": 5.0, "outer": 3.0, "inner": 4.0}
    line = times.summary()  # 10 s timed + 5 s start-up: 3 s of the 10 in no phase
    assert line.startswith("15.0 s: ") and "other 3.0 s (20%)" in line and "inner 4.0 s (27%)" in line


def test_other_threads_are_not_timed():
    times = PhaseTimes()
    worker = threading.Thread(target=lambda: times("checkpoint write").__enter__())
    worker.start()
    worker.join()
    with times("decorated"):
        pass
    assert set(times.totals) == {"decorated"}


def test_a_decorated_function_counts_each_call():
    times = PhaseTimes()

    @times("setup")
    def f():
        return 3

    assert f() + f() == 6 and times.totals["setup"] > 0 and not times._stack


def test_process_age_is_read_on_linux():
    age = seconds_since_process_start()
    assert age is None or 0 <= age < 24 * 3600
    assert re.fullmatch(r"[\d.]+ s: other [\d.]+ s \(\d+%\)", PhaseTimes().summary())
