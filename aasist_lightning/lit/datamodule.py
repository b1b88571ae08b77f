"""``ASVspoofDataModule``: the ASVspoof 2019 LA corpus (official layout), the other standard corpora
(:mod:`aasist_lightning.data.corpora`) or CSV manifests -> batches.

Everything is validated in ``setup()`` before training starts; nothing in the corpus folder is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import lightning as L
import soundfile as sf
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader

from aasist_lightning.data.audio import NB_SAMP, SAMPLE_RATE
from aasist_lightning.data.augment import Augmentation
from aasist_lightning.data.corpora import (
    CORPUS_SPLITS,
    READERS,
    SUBSET_NAMES_2021,
    SUBSETS_2021,
    corpus_source,
)
from aasist_lightning.data.dataset import (
    BAD_AUDIO_POLICIES,
    CROPS,
    EpochSampler,
    LengthBatchSampler,
    TrialDataset,
    UnpaddedDistributedSampler,
    collate_clips,
    collate_trials,
    full_length,
)
from aasist_lightning.data.protocols import (
    SPLITS,
    ProtocolError,
    Trial,
    audio_dir,
    protocol_path,
    read_manifest,
    read_protocol,
)
from aasist_lightning.data.sources import (
    check_classes,
    check_headers,
    check_root,
    drop_missing,
    read_corpus,
    tandem_asv,
)
from aasist_lightning.data.subset import balanced_subset
from aasist_lightning.files import atomic_write_text
from aasist_lightning.metrics.tdcf import TandemASV
from aasist_lightning.values import is_integer

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
#: The corpus read by ``asvspoof2019_la``'s own protocol code; the others by :data:`corpora.READERS`.
LA2019 = "asvspoof2019_la"
CORPORA = (LA2019, *READERS)


class ASVspoofDataModule(L.LightningDataModule):
    """Train / dev / eval data from a corpus ``root`` and/or CSV manifests.

    ``corpus``: the layout of ``root`` (one of :data:`CORPORA`; default ASVspoof 2019 LA). Evaluation-only
    corpora (ASVspoof 2021 LA / DF, In-the-Wild, folder) have an eval split only; ASVspoof 5 has train, dev
    and eval. ``subsets``: the ASVspoof 2021 subsets read as its eval split (``eval``, ``progress``,
    ``hidden_track``; None = all). The per-trial conditions a corpus records (codec, channel, vocoder, source,
    ...) are in ``conditions[split][utt_id]`` after ``setup()``.

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
        corpus: str = LA2019,
        subsets: list[str] | None = None,
    ) -> None:
        super().__init__()
        if corpus not in CORPORA:
            raise ValueError(f"data.corpus={corpus!r} must be one of {', '.join(CORPORA)}")
        if subsets is not None and (
            not corpus.startswith("asvspoof2021")
            or not subsets
            or any(s not in SUBSET_NAMES_2021 for s in subsets)
        ):
            raise ValueError(
                f"data.subsets={subsets!r}: ASVspoof 2021 subsets are a non-empty list of "
                f"{', '.join(SUBSETS_2021)} (or null for all), for data.corpus=asvspoof2021_la / _df only"
            )
        if generate and generator is not None and corpus != LA2019:
            raise ValueError(f"data.generate: only the ASVspoof 2019 LA layout is generated, not {corpus}")
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
        positive = {"batch_size": batch_size, "eval_batch_size": eval_batch_size, "nb_samp": nb_samp}
        for key, value in positive.items():
            if value is not None and not (is_integer(value) and value >= 1):
                raise ValueError(f"data.{key}={value!r} must be a positive integer")
        if not (is_integer(seed) and seed >= 0):
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
        self.corpus = corpus
        self.subsets = subsets
        self._lengths: dict[Path, int] = {}  # header reads, shared by scoring_loader and audio_seconds
        self.trials: dict[str, list[Trial]] = {}  # per split, after setup(): what the loaders serve
        self.conditions: dict[str, dict[str, dict[str, str]]] = {}  # per split: utt_id -> {codec: ...}
        self.datasets: dict[str, TrialDataset] = {}
        self.subset_ids: list[str] = []

    # ---------------------------------------------------------------- corpus discovery and validation
    def _source(self, split: str) -> Path | None:
        """The manifest or protocol file ``split`` comes from (None when the split is not configured)."""
        if split in self.manifests:
            return self.manifests[split]
        if self.root is None:
            return None
        if self.corpus == LA2019:
            return protocol_path(self.root, split)
        return corpus_source(self.corpus, self.root, split) if split in CORPUS_SPLITS[self.corpus] else None

    def _read_split(self, split: str) -> list[Trial]:
        if split in self.manifests:
            return read_manifest(self.manifests[split])
        if self.root is None:
            raise ValueError(
                f"no {split} data: set data.{split}_manifest=<csv> (or data.root for the LA corpus)"
            )
        if self.corpus != LA2019:
            read = read_corpus(self.corpus, self.root, split, self.subsets)
            self.conditions[split] = read.conditions
            return read.trials
        check_root(self.root, split)
        return read_protocol(protocol_path(self.root, split), audio_dir(self.root, split))

    def _corpus_complete(self) -> bool:
        assert self.root is not None and self.corpus == LA2019
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
            trials = drop_missing(self._read_split(split), self._source(split), self.on_bad_audio)
            check_classes(split, trials, self._source(split))
            try:
                chosen = balanced_subset(
                    trials, self.subset_sizes[split], self.seed, name=f"data.{split}_subset"
                )
            except ProtocolError as err:
                raise ProtocolError(f"{self._source(split)}: {err}") from None
            if self.on_bad_audio == "error" and self._world()[1] == 0:  # skip: left out when read
                check_headers(chosen, self._source(split))
            self.trials[split] = chosen
            self.datasets[split] = TrialDataset(
                chosen,
                nb_samp=self.nb_samp,
                train=split == "train",
                augment=self.augment if split == "train" else None,
                seed=self.seed,
                on_bad_audio=self.on_bad_audio,
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

    def scoring_loader(self, split: str, crop: str = "head", hop: int | None = None) -> DataLoader:
        """Every trial of ``split`` ('dev' / 'eval') once, for scoring in one process. ``crop="head"``: the
        test / val loader (fixed-length batches). ``"full"`` / ``"windows"``: whole clips
        (:func:`collate_clips`), batched by input length (``full``) or window count (``windows``, windows of
        ``nb_samp`` every ``hop`` samples) so that short clips never wait for long ones; a batch holds as many
        samples (``full``) or windows (``windows``) as a head-crop batch of ``eval_batch_size`` trials."""
        if crop not in CROPS:
            raise ValueError(f"crop={crop!r} must be one of {', '.join(CROPS)}")
        if crop == "head":
            return self._loader(split, persistent=False)
        ds = self._dataset(split)
        clips = TrialDataset(
            ds.trials,
            nb_samp=self.nb_samp,
            on_bad_audio=self.on_bad_audio,
            crop=crop,
        )
        lengths = [self._length(t.path) for t in ds.trials]
        # Batches as large as a head-crop batch: eval_batch_size x nb_samp samples, or that many windows.
        if crop == "full":
            keys = [full_length(n, self.nb_samp) for n in lengths]
            budget = self.eval_batch_size * self.nb_samp
        else:
            step = hop or self.nb_samp
            keys = [1 + max(0, -(-(n - self.nb_samp) // step)) for n in lengths]
            budget = self.eval_batch_size
        workers = self._workers()
        return DataLoader(
            clips,
            batch_sampler=LengthBatchSampler(keys, budget),
            collate_fn=collate_clips,
            num_workers=workers,
        )

    def audio_seconds(self, split: str) -> float:
        """The duration of ``split``'s clips together, from their headers (for throughput in audio s/s)."""
        return sum(self._length(t.path) for t in self._dataset(split).trials) / SAMPLE_RATE

    def _length(self, path: Path) -> int:
        """A clip's length in samples at 16 kHz, from its header (0 when unreadable: the loader
        then reports or skips it)."""
        if path not in self._lengths:
            try:
                info = sf.info(str(path))
                self._lengths[path] = round(info.frames * SAMPLE_RATE / info.samplerate)
            except (sf.SoundFileError, RuntimeError, OSError):
                self._lengths[path] = 0
        return self._lengths[path]

    # ---------------------------------------------------------------- extras
    def asv_scores(self, split: str) -> TandemASV | None:
        """The organisers' ASV scores of 'dev' / 'eval' (aliases 'val' / 'test') and their t-DCF, where the
        corpus ships them (ASVspoof 2019 LA; ASVspoof 2021 LA's keys): what min t-DCF needs."""
        split = _SPLIT_ALIASES.get(split, split)
        if split not in ("dev", "eval"):
            raise ValueError(f"ASV scores exist for 'dev' and 'eval' only, not {split!r}")
        if self.root is None or split in self.manifests:
            return None
        return tandem_asv(self.corpus, self.root, split, self.subsets)

    @property
    def num_skipped(self) -> int:
        """Unusable audio files skipped so far (``on_bad_audio="skip"``), all splits and workers."""
        return sum(ds.num_skipped for ds in self.datasets.values())
