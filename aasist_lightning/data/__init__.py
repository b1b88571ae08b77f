"""Data: ASVspoof 2019 LA protocols and CSV manifests, the standard corpora's readers, balanced subsets, audio
loading and augmentation (the LightningDataModule that wires them is `aasist_lightning.lit.datamodule`).

Exports load lazily (PEP 562), so `aasist_lightning.data.audio` (used by `aasist-predict --onnx`) does not
import torch or Lightning."""

from importlib import import_module
from typing import Any

from aasist_lightning import _moved

_EXPORTS = {
    "audio": ["NB_SAMP", "SAMPLE_RATE", "AudioError", "load_audio", "pad_or_crop"],
    "augment": ["Compose", "FreqMaskWave", "RandomGain", "RawBoost"],
    "dataset": ["EpochSampler", "TrialDataset", "UnpaddedDistributedSampler", "collate_trials"],
    "protocols": [
        "BONAFIDE",
        "SPOOF",
        "ProtocolError",
        "Trial",
        "asv_score_path",
        "audio_dir",
        "protocol_path",
        "read_manifest",
        "read_protocol",
    ],
    "subset": ["balanced_subset"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        moved = _moved.moved_name(__name__, name)  # e.g. ASVspoofDataModule, now in the Lightning glue
        if moved is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return moved
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
