"""One small name -> object registry, shared by datasets, trainers, backbones and adversaries.

Duplicates raise (a silent overwrite hides a plugin clash); an unknown name lists the valid
ones and the closest match, and names the config key that selects from this registry.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator

from .errors import UnknownNameError


class Registry:
    def __init__(self, name: str, config_key: str | None = None,
                 on_register: Callable[[str, Any], None] | None = None) -> None:
        """``on_register(name, obj)`` runs before an object is registered; what it raises refuses it."""
        self.name = name
        self.config_key = config_key
        self.on_register = on_register
        self._obj: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}

    def register(self, obj: Any = None, *, name: str | None = None, aliases: tuple[str, ...] = ()):
        """Use as ``@REG.register()``, ``@REG.register(name="x")`` or ``REG.register(obj)``."""

        def deco(o: Any) -> Any:
            key = name or o.__name__
            for k in (key, *aliases):
                if k in self._obj or k in self._aliases:
                    raise KeyError(f"{self.name} '{k}' is already registered (by {self._describe(k)}).")
            if self.on_register is not None:
                self.on_register(key, o)
            self._obj[key] = o
            for alias in aliases:
                self._aliases[alias] = key
            return o

        if obj is not None:
            return deco(obj)
        return deco

    def _describe(self, key: str) -> str:
        o = self._obj.get(self._aliases.get(key, key))
        return f"{getattr(o, '__module__', '?')}.{getattr(o, '__qualname__', o)}"

    def names(self) -> list[str]:
        return sorted(self._obj)

    def __contains__(self, key: str) -> bool:
        return key in self._obj or key in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._obj)

    def unknown_message(self, key: str) -> str:
        valid = self.names()
        where = f" ({self.config_key})" if self.config_key else ""
        close = difflib.get_close_matches(key, valid + list(self._aliases), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        return f"Unknown {self.name.lower()} '{key}'{where}{hint} Available: {', '.join(valid) or '(none)'}"

    def get(self, key: str) -> Any:
        key = self._aliases.get(key, key)
        if key not in self._obj:
            raise UnknownNameError(self.unknown_message(key))
        return self._obj[key]

    def build(self, key: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(key)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {self.names()})"


