"""Registering SLIM-DG's objects into Dassl's registries (``TRAINER_REGISTRY``, ``BACKBONE_REGISTRY``)
without clobbering anyone else's entries."""
from __future__ import annotations

# ``slim_dg.integrations.dassl``: the module our registered trainers report as theirs (they are re-exported there)
PACKAGE = __name__.rpartition(".")[0]


def _is_ours(obj) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def _register(registry, obj) -> None:
    """Register ``obj`` under its ``__name__``; re-registering our own object (a module reload) replaces
    it, a clash with anyone else's is an error."""
    name = obj.__name__
    if name in registry.registered_names():
        if not _is_ours(registry.get(name)):
            raise KeyError(f"Dassl's {registry._name} registry already holds a '{name}' that is not SLIM-DG's")
        registry.register(obj, force=True)
    else:
        registry.register(obj)
