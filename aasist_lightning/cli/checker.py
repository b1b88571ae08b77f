"""The collector of config problems that the checks share: each problem names the key, the value and the
fix, and a check reports all of a config's problems at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from aasist_lightning.cli.errors import ConfigError
from aasist_lightning.values import is_integer


def plain(value: Any) -> Any:
    """A config node as plain Python (lists, dicts), for messages; anything else as it is."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


class Checker:
    """The problems found so far (``problems``), each ``key=value: why. Fix: fix.``"""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.arch: dict[str, Any] | None = None  # the model's architecture, once the network's checks pass it

    def add(self, key: str, value: Any, why: str, fix: str) -> None:
        """Note that ``key`` (set to ``value``) is wrong: ``why``, and how to fix it."""
        self.problems.append(f"{key}={plain(value)!r}: {why}. Fix: {fix}.")

    def int_at_least(self, key: str, value: Any, low: int, fix: str) -> bool:
        """Whether ``value`` is an integer >= ``low``; notes the problem when not."""
        if not is_integer(value) or value < low:
            self.add(key, value, f"must be an integer >= {low}", fix)
            return False
        return True


def rename_hint(name: object, choices: Iterable[str]) -> str | None:
    """``rename it (did you mean <the closest choice>?)``, or None when no choice is close to ``name``."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f"rename it (did you mean {close[0]}?)" if close else None


def config_error(title: str, problems: list[str]) -> ConfigError:
    """One error listing every problem under ``title`` (e.g. "invalid configuration")."""
    return ConfigError(f"{title}:\n  - " + "\n  - ".join(problems))


__all__ = ["Checker", "config_error", "plain", "rename_hint"]
