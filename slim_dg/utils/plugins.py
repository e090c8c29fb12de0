"""User modules that register datasets, trainers, backbones or adversaries.

Two ways, neither needs an edit in ``tools/``: ``--plugin my_pkg.my_module`` (or a path to a
``.py`` file) on the command line, and the entry-point group ``slim_dg.plugins`` of any installed
package, loaded automatically.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from importlib.metadata import entry_points
from types import ModuleType

ENTRY_POINT_GROUP = "slim_dg.plugins"
logger = logging.getLogger(__name__)


def import_plugin(name: str) -> ModuleType:
    if name.endswith(".py") or os.sep in name:
        if not os.path.isfile(name):
            raise ModuleNotFoundError(f"Plugin file not found: {name}")
        mod_name = os.path.splitext(os.path.basename(name))[0]
        spec = importlib.util.spec_from_file_location(mod_name, name)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name.split(".")[0] and e.name != name:
            raise  # the plugin itself imports something missing: show that error as it is
        raise ModuleNotFoundError(f"Plugin module '{name}' not found: is it on PYTHONPATH (or installed)? "
                                  "A path to a .py file works too.") from e


def load_plugins(names: list[str] = ()) -> list[ModuleType]:
    modules = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        logger.debug("Loading plugin entry point %s", ep.value)
        modules.append(ep.load())
    modules += [import_plugin(n) for n in names]
    return modules
