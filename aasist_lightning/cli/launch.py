"""Console scripts of the commands that train or score: each first starts again under mimalloc
(:func:`aasist_lightning.runtime.allocator.relaunch_under_mimalloc`), before torch is imported.

The applications themselves (``cli.train.main`` ...) stay importable and callable in process, as the tests do.
"""

from __future__ import annotations

from aasist_lightning.runtime.allocator import relaunch_under_mimalloc


def train() -> None:
    """``aasist-train`` and ``python train.py``."""
    relaunch_under_mimalloc()
    from aasist_lightning.cli.train import main

    main()


def evaluate() -> None:
    """``aasist-eval`` and ``python eval.py``."""
    relaunch_under_mimalloc()
    from aasist_lightning.cli.evaluate import main

    main()


def predict() -> int:
    """``aasist-predict``."""
    relaunch_under_mimalloc()
    from aasist_lightning.cli.predict import main

    return main()
