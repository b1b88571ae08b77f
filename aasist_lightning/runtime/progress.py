"""A scorer run over a data loader's batches, with the package's progress bar."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from aasist_lightning.console import progress_bar


def iterate_batches(
    batches: Iterable[Any],
    scorer: Callable[[Any], np.ndarray],
    total: int | None = None,
    description: str = "scoring",
    progress: bool = True,
) -> Iterator[tuple[Any, np.ndarray]]:
    """``(batch, logits)`` for each ``(waves, ...)`` batch of a data loader, with a progress bar over
    trials."""
    with progress_bar(enabled=progress, unit="trials") as bar:
        task = bar.add_task(description, total=total)
        for batch in batches:
            if batch is None:  # every trial of the batch was unusable and skipped by the loader
                continue
            logits = scorer(batch[0])
            bar.advance(task, len(logits))
            yield batch, logits


__all__ = ["iterate_batches"]
