"""In-process Hydra runs configure the root logger for their job (console + <task>.log handlers), and Optuna
gives its own logger a handler on the stream that is stderr at the time; tests that run an entry point
in-process undo that afterwards, so later tests do not log into a closed stream."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

#: The root logger and the libraries' own (Optuna's, whose handler binds the stderr of its first use).
GUARDED = ("", "optuna")


@contextmanager
def root_logging_restored() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in GUARDED]
    saved = [(logger.level, logger.handlers[:]) for logger in loggers]
    try:
        yield
    finally:
        for logger, (level, handlers) in zip(loggers, saved, strict=True):
            for handler in logger.handlers[:]:
                if handler not in handlers:
                    logger.removeHandler(handler)
                    handler.close()
            logger.handlers[:] = handlers
            logger.setLevel(level)
