"""The one progress bar of the package: rich, on stderr, with count, elapsed time and ETA."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress


def progress_bar(enabled: bool = True, unit: str = "files") -> Progress:
    """A progress bar (``with progress_bar() as bar: task = bar.add_task(name, total=n)``); disabled, it
    shows nothing. rich is imported here, when a bar is made, not with the module."""
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


__all__ = ["progress_bar"]
