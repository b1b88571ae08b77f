"""Torch datasets, collate function and samplers for ASVspoof-style trials.

Training reproducibility: the training sampler yields ``(index, epoch)`` pairs and the dataset seeds a
fresh ``numpy.random.Generator`` from ``(seed, epoch, index)`` for the random crop and the augmentation,
so a run gives the same batches whatever the number of workers, and every sample and epoch differs.
"""

from __future__ import annotations

import logging
import math
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
#: How an evaluation trial becomes the network's input: ``head`` = the official first ``nb_samp`` samples,
#: repeat-padded; ``full`` = the whole clip; ``windows`` = the whole clip, cut into windows by the scorer.
CROPS = ("head", "full", "windows")
#: In ``full`` mode a clip longer than ``nb_samp`` is repeat-padded up to the next multiple of this many
#: samples (0.5 s at 16 kHz), so that clips of similar length share a batch and an input shape.
FULL_STEP = 8000


def full_length(n: int, nb_samp: int) -> int:
    """The input length of a clip of ``n`` samples in ``full`` mode: ``nb_samp`` for a clip of at most
    ``nb_samp`` samples (repeat-padded, as ``head``), else ``n`` rounded up to a multiple of
    :data:`FULL_STEP`."""
    return nb_samp if n <= nb_samp else math.ceil(n / FULL_STEP) * FULL_STEP


class TrialDataset(Dataset):
    """Fixed-length waveforms for a list of trials.

    Items: ``(wave float32 (nb_samp,), label int)`` when ``train`` (random crop + ``augment``), else
    ``(wave, label, utt_id, attack)``: the head crop (``crop="head"``, no augmentation) or, for
    ``crop="full"`` / ``"windows"``, the whole clip as a NumPy array (see :func:`collate_clips`). With
    ``on_bad_audio="skip"`` an unusable file yields ``None`` (dropped by the collate functions), is counted
    in ``num_skipped`` across worker processes and logged with its path.
    """

    def __init__(
        self,
        trials: Sequence[Trial],
        nb_samp: int = NB_SAMP,
        train: bool = False,
        augment: Augmentation | None = None,
        seed: int = 0,
        on_bad_audio: str = "error",
        crop: str = "head",
    ) -> None:
        if on_bad_audio not in BAD_AUDIO_POLICIES:
            raise ValueError(f"data.on_bad_audio={on_bad_audio!r} must be one of {BAD_AUDIO_POLICIES}")
        if crop not in CROPS or (train and crop != "head"):
            raise ValueError(f"crop={crop!r} must be one of {CROPS} (training: head)")
        self.trials = list(trials)
        self.nb_samp = nb_samp
        self.train = train
        self.augment = augment
        self.seed = seed
        self.on_bad_audio = on_bad_audio
        self.crop = crop
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
            x = load_audio(trial.path, SAMPLE_RATE, "error" if self._skipped is None else "warn")
        except AudioError as e:
            if self._skipped is None:
                raise
            with self._skipped.get_lock():
                self._skipped.value += 1
                total = self._skipped.value
            log.warning("skipping %s (%d unusable file(s) skipped so far): %s", trial.utt_id, total, e)
            return None
        if self.crop != "head":
            return x, trial.label, trial.utt_id, trial.attack
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


def collate_clips(items: list[tuple | None]) -> tuple | None:
    """Whole clips of any length: ``(list of waves, labels (B,) int64, utt ids, attacks)``; skipped (None)
    items are dropped, a batch with nothing left is ``None``."""
    items = [it for it in items if it is not None]
    if not items:
        return None
    labels = torch.tensor([it[1] for it in items], dtype=torch.int64)
    return [it[0] for it in items], labels, [it[2] for it in items], [it[3] for it in items]


class LengthBatchSampler:
    """Batches of indices in order of ``keys`` (a clip's cost: input length, window count), a new batch at
    every change of key, each holding at most ``budget // key`` clips (at least one): clips of one length are
    scored together, short ones never wait for long ones, and a batch of long clips takes no more memory than
    one of short clips."""

    def __init__(self, keys: Sequence[int], budget: int) -> None:
        order = sorted(range(len(keys)), key=lambda i: (keys[i], i))
        self.batches: list[list[int]] = []
        for i in order:
            last = self.batches[-1] if self.batches else None
            if last is None or keys[last[0]] != keys[i] or len(last) >= max(1, budget // max(1, keys[i])):
                self.batches.append([i])
            else:
                last.append(i)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


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
