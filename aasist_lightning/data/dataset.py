"""Torch datasets, collate function and samplers for ASVspoof-style trials.

Training reproducibility: the training sampler yields ``(index, epoch)`` pairs and the dataset seeds a
fresh ``numpy.random.Generator`` from ``(seed, epoch, index)`` for the random crop and the augmentation,
so a run gives the same batches whatever the number of workers, and every sample and epoch differs.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

from aasist_lightning.data.audio import NB_SAMP, SAMPLE_RATE, AudioError, load_audio, pad_or_crop
from aasist_lightning.data.augment import Augmentation
from aasist_lightning.data.protocols import Trial

log = logging.getLogger(__name__)

BAD_AUDIO_POLICIES = ("error", "skip")


class TrialDataset(Dataset):
    """Fixed-length waveforms for a list of trials.

    Items: ``(wave float32 (nb_samp,), label int)`` when ``train`` (random crop + ``augment``), else
    ``(wave, label, utt_id, attack)`` (head crop, no augmentation). With ``on_bad_audio="skip"`` an
    unusable file yields ``None`` (dropped by :func:`collate_trials`), is counted in ``num_skipped``
    across worker processes and logged with its path.
    """

    def __init__(
        self,
        trials: Sequence[Trial],
        nb_samp: int = NB_SAMP,
        train: bool = False,
        augment: Augmentation | None = None,
        seed: int = 0,
        on_bad_audio: str = "error",
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        if on_bad_audio not in BAD_AUDIO_POLICIES:
            raise ValueError(f"data.on_bad_audio={on_bad_audio!r} must be one of {BAD_AUDIO_POLICIES}")
        self.trials = list(trials)
        self.nb_samp = nb_samp
        self.train = train
        self.augment = augment
        self.seed = seed
        self.on_bad_audio = on_bad_audio
        self.sample_rate = sample_rate
        # Shared with the worker processes (inherited at their start) so the total is known in the main one.
        self._skipped = multiprocessing.Value("i", 0) if on_bad_audio == "skip" else None

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def num_skipped(self) -> int:
        """Unusable files skipped so far (all workers together)."""
        return 0 if self._skipped is None else int(self._skipped.value)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple | None:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        trial = self.trials[index]
        try:
            # A damaged (truncated / implausibly short) file: refused under "error", used with a warning under
            # "skip" (it still holds audio).
            x = load_audio(trial.path, self.sample_rate, "error" if self._skipped is None else "warn")
        except AudioError as e:
            if self._skipped is None:
                raise
            with self._skipped.get_lock():
                self._skipped.value += 1
                total = self._skipped.value
            log.warning("skipping %s (%d unusable file(s) skipped so far): %s", trial.utt_id, total, e)
            return None
        if not self.train:
            wave = pad_or_crop(x, self.nb_samp)
            return torch.from_numpy(np.array(wave, dtype=np.float32)), trial.label, trial.utt_id, trial.attack
        rng = np.random.default_rng([self.seed, epoch, index])
        wave = pad_or_crop(x, self.nb_samp, random=True, rng=rng)
        if self.augment is not None:
            wave = self.augment(wave, rng)
            if wave.shape != (self.nb_samp,):
                raise ValueError(
                    f"augmentation {self.augment!r} returned shape {wave.shape}, expected ({self.nb_samp},)"
                )
        return torch.from_numpy(np.array(wave, dtype=np.float32)), trial.label


def collate_trials(items: list[tuple | None]) -> tuple | None:
    """Stack waves and labels (int64); utt ids and attacks stay lists. Skipped (None) items are dropped;
    a batch with nothing left is ``None`` (the training step should then return ``None``)."""
    items = [it for it in items if it is not None]
    if not items:
        return None
    waves = torch.stack([it[0] for it in items])
    labels = torch.tensor([it[1] for it in items], dtype=torch.int64)
    if len(items[0]) == 2:
        return waves, labels
    return waves, labels, [it[2] for it in items], [it[3] for it in items]


class EpochSampler(DistributedSampler):
    """Shuffling sampler (a ``DistributedSampler``, so Lightning keeps it and calls ``set_epoch``) that
    yields ``(index, epoch)``. Under DDP each rank gets its shard; like ``DistributedSampler`` it repeats
    up to ``num_replicas - 1`` samples so every rank has the same number of steps."""

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((i, epoch) for i in super().__iter__())


class UnpaddedDistributedSampler(DistributedSampler):
    """In-order shard ``rank::num_replicas`` without padding, for validation / test / predict: every trial is
    scored exactly once across ranks (the default ``DistributedSampler`` repeats some to even out the
    ranks, which would bias the EER). Ranks may differ by one batch, which is harmless without gradients."""

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))
