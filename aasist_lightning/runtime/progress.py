"""Progress over a long scoring run: a rich bar on stderr, and a scorer run over a data loader's batches."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np


def progress_bar(total: int, description: str, enabled: bool = True, unit: str = "files") -> Any:
    """A rich progress bar on stderr with count, rate, elapsed time and ETA (disabled: a no-op)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        disable=not enabled,
        transient=False,
    )


def iterate_batches(
    batches: Iterable[Any],
    scorer: Callable[[Any], np.ndarray],
    total: int | None = None,
    description: str = "scoring",
    progress: bool = True,
) -> Iterator[tuple[Any, np.ndarray]]:
    """``(batch, logits)`` for each ``(waves, ...)`` batch of a data loader, with a progress bar over
    trials."""
    with progress_bar(total or 0, description, enabled=progress, unit="trials") as bar:
        task = bar.add_task(description, total=total)
        for batch in batches:
            if batch is None:  # every trial of the batch was unusable and skipped by the loader
                continue
            logits = scorer(batch[0])
            bar.advance(task, len(logits))
            yield batch, logits


__all__ = ["iterate_batches", "progress_bar"]
