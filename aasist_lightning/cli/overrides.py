"""The command line's ``+key=value`` overrides of a Hydra application's top-level keys. Hydra refuses ``+``
for a key the config has, so each such key is one the application does not know: a typo (``+batch_sise=4``)
that would otherwise be accepted and ignored."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from aasist_lightning.cli.checker import rename_hint


def unknown_added_keys(cfg: DictConfig) -> list[tuple[str, str]]:
    """``(key, fix)`` for each top-level key added with ``+`` (config groups, e.g. ``+experiment=paper``, and
    nested keys aside: those are checked where they land)."""
    if not HydraConfig.initialized():
        return []
    hydra = HydraConfig.get()
    parsed = OverridesParser.create().parse_overrides(list(hydra.overrides.task))
    added = [o.key_or_group for o in parsed if o.is_add() and o.package is None]
    unknown = [k for k in added if k.isidentifier() and k not in hydra.runtime.choices]
    known = [str(k) for k in cfg if k not in unknown]
    return [
        (
            key,
            rename_hint(key, known) or "remove it",
        )
        for key in unknown
    ]


__all__ = ["unknown_added_keys"]
