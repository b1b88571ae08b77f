"""Command lines of the argparse tools (aasist-predict, -score, -export, -synth): a usage error in one short
line, numeric options checked (NaN, inf, out of range) before any work, ``--debug``, and the error boundary
of :mod:`aasist_lightning.cli.errors` (bad input: one line, exit status 2)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

from aasist_lightning.cli.errors import DEBUG_FLAG, EXIT_BAD_INPUT, full_tracebacks, report, user_errors


class ToolParser(argparse.ArgumentParser):
    """An ArgumentParser with ``--debug`` whose usage errors are one line (and a pointer to ``--help``) with
    exit status 2, instead of the whole usage text."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.add_argument(
            DEBUG_FLAG, action="store_true", help="on an error, show the full traceback instead of one line"
        )

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def number(
    kind: type[int] | type[float],
    low: float | None = None,
    high: float | None = None,
    exclusive: bool = False,
) -> Callable[[str], float]:
    """An argparse ``type``: an int or a finite float in ``[low, high]`` (``(low, high)`` when
    ``exclusive``; either bound may be None); the error names the value and the accepted range."""
    less = "<" if exclusive else "<="
    if low is not None and high is not None:
        accepted = f"{low:g} {less} value {less} {high:g}" if exclusive else f"{low:g} to {high:g}"
    elif low is not None:
        accepted = f"{'>' if exclusive else '>='} {low:g}"
    elif high is not None:
        accepted = f"{less} {high:g}"
    else:
        accepted = "a finite number"
    noun = "an integer" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun} (accepted: {accepted})") from None
        below = low is not None and (value <= low if exclusive else value < low)
        above = high is not None and (value >= high if exclusive else value > high)
        if not math.isfinite(value) or below or above:
            raise argparse.ArgumentTypeError(f"{text} is out of range (accepted: {accepted})")
        return value

    return parse


def run_tool(
    prog: str,
    args: argparse.Namespace,
    body: Callable[[argparse.Namespace], int],
    also: tuple[type[BaseException], ...] = (),
) -> int:
    """``body(args)``'s exit status; bad input (:func:`~aasist_lightning.cli.errors.user_errors`, and
    ``also``) is reported in one line with status 2, re-raised with ``--debug`` or ``HYDRA_FULL_ERROR=1``."""
    try:
        return body(args)
    except (*user_errors(), *also) as error:
        if args.debug or full_tracebacks():
            raise
        return report(prog, error)


__all__ = ["ToolParser", "number", "run_tool"]
