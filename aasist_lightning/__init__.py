"""aasist-lightning: AASIST audio anti-spoofing with PyTorch Lightning and Hydra."""

from pathlib import Path

from aasist_lightning import _moved

__version__ = "0.1.0"

_moved.install()  # the module paths of 0.1 keep working, with a DeprecationWarning


def config_dir() -> Path:
    """The Hydra config folder: inside the package for a wheel install, the repository's conf/ otherwise."""
    packaged = Path(__file__).resolve().parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "conf"
