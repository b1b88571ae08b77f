"""How the corpus generator runs: a process pool whose workers die with their parent, an inter-process lock
and a progress bar. Nothing here knows what is generated."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from aasist_lightning.console import progress_bar

log = logging.getLogger(__name__)


def run_tasks(
    work: Callable[..., int], tasks: list[tuple[Any, ...]], num_workers: int | None
) -> Iterator[int]:
    """Run ``work(*task)`` for every task, in this process or a pool of ``num_workers`` processes (None: every
    available CPU), in any order; yields what each call returns (the number of items it finished)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(num_workers or available, max(1, len(tasks)))
    if workers == 1:
        for task in tasks:
            yield work(*task)
        return
    # fork starts workers instantly (no re-import); workers exit if this process dies (see _watch_parent).
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(workers, context, initializer=_watch_parent, initargs=(os.getpid(),)) as pool:
        pending = {pool.submit(work, *task) for task in tasks}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _watch_parent(parent: int) -> None:
    """Pool-worker initializer: exit as soon as the parent dies (a killed run must not leave orphans that
    hold the lock or keep writing)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock on the file ``path`` (POSIX flock; released by the OS if the holder dies).

    The file is there only while the lock is held or waited for: the holder deletes it before releasing the
    lock, and a waiter that then gets the lock on the deleted file tries again on the one at ``path`` now
    (made by the next caller), so two callers never hold it at once. A killed holder leaves the file (empty,
    harmless: the next caller takes the lock and deletes it)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): generation is still atomic, only concurrent runs are unguarded
        yield
        return
    while True:
        f = path.open("a")
        try:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("another process is generating this corpus; waiting for it (%s)", path)
                fcntl.flock(f, fcntl.LOCK_EX)
            if _is_at(f.fileno(), path):
                break
        except BaseException:
            f.close()
            raise
        f.close()  # its holder deleted it while we waited: lock the file at path now
    try:
        yield
    finally:
        try:
            path.unlink(missing_ok=True)  # while still held: nobody else can hold it now
        finally:
            f.close()  # releases the lock


def _is_at(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is the file at ``path`` (not one deleted since it was opened)."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    there = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextlib.contextmanager
def progress(enabled: bool, total: int, completed: int) -> Iterator[Callable[[int], None]]:
    """The package's progress bar on stderr (disabled: invisible); yields ``advance(n)``."""
    with progress_bar(enabled=enabled) as bar:
        task = bar.add_task("synthetic corpus", total=total, completed=completed)
        yield lambda n: bar.advance(task, n)
