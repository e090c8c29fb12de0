"""LODO sweeps: many ``tools/train.py`` runs, their directories, their state and their launchers."""
from .execution import Outcome, execute, train_command
from .runs import Run, expand_runs, method_name, parse_grid
from .state import BUSY, CONFLICT, DONE, RESTART, RESUME, START, run_state

__all__ = ["BUSY", "CONFLICT", "DONE", "Outcome", "RESTART", "RESUME", "Run", "START", "execute", "expand_runs",
           "method_name", "parse_grid", "run_state", "train_command"]
