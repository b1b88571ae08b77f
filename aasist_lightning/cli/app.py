"""The Hydra applications (``aasist-train``, ``aasist-eval``) inside the error boundary: a single run that
bad input stops ends in one line, exit status 2, and leaves no empty run folder; a multirun's failed job is a
row of the sweep's report (its error.txt), and the sweep's exit status says whether every failure was bad
input. Hydra's report of an override naming a key the config lacks becomes one line with the closest key."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from aasist_lightning.cli.checker import rename_hint
from aasist_lightning.cli.errors import (
    EXIT_BAD_INPUT,
    JOB_ERROR_FILE,
    ConfigError,
    bad_input_exits,
    ddp_rank,
    describe,
    full_tracebacks,
    interrupt_exits,
    is_bad_input,
    peer_gone,
    peer_message,
    recorded_bad_input,
    report,
    take_debug_flag,
    tell_rank_zero,
    write_job_error,
)

log = logging.getLogger(__name__)


def unknown_key_message(error: BaseException | None) -> str | None:
    """One line for Hydra's failure to override a key the config lacks (a typo: Hydra's own report suggests
    adding it with ``+``): the key, the closest existing key, and how to add a new one; None for other
    errors."""
    if not isinstance(error, ConfigCompositionException):
        return None
    cause = error.__cause__
    lines = str(error).splitlines()
    if not (
        isinstance(cause, ConfigAttributeError | ConfigKeyError)
        and isinstance(cause.parent_node, DictConfig)
        and len(lines) == 2
        and lines[0].startswith("Could not override '")
        and lines[1].startswith("To append to your config use +")
    ):
        return None
    asked = lines[0].removeprefix("Could not override '").removesuffix("'.")
    missing = str(cause.full_key)
    add = f"add a new key with {lines[1].removeprefix('To append to your config use ')}"
    hint = rename_hint(cause.key, [str(key) for key in cause.parent_node])  # among the missing key's siblings
    fix = f"{hint}, or {add}" if hint else add
    which = "" if missing == asked else f" (it has no {missing})"
    return f"{asked}: no such key in the config{which}. Fix: {fix} (--cfg job prints the config)"


class _HydraReportFilter:
    """``sys.stderr`` while Hydra composes the config: Hydra's report of an unknown key (written while it
    handles the error) is kept back, and :func:`unknown_key_message`'s line is printed instead."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.message: str | None = None

    def write(self, text: str) -> int:
        message = unknown_key_message(sys.exc_info()[1])
        if message is None:
            return self.stream.write(text)
        self.message = message
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _restore_stderr() -> None:
    """Give ``sys.stderr`` back (once the task runs, or at the end). A function of the module, not of the
    filter: the task closure must not hold the stream (the submitit launchers pickle it)."""
    if isinstance(sys.stderr, _HydraReportFilter):
        sys.stderr = sys.stderr.stream


def drop_unused_run_folder(folder: Path) -> None:
    """Remove a run folder that holds only what Hydra writes at the start (``.hydra/`` and empty logs): bad
    input stopped the run before it wrote anything, and a typo should leave no empty run folder. A folder
    holding anything else (an earlier run's files, a log with lines) is kept."""
    hydra_dir = folder / ".hydra"
    try:
        entries = list(folder.iterdir())
        logs = [p for p in entries if p.suffix == ".log" and p.is_file() and p.stat().st_size == 0]
        hydra_files = list(hydra_dir.iterdir()) if hydra_dir.is_dir() else []
        if set(entries) - {hydra_dir, *logs} or not all(p.is_file() for p in hydra_files):
            return
        for path in [*hydra_files, *logs]:
            path.unlink()
        if hydra_dir.is_dir():
            hydra_dir.rmdir()
        folder.rmdir()
    except OSError:  # another process (a DDP peer) removed it first, or it cannot be removed: keep it
        return


@dataclass
class _Failures:
    """The failed jobs of a multirun: (job folder, whether it failed on bad input)."""

    jobs: list[tuple[str, bool]] = field(default_factory=list)

    def exit_status(self) -> int:
        """2 when every failure was bad input, else 1 (a bug in some job)."""
        return EXIT_BAD_INPUT if all(bad for _, bad in self.jobs) else 1

    def read_records(self, since: float) -> None:
        """The failures recorded in the job folders (error.txt written after ``since``) of the multirun that
        just ended: jobs that ran in other processes (the submitit launchers), which this one never saw."""
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        config = HydraConfig.instance().cfg
        if self.jobs or config is None or config.hydra.mode != RunMode.MULTIRUN:
            return
        for record in sorted(Path(config.hydra.sweep.dir).glob(f"*/{JOB_ERROR_FILE}")):
            if record.stat().st_mtime < since:  # an earlier sweep's
                continue
            bad_input = recorded_bad_input(record.parent)  # failed or interrupted (a SLURM time limit)
            if bad_input is not None:
                self.jobs.append((str(record.parent), bad_input))


def _multirun_job(
    prog: str, task: Callable[[Any], float | None], cfg: Any, failures: _Failures
) -> float | None:
    """One job of a multirun: an exception is recorded in the job's error.txt and logged, and the job returns
    None, so the sweep goes on to its other jobs and the report (Hydra's basic sweeper would stop at the first
    failure and skip the callbacks' on_multirun_end). Ctrl-C is recorded too, then stops the sweep."""
    from hydra.core.hydra_config import HydraConfig

    job_dir = HydraConfig.get().runtime.output_dir
    try:
        return task(cfg)
    except Exception as error:
        rank = ddp_rank()
        if rank:  # another process of a DDP job (e.g. a SLURM task): rank 0 records why the job stopped
            log.error("%s: DDP process %d of job %s stopped: %s", prog, rank, job_dir, describe(error))
            tell_rank_zero(rank, error)
            return None
        if rank == 0 and peer_gone(error):
            message = peer_message()
            error = ConfigError(message) if message is not None else error
        if full_tracebacks():
            log.exception("%s: job %s failed", prog, job_dir)
        else:
            log.error("%s: job %s failed: %s", prog, job_dir, describe(error))
        write_job_error(job_dir, "failed", error)
        failures.jobs.append((job_dir, is_bad_input(error)))
        return None
    except (KeyboardInterrupt, SystemExit) as stop:
        write_job_error(job_dir, "interrupted", stop)
        raise


def hydra_app(prog: str, config_name: str, task: Callable[[Any], float | None]) -> None:
    """Run ``task`` as a Hydra application on the packaged configs with the error boundary. Hydra reports a
    bad override or config itself (one short message, exit 1 there): it is bad input, so exit 2 here. In a
    multirun a failed job is a row of the sweep's report, not the end of the sweep (:func:`_multirun_job`);
    the multirun then exits with status 2 (every failure bad input) or 1, naming the failed jobs."""
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from aasist_lightning import config_dir

    sys.argv = take_debug_flag(sys.argv)
    entered = False
    failures = _Failures()
    started = time.time()
    hydra_report = _HydraReportFilter(sys.stderr)

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=config_name)
    def _run(cfg: Any) -> float | None:
        nonlocal entered
        entered = True
        _restore_stderr()
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            return _multirun_job(prog, task, cfg, failures)
        try:
            with bad_input_exits(prog):
                return task(cfg)
        except SystemExit as stop:
            if stop.code == EXIT_BAD_INPUT:
                drop_unused_run_folder(Path(HydraConfig.get().runtime.output_dir))
            raise

    sys.stderr = hydra_report
    try:
        with interrupt_exits(prog):  # a multirun's job (recorded in its error.txt) or Hydra's own work
            _run()
    except SystemExit as stop:
        _restore_stderr()
        if stop.code == 1 and not entered:  # Hydra's own report of a bad override / config group
            if hydra_report.message is not None:
                report(prog, ConfigError(hydra_report.message))
            raise SystemExit(EXIT_BAD_INPUT) from None
        raise
    finally:
        _restore_stderr()
    failures.read_records(since=started)
    if failures.jobs:
        names = ", ".join(Path(d).name for d, _ in failures.jobs)
        print(
            f"{prog}: error: {len(failures.jobs)} job(s) of the multirun failed (jobs: {names}); "
            f"see {JOB_ERROR_FILE} in their folders and the sweep's report.md",
            file=sys.stderr,
        )
        raise SystemExit(failures.exit_status())


__all__ = ["drop_unused_run_folder", "hydra_app", "unknown_key_message"]
