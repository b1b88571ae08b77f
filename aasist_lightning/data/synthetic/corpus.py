"""Writing the synthetic corpus in the ASVspoof 2019 LA layout: planning, parallel synthesis, caching, CLI."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from aasist_lightning.data.synthetic.attacks import (
    EVAL_ATTACKS,
    TRAIN_ATTACKS,
    AttackInput,
    synthesize_attack,
)
from aasist_lightning.data.synthetic.dsp import SR
from aasist_lightning.data.synthetic.speech import channel, make_plan, render, sample_speaker

log = logging.getLogger(__name__)

# Bump whenever the generated audio changes: it is part of the fingerprint and of the default folder name.
VERSION = 1
MANIFEST = "synthetic_corpus.json"
PARTIAL_MARKER = ".synthetic_partial"  # identifies a temporary folder as ours (safe to resume or delete)
SPLITS = ("train", "dev", "eval")
# split -> (utterance-id letter, protocol file suffix, first speaker number); speakers as in LA (LA_0079...).
_SPLIT_INFO = {"train": ("T", "train.trn", 79), "dev": ("D", "dev.trl", 69), "eval": ("E", "eval.trl", 1)}
_SPLIT_CODE = {"train": 1, "dev": 2, "eval": 3}
# Seed-sequence streams (the third entropy word): what a random draw is for.
_PLAN, _SPEAKER, _UTTERANCE, _ASV = 0, 1, 2, 3
_CHUNK = 8  # utterances per worker task: few enough tasks for low overhead, enough for load balance


@dataclass(frozen=True)
class Job:
    """One utterance to synthesise."""

    split: str
    index: int  # position in the split (seeds the utterance's random streams)
    utt_id: str
    speaker: int  # index into the split's speakers
    attack: str  # "-" for bona fide


def protocol_file(root: Path, split: str) -> Path:
    """The CM protocol of a split under an LA root (official file names)."""
    return root / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{_SPLIT_INFO[split][1]}.txt"


def asv_score_file(root: Path, split: str) -> Path:
    """The organisers' ASV score file of the dev or eval split under an LA root."""
    return root / "ASVspoof2019_LA_asv_scores" / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"


def flac_dir(root: Path, split: str) -> Path:
    return root / f"ASVspoof2019_LA_{split}" / "flac"


def speaker_id(split: str, index: int) -> str:
    return f"LA_{_SPLIT_INFO[split][2] + index:04d}"


class SyntheticCorpus:
    """Generator of a small ASVspoof 2019 LA-style corpus: ``SyntheticCorpus(...)(root)`` writes it there.

    Sizes are per split: bona fide utterances and utterances per attack (train/dev: A01-A06, eval: A07-A19).
    Calling it is idempotent: a complete corpus with the same settings under ``root`` is reused, one with
    other settings is an error. Generation is deterministic for a seed (byte-identical FLACs), runs on
    ``num_workers`` processes (None: every available CPU), shows a progress bar, resumes after an
    interruption and is atomic: files go to a hidden sibling folder that is renamed to ``root`` once complete.
    """

    def __init__(
        self,
        seed: int = 0,
        train_bonafide: int = 520,
        train_spoof_per_attack: int = 90,
        dev_bonafide: int = 300,
        dev_spoof_per_attack: int = 70,
        eval_bonafide: int = 400,
        eval_spoof_per_attack: int = 50,
        train_speakers: int = 12,
        dev_speakers: int = 8,
        eval_speakers: int = 16,
        min_duration: float = 1.0,
        max_duration: float = 5.0,
        num_workers: int | None = None,
        progress: bool = True,
    ) -> None:
        sizes = {
            "train_bonafide": train_bonafide,
            "train_spoof_per_attack": train_spoof_per_attack,
            "dev_bonafide": dev_bonafide,
            "dev_spoof_per_attack": dev_spoof_per_attack,
            "eval_bonafide": eval_bonafide,
            "eval_spoof_per_attack": eval_spoof_per_attack,
        }
        for key, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"data.generator.{key} must be a positive integer, got {value!r}")
        speakers = {
            "train_speakers": train_speakers,
            "dev_speakers": dev_speakers,
            "eval_speakers": eval_speakers,
        }
        for key, value in speakers.items():
            if not isinstance(value, int) or not 2 <= value <= 99:
                raise ValueError(f"data.generator.{key} must be an integer in [2, 99], got {value!r}")
        if not 0.5 <= min_duration < max_duration <= 20.0:
            raise ValueError(
                f"data.generator durations must satisfy 0.5 <= min_duration < max_duration <= 20 seconds, "
                f"got min_duration={min_duration!r}, max_duration={max_duration!r}"
            )
        if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 1):
            raise ValueError(
                f"data.generator.num_workers must be null or a positive integer, got {num_workers!r}"
            )
        self.seed = int(seed)
        self.sizes = sizes
        self.speakers = speakers
        self.min_duration = float(min_duration)
        self.max_duration = float(max_duration)
        self.num_workers = num_workers
        self.progress = progress

    # ---------------------------------------------------------------- identity
    @property
    def params(self) -> dict:
        """Everything that determines the audio and the protocols (not how fast they are written)."""
        return {
            "version": VERSION,
            "seed": self.seed,
            **self.sizes,
            **self.speakers,
            "min_duration": self.min_duration,
            "max_duration": self.max_duration,
        }

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def folder_name(self) -> str:
        """Default cache folder name: version, seed and sizes (conf/data/synthetic.yaml builds the same)."""
        s = self.sizes
        return (
            f"v{VERSION}_seed{self.seed}_train{s['train_bonafide']}-{s['train_spoof_per_attack']}"
            f"_dev{s['dev_bonafide']}-{s['dev_spoof_per_attack']}_eval{s['eval_bonafide']}-{s['eval_spoof_per_attack']}"
        )

    def __repr__(self) -> str:
        return f"SyntheticCorpus({', '.join(f'{k}={v!r}' for k, v in self.params.items() if k != 'version')})"

    # ---------------------------------------------------------------- planning
    def attacks(self, split: str) -> tuple[str, ...]:
        return EVAL_ATTACKS if split == "eval" else TRAIN_ATTACKS

    def jobs(self, split: str) -> list[Job]:
        """The split's utterances in protocol order: bona fide, then each attack (as in the LA train list)."""
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[split], _PLAN])
        n_bona = self.sizes[f"{split}_bonafide"]
        per_attack = self.sizes[f"{split}_spoof_per_attack"]
        attacks = ["-"] * n_bona + [a for a in self.attacks(split) for _ in range(per_attack)]
        n_speakers = self.speakers[f"{split}_speakers"]
        # Every speaker gets an even share of the bona fide trials and of each attack.
        speakers = np.concatenate(
            [rng.permutation(np.arange(count) % n_speakers) for count in Counter(attacks).values()]
        )
        # Random 7-digit ids, as in LA: an id says nothing about the class.
        numbers = rng.choice(9_000_000, size=len(attacks), replace=False) + 1_000_000
        letter = _SPLIT_INFO[split][0]
        return [
            Job(split, i, f"LA_{letter}_{numbers[i]}", int(speakers[i]), attack)
            for i, attack in enumerate(attacks)
        ]

    def speaker_traits(self, split: str) -> list:
        n = self.speakers[f"{split}_speakers"]
        return [
            sample_speaker(np.random.default_rng([self.seed, _SPLIT_CODE[split], _SPEAKER, i]))
            for i in range(n)
        ]

    def synthesize(self, job: Job, speakers: list) -> np.ndarray:
        """The int16 waveform of one utterance (a pure function of the settings and the job)."""
        streams = np.random.SeedSequence([self.seed, _SPLIT_CODE[job.split], _UTTERANCE, job.index]).spawn(3)
        content_rng, source_rng, channel_rng = (np.random.default_rng(s) for s in streams)
        speaker = speakers[job.speaker]
        # Log-normal durations around 2.6 s, clipped: the same distribution for every class.
        duration = float(
            np.clip(content_rng.lognormal(np.log(2.6), 0.35), self.min_duration, self.max_duration)
        )
        plan = make_plan(content_rng, speaker, duration)
        if job.attack == "-":
            dry = render(plan, speaker, source_rng).audio
        else:
            others = [i for i in range(len(speakers)) if i != job.speaker]
            donor = speakers[others[int(content_rng.integers(len(others)))]]
            dry = synthesize_attack(job.attack, AttackInput(plan, speaker, donor, source_rng))
        limit = int(self.max_duration * SR)
        return channel(dry[:limit], channel_rng)

    # ---------------------------------------------------------------- writing
    def __call__(self, root: str | os.PathLike) -> None:
        """Make sure a complete corpus with these settings exists under root (generate it if needed)."""
        root = Path(root).expanduser().absolute()
        if self._reuse(root):
            return
        root.parent.mkdir(parents=True, exist_ok=True)
        with _locked(root.parent / f".{root.name}.lock"):
            if self._reuse(root):  # another process finished it while we waited
                return
            if root.exists():
                raise FileExistsError(
                    f"{root} exists but is not a synthetic corpus (no {MANIFEST}): refusing to write into "
                    f"it. Point data.root (or --out) at a new folder, or move {root} away."
                )
            partial = root.parent / f".{root.name}.partial"
            self._generate(partial)
            os.replace(partial, root)
            (root / PARTIAL_MARKER).unlink()  # after the rename: a kill in between leaves a usable corpus
        log.info("synthetic corpus ready under %s", root)

    def _reuse(self, root: Path) -> bool:
        manifest = root / MANIFEST
        if not manifest.is_file():
            return False
        found = json.loads(manifest.read_text(encoding="utf-8"))
        if found.get("fingerprint") != self.fingerprint:
            theirs = found.get("params", {})
            diff = ", ".join(
                f"{k}: {theirs.get(k)!r} there, {v!r} asked"
                for k, v in self.params.items()
                if theirs.get(k) != v
            )
            raise ValueError(
                f"{root} holds a synthetic corpus generated with other settings ({diff}). Use another folder "
                f"for these settings (data.root=..., or --out), or delete {root} to regenerate it."
            )
        missing = [
            f"{split}/{job.utt_id}.flac"
            for split in SPLITS
            for job in self.jobs(split)
            if not (flac_dir(root, split) / f"{job.utt_id}.flac").is_file()
        ]
        if missing:
            raise FileNotFoundError(
                f"synthetic corpus {root} is damaged: {len(missing)} audio files are missing "
                f"(e.g. {missing[0]}). Delete {root} and run again to regenerate it."
            )
        log.info("reusing synthetic corpus %s (fingerprint %s)", root, self.fingerprint)
        return True

    def _generate(self, partial: Path) -> None:
        """Fill `partial` (resuming what an interrupted run left there, recognised by its marker file) and
        write the manifest last."""
        marker = partial / PARTIAL_MARKER
        if partial.exists():
            if not marker.is_file():
                raise FileExistsError(f"{partial} exists and was not made by this generator; move it away")
            if marker.read_text(encoding="utf-8") != self.fingerprint:
                shutil.rmtree(partial)  # our own leftover of an interrupted run with other settings
        partial.mkdir(parents=True, exist_ok=True)
        marker.write_text(self.fingerprint, encoding="utf-8")
        for stale in partial.glob("ASVspoof2019_LA_*/flac/*.tmp"):
            stale.unlink()  # a file being written when the previous run was killed
        todo = []
        for split in SPLITS:
            flac_dir(partial, split).mkdir(parents=True, exist_ok=True)
            todo += [
                j for j in self.jobs(split) if not (flac_dir(partial, split) / f"{j.utt_id}.flac").is_file()
            ]
        total = sum(len(self.jobs(split)) for split in SPLITS)
        log.info("generating synthetic corpus (%d utterances, %d to do) in %s", total, len(todo), partial)
        chunks = [todo[i : i + _CHUNK] for i in range(0, len(todo), _CHUNK)]
        with _progress(self.progress, total, total - len(todo)) as advance:
            for done in self._run(chunks, partial):
                advance(done)
        for split in SPLITS:
            _write_atomic(protocol_file(partial, split), self._protocol(split))
            if split != "train":
                _write_atomic(asv_score_file(partial, split), self._asv_scores(split))
        _write_atomic(partial / MANIFEST, json.dumps(self._manifest(partial), indent=2) + "\n")

    def _run(self, chunks: list[list[Job]], partial: Path) -> Iterator[int]:
        """Synthesise the chunks, in this process or a pool; yields the number of utterances finished."""
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = min(self.num_workers or available, max(1, len(chunks)))
        if workers == 1:
            for chunk in chunks:
                yield _work(self, chunk, partial)
            return
        # fork starts workers instantly (no re-import); workers exit if this process dies (see _watch_parent).
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(
            workers, context, initializer=_watch_parent, initargs=(os.getpid(),)
        ) as pool:
            pending = {pool.submit(_work, self, chunk, partial) for chunk in chunks}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield future.result()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise

    def _protocol(self, split: str) -> str:
        lines = []
        for job in self.jobs(split):
            key = "bonafide" if job.attack == "-" else "spoof"
            lines.append(f"{speaker_id(split, job.speaker)} {job.utt_id} - {job.attack} {key}\n")
        return "".join(lines)

    def _asv_scores(self, split: str) -> str:
        """Synthetic ASV scores shaped like the organisers' (target high, non-target low, spoofs in between,
        some attacks fooling the ASV more than others), so min t-DCF can be computed end to end."""
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[split], _ASV])
        n_target = self.sizes[f"{split}_bonafide"]
        per_attack = self.sizes[f"{split}_spoof_per_attack"]
        lines = [f"bonafide target {s:.5f}\n" for s in rng.normal(26.0, 14.0, n_target)]
        lines += [f"bonafide nontarget {s:.5f}\n" for s in rng.normal(-30.0, 15.0, 3 * n_target)]
        for attack in self.attacks(split):
            mean = rng.uniform(-5.0, 25.0)
            lines += [f"{attack} spoof {s:.5f}\n" for s in rng.normal(mean, 18.0, per_attack)]
        return "".join(lines)

    def _manifest(self, partial: Path) -> dict:
        counts = {
            split: dict(Counter(j.attack if j.attack != "-" else "bonafide" for j in self.jobs(split)))
            for split in SPLITS
        }
        size = sum(f.stat().st_size for f in partial.rglob("*.flac"))
        return {
            "generator": "aasist_lightning.data.synthetic",
            "fingerprint": self.fingerprint,
            "params": self.params,
            "counts": counts,
            "flac_bytes": size,
        }


def _work(corpus: SyntheticCorpus, chunk: list[Job], partial: Path) -> int:
    """Worker task: synthesise and write a chunk of utterances (each file written atomically)."""
    speakers = {split: corpus.speaker_traits(split) for split in {job.split for job in chunk}}
    for job in chunk:
        audio = corpus.synthesize(job, speakers[job.split])
        path = flac_dir(partial, job.split) / f"{job.utt_id}.flac"
        tmp = path.with_suffix(".flac.tmp")
        sf.write(tmp, audio, SR, format="FLAC", subtype="PCM_16")
        os.replace(tmp, path)
    return len(chunk)


def _watch_parent(parent: int) -> None:
    """Pool-worker initializer: exit as soon as the parent dies (a killed run must not leave orphans that
    hold the lock or keep writing)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (POSIX flock; released by the OS if the holder dies)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): generation is still atomic, only concurrent runs are unguarded
        yield
        return
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is generating this corpus; waiting for it (%s)", path)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def _progress(enabled: bool, total: int, completed: int) -> Iterator:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("synthetic corpus"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), disable=not enabled) as bar:
        task = bar.add_task("synthetic corpus", total=total, completed=completed)
        yield lambda n: bar.advance(task, n)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m aasist_lightning.data.synthetic --out DIR [--seed N] [sizes]``."""
    defaults = SyntheticCorpus()
    parser = argparse.ArgumentParser(
        prog="python -m aasist_lightning.data.synthetic",
        description="Write a synthetic ASVspoof 2019 LA-style corpus (bona fide source-filter speech and 19 "
        "vocoder-style attacks) in the official LA layout. Re-running with the same settings reuses it.",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="corpus root (the folder that will hold ASVspoof2019_LA_*); use it as data.root",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="default %(default)s")
    for key, value in {**defaults.sizes, **defaults.speakers}.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=value, help="default %(default)s")
    parser.add_argument(
        "--min-duration", type=float, default=defaults.min_duration, help="seconds, default %(default)s"
    )
    parser.add_argument(
        "--max-duration", type=float, default=defaults.max_duration, help="seconds, default %(default)s"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: every available CPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sizes = {key: getattr(args, key) for key in {**defaults.sizes, **defaults.speakers}}
    try:
        corpus = SyntheticCorpus(
            args.seed,
            **sizes,
            min_duration=args.min_duration,
            max_duration=args.max_duration,
            num_workers=args.workers,
            progress=not args.no_progress,
        )
        start_wall, start_cpu = time.perf_counter(), _cpu_seconds()
        corpus(args.out)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    manifest = json.loads((args.out / MANIFEST).read_text(encoding="utf-8"))
    print(f"corpus: {args.out.absolute()}  (fingerprint {manifest['fingerprint']})")
    for split, counts in manifest["counts"].items():
        print(f"  {split:5s} " + " ".join(f"{k}={v}" for k, v in counts.items()))
    print(
        f"  audio {manifest['flac_bytes'] / 1e6:.1f} MB; this call took "
        f"{time.perf_counter() - start_wall:.1f} s wall, {_cpu_seconds() - start_cpu:.1f} s CPU"
    )
    print(f"train on it: python train.py data=asvspoof2019_la data.root={args.out.absolute()}")
    return 0


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker pool)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
