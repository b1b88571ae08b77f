"""Old module paths of version 0.1, kept working with a DeprecationWarning: ``import aasist_lightning.score``,
``from aasist_lightning.attention import explain`` and ``python -m aasist_lightning.score`` reach the module's
new home (see CHANGELOG.md), and so do moved package attributes
(``aasist_lightning.data.ASVspoofDataModule``). Remove in 0.3."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import CodeType, ModuleType

#: Old module path -> new module path.
MOVED = {
    "aasist_lightning.accel": "aasist_lightning.runtime.fast",
    "aasist_lightning.allocator": "aasist_lightning.runtime.allocator",
    "aasist_lightning.attention": "aasist_lightning.runtime.attention",
    "aasist_lightning.callbacks": "aasist_lightning.lit.callbacks",
    "aasist_lightning.data.datamodule": "aasist_lightning.lit.datamodule",
    "aasist_lightning.evaluate": "aasist_lightning.cli.evaluate",
    "aasist_lightning.export": "aasist_lightning.cli.export",
    "aasist_lightning.inference": "aasist_lightning.runtime.scorer",
    "aasist_lightning.lit_module": "aasist_lightning.lit.module",
    "aasist_lightning.plots": "aasist_lightning.metrics.plots",
    "aasist_lightning.predict": "aasist_lightning.cli.predict",
    "aasist_lightning.score": "aasist_lightning.cli.score",
    "aasist_lightning.train": "aasist_lightning.cli.train",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads it as the module at its new path (the same module object)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; the old path will be removed in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The new module is already executed."""

    def get_code(self, fullname: str) -> CodeType | None:
        """For ``python -m <old path>``: the new module's code (a command: the notice is shown)."""
        new = MOVED[fullname]
        warnings.warn(f"python -m {fullname} is now python -m {new}", FutureWarning, stacklevel=2)
        spec = importlib.util.find_spec(new)
        loader = spec.loader if spec is not None else None
        return loader.get_code(new) if isinstance(loader, importlib.abc.InspectLoader) else None


#: Old package attribute -> the module that holds it now (a package's ``__getattr__`` asks
#: :func:`moved_name`).
MOVED_NAMES = {
    "aasist_lightning.data.ASVspoofDataModule": "aasist_lightning.lit.datamodule",
}


def moved_name(package: str, name: str) -> object | None:
    """``package.name`` from its new module, with the DeprecationWarning, or None when it never moved."""
    new = MOVED_NAMES.get(f"{package}.{name}")
    if new is None:
        return None
    warnings.warn(
        f"{package}.{name} moved to {new}.{name}; the old name will be removed in 0.3",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(new), name)


def install() -> None:
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
