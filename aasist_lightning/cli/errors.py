"""The entry points' error boundary: bad input ends with one or two lines (what, where, the fix) and exit
status 2; a traceback only when asked for (``--debug`` or ``HYDRA_FULL_ERROR=1``). Anything else is a bug and
keeps its traceback (exit status 1).
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

#: Exit status of a run stopped by bad input (argparse's own status for a usage error).
EXIT_BAD_INPUT = 2
DEBUG_FLAG = "--debug"
_HINT = f"(run with {DEBUG_FLAG} or HYDRA_FULL_ERROR=1 for the full traceback)"


class ConfigError(ValueError):
    """An invalid configuration value (``cli.config_checks``). The message names the key, the value and the
    fix."""


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean bad input: their messages name the file / key / value and the fix.
    OSError covers a missing, unreadable or full destination (its message names the file)."""
    from aasist_lightning.data.audio import AudioError
    from aasist_lightning.data.protocols import ProtocolError
    from aasist_lightning.files import OutputPathError
    from aasist_lightning.metrics.io import ScoreFileError
    from aasist_lightning.runtime.options import InferenceError

    errors: tuple[type[BaseException], ...] = (
        ConfigError,
        AudioError,
        ProtocolError,
        OutputPathError,
        ScoreFileError,
        InferenceError,
        OSError,
    )
    # Only code that imported the network (and torch) raises these: aasist-predict --onnx imports neither.
    if "aasist_lightning.models" in sys.modules:
        from aasist_lightning.models.aasist import HyperParameterError
        from aasist_lightning.models.weights import WeightsError

        errors += (HyperParameterError, WeightsError)
    if "aasist_lightning.lit" in sys.modules:
        from aasist_lightning.lit.module import TrainingDivergedError

        errors += (TrainingDivergedError,)
    return errors


def _argument_error(error: BaseException) -> BaseException | None:
    """The ValueError / TypeError behind Hydra's "Error in call to target" wrapper: a class rejected the
    configured arguments (a nonsense value, an unknown key added with ``+``). Other causes are bugs."""
    from hydra.errors import InstantiationException

    cause = error.__cause__
    rejections: tuple[type[BaseException], ...] = (ValueError, TypeError)
    lightning_errors = sys.modules.get("lightning.fabric.utilities.exceptions")
    if lightning_errors is not None:  # the Trainer's and its callbacks' own checks (trainer.devices=0)
        rejections += (lightning_errors.MisconfigurationException,)
    if isinstance(error, InstantiationException) and isinstance(cause, rejections):
        return cause
    return None


def is_bad_input(error: BaseException) -> bool:
    """Whether ``error`` means bad input (exit status 2, one line): a :func:`user_errors` type, or a
    configured class that rejected its arguments."""
    return isinstance(error, user_errors()) or _argument_error(error) is not None


def full_tracebacks() -> bool:
    """Whether the user asked for tracebacks: ``--debug`` (taken off the command line by the entry point) or
    ``HYDRA_FULL_ERROR=1``."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def take_debug_flag(argv: list[str]) -> list[str]:
    """``argv`` without ``--debug``; when it was there, tracebacks are shown (``HYDRA_FULL_ERROR=1``)."""
    if DEBUG_FLAG in argv:
        os.environ["HYDRA_FULL_ERROR"] = "1"
    return [a for a in argv if a != DEBUG_FLAG]


def describe(error: BaseException) -> str:
    """An error's own message; an OSError as ``<file>: <reason>`` (its str() starts with the errno)."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    cause = _argument_error(error)
    if cause is not None:  # name the config node instead of Hydra's multi-line wrapper
        where = re.search(r"full_key: (\S+)", str(error)) or re.search(r"target '([^']+)'", str(error))
        fix = f"Fix: check the {where.group(1)}.* values" if where else "Fix: check the configured values"
        return f"{where.group(1) + ': ' if where else ''}{str(cause).rstrip('.')}. {fix}"
    return str(error)


def report(prog: str, error: BaseException) -> int:
    """Print ``prog: error: <message>`` (and the debug hint) on stderr; returns :data:`EXIT_BAD_INPUT`.
    A DDP process other than rank 0 says which it is: every process prints on the same terminal."""
    rank = ddp_rank()
    where = f" (DDP process {rank})" if rank else ""
    print(f"{prog}: error{where}: {describe(error)}\n{_HINT}", file=sys.stderr)
    return EXIT_BAD_INPUT


# --------------------------------------------------------------------------------------- DDP processes
# A DDP process that stops on bad input (an unreadable clip in its shard, its loss diverging) prints its own
# error, and the others, waiting for it in a collective, fail on the closed connection: a backend traceback
# that would bury that error. Rank 0 (the process the user started) reports it in one line instead, exit
# status 2 when the peer's stop was bad input (it leaves its message in the process group's store).
_PEER_BAD_INPUT_KEY = "aasist_lightning/peer_bad_input"
_PEER_GONE = re.compile(r"(closed|reset) by peer|broken pipe", re.IGNORECASE)


def ddp_rank() -> int | None:
    """This process's rank in an initialised process group of two or more, else None."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized() or dist.get_world_size() < 2:
        return None
    return int(dist.get_rank())


def _peer_store() -> Any:
    from torch.distributed import distributed_c10d

    return distributed_c10d._get_default_store()  # private API: every caller falls back without it


def tell_rank_zero(rank: int | None, error: BaseException) -> None:
    """On a DDP process other than rank 0, leave its bad-input message for rank 0. Best effort: rank 0 may be
    gone already (it has reported its own error then), and without the message it reports a failure."""
    if not rank or not is_bad_input(error):
        return
    message = f"DDP process {rank} stopped the run on bad input: {describe(error)}"
    with suppress(Exception):
        _peer_store().set(_PEER_BAD_INPUT_KEY, message)


def peer_gone(error: BaseException) -> bool:
    """Whether ``error`` is gloo's report of a DDP peer process that stopped (the connection closed)."""
    return isinstance(error, RuntimeError) and _PEER_GONE.search(str(error)) is not None


def peer_message() -> str | None:
    """The bad-input message another DDP process left (:func:`tell_rank_zero`), or None. Waits a moment:
    its connection can close before the store has taken the message."""
    try:
        store = _peer_store()
        store.wait([_PEER_BAD_INPUT_KEY], timedelta(seconds=2))
        return str(store.get(_PEER_BAD_INPUT_KEY).decode())
    except Exception:  # none left, or no store to read: the stop is reported without its cause
        return None


def _peer_stop_exit(prog: str, rank: int) -> int:
    """Report, on rank 0 only, that another process stopped the run; the exit status its stop calls for."""
    if rank != 0:
        return 1  # rank 0 stopped first and reported why
    message = peer_message()
    if message is not None:
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{prog}: error: another DDP process of this run failed; its error is above", file=sys.stderr)
    return 1


#: Exit status after Ctrl-C (128 + SIGINT) and SIGTERM (128 + SIGTERM), as shells report them.
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
_WORKER_TERMINATED = re.compile(r"DataLoader worker \(pid[^)]*\) is killed by signal: Terminated")


def _terminated(error: BaseException) -> bool:
    """Whether ``error`` is how a training stops on SIGTERM: Lightning's SIGTERMException (a SystemExit with
    status 0, which would tell a scheduler the run succeeded), or the DataLoader's report of its workers
    killed by the same signal (a whole process group terminated)."""
    exceptions = sys.modules.get("lightning.pytorch.utilities.exceptions")
    if exceptions is not None and isinstance(error, exceptions.SIGTERMException):
        return True
    return isinstance(error, RuntimeError) and _WORKER_TERMINATED.search(str(error)) is not None


@contextmanager
def interrupt_exits(prog: str) -> Iterator[None]:
    """Ctrl-C and SIGTERM: one line and ``SystemExit(130 / 143)`` instead of a traceback or a silent status 0
    (unless tracebacks were asked for)."""
    try:
        yield
    except KeyboardInterrupt:
        if full_tracebacks():
            raise
        print(f"{prog}: interrupted (Ctrl-C)", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BaseException as error:
        if not _terminated(error) or full_tracebacks():
            raise
        print(f"{prog}: terminated (SIGTERM)", file=sys.stderr)
        raise SystemExit(EXIT_TERMINATED) from None


@contextmanager
def bad_input_exits(prog: str) -> Iterator[None]:
    """Turn a :func:`user_errors` exception into the one-line report and ``SystemExit(2)``, and Ctrl-C into
    one line (:func:`interrupt_exits`), unless tracebacks were asked for."""
    try:
        with interrupt_exits(prog):
            yield
    except Exception as error:
        if full_tracebacks():
            raise
        rank = ddp_rank()
        if is_bad_input(error):
            tell_rank_zero(rank, error)
            raise SystemExit(report(prog, error)) from None
        if rank is not None and peer_gone(error):
            raise SystemExit(_peer_stop_exit(prog, rank)) from None
        raise


#: A failed or interrupted multirun job's record in its folder: status, the one-line error, whether it was
#: bad input, the traceback.
JOB_ERROR_FILE = "error.txt"
_BAD_INPUT_MARK = "bad input"


def write_job_error(job_dir: str | os.PathLike[str], status: str, error: BaseException) -> Path:
    """Record why a multirun job stopped (``status`` 'failed' or 'interrupted') in ``<job_dir>/error.txt``."""
    from aasist_lightning.files import atomic_write_text

    message = " ".join(describe(error).split())
    line = f"{type(error).__name__}: {message}" if message else type(error).__name__
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    verdict = _BAD_INPUT_MARK if is_bad_input(error) else ""
    return atomic_write_text(Path(job_dir) / JOB_ERROR_FILE, f"{status}\n{line}\n{verdict}\n\n{trace}")


def _record_lines(job_dir: str | os.PathLike[str]) -> list[str] | None:
    try:
        return (Path(job_dir) / JOB_ERROR_FILE).read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return None


def recorded_bad_input(job_dir: str | os.PathLike[str]) -> bool | None:
    """Whether the job's record says it stopped on bad input; None when the job left no record."""
    lines = _record_lines(job_dir)
    return None if lines is None else len(lines) > 2 and lines[2].strip() == _BAD_INPUT_MARK


def read_job_error(job_dir: str | os.PathLike[str]) -> tuple[str, str] | None:
    """(status, one-line error) of :func:`write_job_error`, or None when the job left no record."""
    lines = _record_lines(job_dir)
    if lines is None:
        return None
    return lines[0].strip() or "failed", lines[1].strip() if len(lines) > 1 else ""
