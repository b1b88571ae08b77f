"""``ASVspoofDataModule``: the ASVspoof 2019 LA corpus (official layout) or CSV manifests -> batches.

Everything is validated in ``setup()`` before training starts; nothing in the corpus folder is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader

from aasist_lightning.data.audio import NB_SAMP, SAMPLE_RATE
from aasist_lightning.data.augment import Augmentation
from aasist_lightning.data.dataset import (
    BAD_AUDIO_POLICIES,
    EpochSampler,
    TrialDataset,
    UnpaddedDistributedSampler,
    collate_trials,
)
from aasist_lightning.data.protocols import (
    BONAFIDE,
    SPLITS,
    ProtocolError,
    Trial,
    asv_score_path,
    audio_dir,
    protocol_path,
    read_manifest,
    read_protocol,
)
from aasist_lightning.data.subset import balanced_subset
from aasist_lightning.files import atomic_write_text

log = logging.getLogger(__name__)

_SPLIT_ALIASES = {
    "train": "train",
    "dev": "dev",
    "val": "dev",
    "validate": "dev",
    "eval": "eval",
    "test": "eval",
}
_STAGE_SPLITS = {
    "fit": ("train", "dev"),
    "validate": ("dev",),
    "test": ("eval",),
    "predict": ("eval",),
    None: SPLITS,
}
MAX_DEFAULT_WORKERS = 16
_SHOW_MISSING = 5

LAYOUT = """\
  <root>/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
  <root>/ASVspoof2019_LA_{train,dev,eval}/flac/<utt_id>.flac
  <root>/ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt  (for min t-DCF)
(the LA/ folder of the official LA.zip, https://doi.org/10.7488/ds/2555; pass data.root=/path/to/LA),
or use your own audio with data=manifest (CSV files 'path,label[,attack][,speaker]')."""


class ASVspoofDataModule(L.LightningDataModule):
    """Train / dev / eval data from an ASVspoof 2019 LA ``root`` and/or CSV manifests.

    A split's manifest, when given, replaces the protocol of that split in ``root`` (so one can, e.g.,
    fine-tune on custom audio and test on the official eval set). ``train_subset`` / ``dev_subset`` /
    ``eval_subset``: balanced subset sizes (see :mod:`aasist_lightning.data.subset`), ``None`` = full split.
    ``augment``: an instantiated ``aug(x, rng)`` callable or ``None`` (training only). ``generator``:
    called as ``generator(root)`` in ``prepare_data`` when the corpus under ``root`` is missing or
    incomplete, and only when ``generate`` (set by the synthetic data group alone: a user's root is never
    created or filled, and a missing one stops the run). ``num_workers=None``: the CPUs available to this
    process divided by the devices on this node (at most 16). Train batches: ``(wave (B, nb_samp) float32,
    label (B,) int64)``; val / test / predict batches add ``utt_ids`` and ``attacks`` lists.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        train_manifest: str | Path | None = None,
        dev_manifest: str | Path | None = None,
        eval_manifest: str | Path | None = None,
        train_subset: int | None = 1000,
        dev_subset: int | None = None,
        eval_subset: int | None = None,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int | None = None,
        nb_samp: int = NB_SAMP,
        augment: Augmentation | None = None,
        seed: int = 0,
        on_bad_audio: str = "error",
        generator: Callable[[Path], None] | None = None,
        generate: bool = False,
        output_dir: str | Path | None = None,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        super().__init__()
        self.root = Path(root).expanduser() if root is not None else None
        self.manifests = {
            split: Path(m).expanduser()
            for split, m in zip(SPLITS, (train_manifest, dev_manifest, eval_manifest), strict=True)
            if m is not None
        }
        if self.root is None and not self.manifests:
            raise ValueError(
                "no data given: set data.root=/path/to/LA (the official ASVspoof 2019 LA layout) or "
                "data.train_manifest / data.dev_manifest / data.eval_manifest "
                "(CSV 'path,label[,attack][,speaker]')"
            )
        if generate and generator is not None and self.root is None:
            raise ValueError("data.generator needs data.root: the folder the corpus is generated into")
        if on_bad_audio not in BAD_AUDIO_POLICIES:
            raise ValueError(f"data.on_bad_audio={on_bad_audio!r} must be one of {BAD_AUDIO_POLICIES}")
        if augment is not None and not callable(augment):
            raise TypeError(
                "data.augment must be an instantiated augmentation aug(x, rng) or null, "
                f"got {type(augment).__name__}"
            )
        for key, value in (
            ("batch_size", batch_size),
            ("eval_batch_size", eval_batch_size),
            ("nb_samp", nb_samp),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"data.{key}={value!r} must be a positive integer")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"data.seed={seed!r} must be a non-negative integer")
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"data.num_workers={num_workers} must be >= 0 or null (auto)")
        self.subset_sizes = {"train": train_subset, "dev": dev_subset, "eval": eval_subset}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.nb_samp = nb_samp
        self.augment = augment
        self.seed = seed
        self.on_bad_audio = on_bad_audio
        self.generator = generator if generate else None
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.sample_rate = sample_rate
        self.trials: dict[str, list[Trial]] = {}  # per split, after setup(): what the loaders serve
        self.datasets: dict[str, TrialDataset] = {}
        self.subset_ids: list[str] = []

    # ---------------------------------------------------------------- corpus discovery and validation
    def _source(self, split: str) -> Path | None:
        """The manifest or protocol file ``split`` comes from (None when the split is not configured)."""
        if split in self.manifests:
            return self.manifests[split]
        return protocol_path(self.root, split) if self.root is not None else None

    def _check_root(self, split: str) -> None:
        assert self.root is not None
        if not self.root.is_dir():
            fix = 'data.root=/path/to/LA (the LA/ folder of the official LA.zip; see the README\'s "Data")'
            if self.root.parent.is_dir() and (self.root.parent / "LA").is_dir() and self.root.name != "LA":
                fix = f"did you mean data.root={self.root.parent / 'LA'}?"
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise FileNotFoundError(
                f"data.root={self.root} {what}: nothing is generated there. Fix: {fix}, or data=synthetic "
                "for the generated corpus"
            )
        proto = protocol_path(self.root, split)
        if not proto.is_file():
            hint = f" (did you mean data.root={self.root / 'LA'}?)" if (self.root / "LA").is_dir() else ""
            raise FileNotFoundError(
                f"protocol {proto} not found: {self.root} is not the ASVspoof 2019 LA folder{hint}. "
                f"Expected:\n{LAYOUT}"
            )

    def _read_split(self, split: str) -> list[Trial]:
        if split in self.manifests:
            return read_manifest(self.manifests[split])
        if self.root is None:
            raise ValueError(
                f"no {split} data: set data.{split}_manifest=<csv> (or data.root for the LA corpus)"
            )
        self._check_root(split)
        return read_protocol(protocol_path(self.root, split), audio_dir(self.root, split))

    def _check_classes(self, split: str, trials: list[Trial]) -> None:
        """Training needs both classes (validation and test report an EER without one)."""
        bonafide = sum(t.label == BONAFIDE for t in trials)
        if split == "train" and (bonafide == 0 or bonafide == len(trials)):
            raise ProtocolError(
                f"{self._source(split)}: the train split has {bonafide} bona fide and "
                f"{len(trials) - bonafide} spoof trials; training needs both. Fix: list trials of both "
                "classes (label bonafide / spoof)"
            )

    def _drop_missing(self, split: str, trials: list[Trial]) -> list[Trial]:
        missing = [t for t in trials if not t.path.is_file()]
        if not missing:
            return trials
        shown = "\n  ".join(str(t.path) for t in missing[:_SHOW_MISSING])
        more = f"\n  ... and {len(missing) - _SHOW_MISSING} more" if len(missing) > _SHOW_MISSING else ""
        msg = (
            f"{len(missing)} of {len(trials)} audio files listed in {self._source(split)} are missing:"
            f"\n  {shown}{more}"
        )
        if self.on_bad_audio == "error":
            raise FileNotFoundError(f"{msg}\nRestore them, or set data.on_bad_audio=skip to leave them out.")
        log.warning("%s\nLeaving them out (data.on_bad_audio=skip).", msg)
        missing_ids = {t.utt_id for t in missing}
        return [t for t in trials if t.utt_id not in missing_ids]

    def _corpus_complete(self) -> bool:
        assert self.root is not None
        for split in SPLITS:
            if split in self.manifests:
                continue
            proto = protocol_path(self.root, split)
            if not proto.is_file():
                return False
            if not all(t.path.is_file() for t in read_protocol(proto, audio_dir(self.root, split))):
                return False
        return True

    # ---------------------------------------------------------------- Lightning hooks
    def prepare_data(self) -> None:
        """Generate the corpus with ``generator`` when it is missing or incomplete (local rank 0 only)."""
        if self.generator is not None and not self._corpus_complete():
            log.info("corpus under %s missing or incomplete: generating it", self.root)
            self.generator(self.root)

    def setup(self, stage: str | None = None) -> None:
        """Read, check and subset the splits ``stage`` needs ('fit': train + dev when configured;
        'validate': dev; 'test' / 'predict': eval; None: every configured split)."""
        if stage not in _STAGE_SPLITS:
            raise ValueError(f"unknown stage {stage!r}; expected one of {list(_STAGE_SPLITS)}")
        splits = _STAGE_SPLITS[stage]
        if stage is None:
            splits = tuple(s for s in SPLITS if self._source(s) is not None)
        elif stage == "fit" and self._source("dev") is None:
            splits = ("train",)  # validation is optional; without dev data val_dataloader() says what to set
        for split in splits:
            if split in self.trials:
                continue
            trials = self._drop_missing(split, self._read_split(split))
            self._check_classes(split, trials)
            try:
                chosen = balanced_subset(
                    trials, self.subset_sizes[split], self.seed, name=f"data.{split}_subset"
                )
            except ProtocolError as err:
                raise ProtocolError(f"{self._source(split)}: {err}") from None
            self.trials[split] = chosen
            self.datasets[split] = TrialDataset(
                chosen,
                nb_samp=self.nb_samp,
                train=split == "train",
                augment=self.augment if split == "train" else None,
                seed=self.seed,
                on_bad_audio=self.on_bad_audio,
                sample_rate=self.sample_rate,
            )
            if split == "train":
                self.subset_ids = [t.utt_id for t in chosen]
            if self.output_dir is not None and (split == "train" or self.subset_sizes[split] is not None):
                ids = "".join(f"{t.utt_id}\n" for t in chosen)
                atomic_write_text(self.output_dir / f"{split}_subset.txt", ids)
            log.info("%s: %d trials from %s", split, len(chosen), self._source(split))

    # ---------------------------------------------------------------- loaders
    def _world(self) -> tuple[int, int]:
        if self.trainer is not None:
            return self.trainer.world_size, self.trainer.global_rank
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def _workers(self) -> int:
        if self.num_workers is not None:
            return self.num_workers
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        devices = self.trainer.num_devices if self.trainer is not None else 1
        return max(1, min(MAX_DEFAULT_WORKERS, cpus // max(1, devices)))

    def _pin_memory(self) -> bool:
        if self.trainer is not None:
            return isinstance(self.trainer.accelerator, CUDAAccelerator)
        return torch.cuda.is_available()

    def _dataset(self, split: str) -> TrialDataset:
        if split not in self.datasets:
            self.setup({"train": "fit", "dev": "validate", "eval": "test"}[split])
        return self.datasets[split]

    def _loader(self, split: str, persistent: bool) -> DataLoader:
        ds = self._dataset(split)
        world, rank = self._world()
        workers = self._workers()
        if split == "train":
            sampler = EpochSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=self.seed)
            batch_size = self.batch_size
            # The official loader drops the last partial batch; keep at least one batch on tiny sets.
            drop_last = len(sampler) >= batch_size
        else:
            sampler = UnpaddedDistributedSampler(ds, num_replicas=world, rank=rank)
            batch_size, drop_last = self.eval_batch_size, False
        return DataLoader(
            ds,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=collate_trials,
            num_workers=workers,
            pin_memory=self._pin_memory(),
            persistent_workers=persistent and workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", persistent=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("dev", persistent=True)

    def test_dataloader(self) -> DataLoader:
        return self._loader("eval", persistent=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("eval", persistent=False)

    # ---------------------------------------------------------------- extras
    def asv_scores_path(self, split: str) -> Path | None:
        """The organisers' ASV score file for 'dev' / 'eval' (aliases 'val' / 'test') when it exists."""
        split = _SPLIT_ALIASES.get(split, split)
        if split not in ("dev", "eval"):
            raise ValueError(f"ASV scores exist for 'dev' and 'eval' only, not {split!r}")
        if self.root is None or split in self.manifests:
            return None
        path = asv_score_path(self.root, split)
        return path if path.is_file() else None

    @property
    def num_skipped(self) -> int:
        """Unusable audio files skipped so far (``on_bad_audio="skip"``), all splits and workers."""
        return sum(ds.num_skipped for ds in self.datasets.values())
