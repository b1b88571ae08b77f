"""The AASIST network and its official weights."""

from aasist_lightning.models.aasist import AASIST
from aasist_lightning.models.weights import (
    ARCH_KEYS,
    OFFICIAL_ARCHS,
    OFFICIAL_WEIGHTS,
    WeightsError,
    WeightsNotFoundError,
    cache_dir,
    load_official_weights,
    resolve_weights,
)

__all__ = [
    "AASIST",
    "ARCH_KEYS",
    "OFFICIAL_ARCHS",
    "OFFICIAL_WEIGHTS",
    "WeightsError",
    "WeightsNotFoundError",
    "cache_dir",
    "load_official_weights",
    "resolve_weights",
]
