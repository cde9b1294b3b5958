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
    """Stands for the module `name`, importing it the first time an attribute is read.

    Every read goes to the real module, so a test patching one of its functions is seen.
    """

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r}, {state}>"
