"""Data: ASVspoof 2019 LA protocols and CSV manifests, balanced subsets, audio loading, augmentation and
the LightningDataModule."""

from aasist_lightning.data.audio import NB_SAMP, SAMPLE_RATE, AudioError, load_audio, pad_or_crop
from aasist_lightning.data.augment import Compose, FreqMaskWave, RandomGain, RawBoost
from aasist_lightning.data.datamodule import ASVspoofDataModule, asv_score_path, audio_dir, protocol_path
from aasist_lightning.data.dataset import (
    EpochSampler,
    TrialDataset,
    UnpaddedDistributedSampler,
    collate_trials,
)
from aasist_lightning.data.protocols import (
    BONAFIDE,
    SPOOF,
    ProtocolError,
    Trial,
    read_manifest,
    read_protocol,
)
from aasist_lightning.data.subset import balanced_subset

__all__ = [
    "BONAFIDE",
    "NB_SAMP",
    "SAMPLE_RATE",
    "SPOOF",
    "ASVspoofDataModule",
    "AudioError",
    "Compose",
    "EpochSampler",
    "FreqMaskWave",
    "ProtocolError",
    "RandomGain",
    "RawBoost",
    "Trial",
    "TrialDataset",
    "UnpaddedDistributedSampler",
    "asv_score_path",
    "audio_dir",
    "balanced_subset",
    "collate_trials",
    "load_audio",
    "pad_or_crop",
    "protocol_path",
    "read_manifest",
    "read_protocol",
]
