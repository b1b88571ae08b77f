"""The AASIST network, its official architectures and its official weights."""

from aasist_lightning.models.aasist import AASIST, HyperParameterError, check_hparams
from aasist_lightning.models.archs import ARCH_KEYS, OFFICIAL_ARCHS
from aasist_lightning.models.weights import (
    OFFICIAL_WEIGHTS,
    WeightsError,
    WeightsNotFoundError,
    cache_dir,
    load_official_weights,
    resolve_weights,
    weights_locations,
)

__all__ = [
    "AASIST",
    "ARCH_KEYS",
    "OFFICIAL_ARCHS",
    "OFFICIAL_WEIGHTS",
    "HyperParameterError",
    "WeightsError",
    "WeightsNotFoundError",
    "cache_dir",
    "check_hparams",
    "load_official_weights",
    "resolve_weights",
    "weights_locations",
]
