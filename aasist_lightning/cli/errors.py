"""The entry points' error boundary: bad input ends with one or two lines (what, where, the fix) and exit
status 2; a traceback only when asked for (``--debug`` or ``HYDRA_FULL_ERROR=1``). Anything else is a bug and
keeps its traceback (exit status 1).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Exit status of a run stopped by bad input (argparse's own status for a usage error).
EXIT_BAD_INPUT = 2
DEBUG_FLAG = "--debug"
_HINT = f"(run with {DEBUG_FLAG} or HYDRA_FULL_ERROR=1 for the full traceback)"


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean bad input: their messages name the file / key / value and the fix.
    OSError covers a missing, unreadable or full destination (its message names the file)."""
    from aasist_lightning.cli.config_checks import ConfigError
    from aasist_lightning.data.audio import AudioError
    from aasist_lightning.data.protocols import ProtocolError
    from aasist_lightning.files import OutputPathError
    from aasist_lightning.metrics.io import ScoreFileError
    from aasist_lightning.models.aasist import HyperParameterError
    from aasist_lightning.models.weights import WeightsError
    from aasist_lightning.runtime.options import InferenceError

    return (
        ConfigError,
        AudioError,
        ProtocolError,
        OutputPathError,
        ScoreFileError,
        HyperParameterError,
        WeightsError,
        InferenceError,
        OSError,
    )


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
    return str(error)


def report(prog: str, error: BaseException) -> int:
    """Print ``prog: error: <message>`` (and the debug hint) on stderr; returns :data:`EXIT_BAD_INPUT`."""
    print(f"{prog}: error: {describe(error)}\n{_HINT}", file=sys.stderr)
    return EXIT_BAD_INPUT


@contextmanager
def bad_input_exits(prog: str) -> Iterator[None]:
    """Turn a :func:`user_errors` exception into the one-line report and ``SystemExit(2)`` (unless tracebacks
    were asked for)."""
    try:
        yield
    except user_errors() as error:
        if full_tracebacks():
            raise
        raise SystemExit(report(prog, error)) from None


def hydra_app(prog: str, config_name: str, task: Callable[[Any], float | None]) -> None:
    """Run ``task`` as a Hydra application on the packaged configs with the error boundary. Hydra reports a
    bad override or config itself (one short message, exit 1 there): it is bad input, so exit 2 here. In a
    multirun a job's bad input is re-raised for Hydra to record it as that job's failure."""
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from aasist_lightning import config_dir

    sys.argv = take_debug_flag(sys.argv)
    entered = False

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=config_name)
    def _run(cfg: Any) -> float | None:
        nonlocal entered
        entered = True
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            return task(cfg)
        with bad_input_exits(prog):
            return task(cfg)

    try:
        _run()
    except SystemExit as stop:
        if stop.code == 1 and not entered:  # Hydra's own report of a bad override / config group
            raise SystemExit(EXIT_BAD_INPUT) from None
        raise
