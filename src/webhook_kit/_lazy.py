"""A module imported on first use, so ``import webhook_kit`` stays cheap for sync users.

asyncio alone costs about as much to import as the rest of the package, and a Flask or Django
receiver never touches it: the modules that need it on their async paths hold a `LazyModule`
in its place (and the real module for type checkers).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["LazyModule"]


class LazyModule:
    """Stands for the module `name`, importing it the first time an attribute is used.

    Reads, writes and deletes all go to the real module, so a test patching one of its
    functions (``monkeypatch.setattr(lazy, "to_thread", ...)``) patches the module itself.
    """

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_module", None)

    def _load(self) -> ModuleType:
        module: ModuleType | None = self._module
        if module is None:
            module = importlib.import_module(self._name)
            object.__setattr__(self, "_module", module)
        return module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._load(), attribute)

    def __setattr__(self, attribute: str, value: Any) -> None:
        setattr(self._load(), attribute, value)

    def __delattr__(self, attribute: str) -> None:
        delattr(self._load(), attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r}, {state}>"
