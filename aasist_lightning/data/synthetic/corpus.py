"""Writing the synthetic corpus in the ASVspoof 2019 LA layout: planning, synthesis, caching and resuming.

The command line (``aasist-synth``) is :mod:`aasist_lightning.cli.synth`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from aasist_lightning.data.protocols import SPLITS, asv_score_path, audio_dir, protocol_path
from aasist_lightning.data.synthetic.attacks import (
    EVAL_ATTACKS,
    TRAIN_ATTACKS,
    AttackInput,
    synthesize_attack,
)
from aasist_lightning.data.synthetic.dsp import SR
from aasist_lightning.data.synthetic.parallel import locked, progress, run_tasks
from aasist_lightning.data.synthetic.speech import channel, make_plan, render, sample_speaker
from aasist_lightning.files import (
    OutputPathError,
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    folder_problem,
    same_path,
)

log = logging.getLogger(__name__)

# Bump whenever the generated audio changes: it is part of the fingerprint and of the default folder name.
VERSION = 1
MANIFEST = "synthetic_corpus.json"
PARTIAL_MARKER = ".synthetic_partial"  # identifies a temporary folder as ours (safe to resume or delete)
# split -> (utterance-id letter, first speaker number); speakers as in LA (LA_0079...).
_SPLIT_INFO = {"train": ("T", 79), "dev": ("D", 69), "eval": ("E", 1)}
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


def speaker_id(split: str, index: int) -> str:
    """The protocol's speaker id of a split's speaker ``index`` (disjoint across splits)."""
    return f"LA_{_SPLIT_INFO[split][1] + index:04d}"


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
        """Make sure a complete corpus with these settings exists under root (generate it if needed): a new
        folder, or an empty one, that replaces it once complete (:func:`check_target`)."""
        root = Path(root).expanduser().absolute()
        if self._reuse(root):
            return
        try:
            check_target(root)  # before anything is made (the lock file, the parent folders)
        except (OSError, ValueError):
            if self._reuse(root):  # another process published it in the meantime
                return
            raise
        root.parent.mkdir(parents=True, exist_ok=True)
        # Serialises generations of one root (deleted when released): a second waits, then reuses the corpus.
        with locked(root.parent / f".{root.name}.lock"):
            if self._reuse(root):  # another process finished it while we waited
                return
            check_target(root)
            partial = partial_folder(root)
            self._generate(partial)
            _publish(partial, root)
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
            if not (audio_dir(root, split) / f"{job.utt_id}.flac").is_file()
        ]
        if missing:
            raise FileNotFoundError(
                f"synthetic corpus {root} is damaged: {_count(len(missing), 'audio file')} "
                f"{'is' if len(missing) == 1 else 'are'} missing "
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
            stale.unlink()  # a file being written when the previous run was killed (atomic_path's temp)
        todo = []
        for split in SPLITS:
            audio_dir(partial, split).mkdir(parents=True, exist_ok=True)
            todo += [
                j for j in self.jobs(split) if not (audio_dir(partial, split) / f"{j.utt_id}.flac").is_file()
            ]
        total = sum(len(self.jobs(split)) for split in SPLITS)
        log.info("generating synthetic corpus (%d utterances, %d to do) in %s", total, len(todo), partial)
        chunks = [todo[i : i + _CHUNK] for i in range(0, len(todo), _CHUNK)]
        with progress(self.progress, total, total - len(todo)) as advance:
            for done in run_tasks(_work, [(self, chunk, partial) for chunk in chunks], self.num_workers):
                advance(done)
        for split in SPLITS:
            atomic_write_text(protocol_path(partial, split), self._protocol(split))
            if split != "train":
                atomic_write_text(asv_score_path(partial, split), self._asv_scores(split))
        atomic_write_json(partial / MANIFEST, self._manifest(partial))

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


def partial_folder(root: Path) -> Path:
    """The hidden sibling folder a corpus for ``root`` is written to (kept by an interrupted run, resumed by
    the next one)."""
    return root.parent / f".{root.name}.partial"


def check_target(root: Path, name: str | None = None) -> None:
    """Raise unless a corpus can be generated as ``root`` (absolute): a new folder, or an empty one that the
    finished corpus replaces, neither of them a link nor the current folder, in a folder that can be written
    (a read-only one never is, even by root). The message names ``name`` (default: ``root``) and the fix."""
    name = name or str(root)
    fix = f"Point data.root (or --out) at a new or empty folder, or move {root} away."
    if root.is_symlink():
        raise FileExistsError(f"{name} is a symbolic link (to {os.readlink(root)}), not a corpus: {fix}")
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{name} is a file, not a corpus folder: {fix}")
    if root.is_dir() and any(root.iterdir()):
        raise FileExistsError(
            f"{name} exists but is not a synthetic corpus (no {MANIFEST}): refusing to write into it. {fix}"
        )
    if root.is_dir() and same_path(root, Path.cwd()):  # replacing it would leave the shell in a deleted one
        raise FileExistsError(
            f"{name} is the current folder: give a new folder inside it (e.g. {root / 'LA'})"
        )
    problem = folder_problem(root.parent) or (folder_problem(root) if root.is_dir() else None)
    if problem:
        raise OutputPathError(f"{name}: {problem}. Fix: choose another folder (or make it writable first)")


def _publish(partial: Path, root: Path) -> None:
    """Rename the finished ``partial`` folder to ``root`` (a new name or an empty folder), then drop the
    marker: a kill in between leaves a usable corpus."""
    try:
        os.replace(partial, root)
    except OSError as error:
        if not (root.is_dir() and not root.is_symlink() and not any(root.iterdir())):
            raise FileExistsError(
                f"cannot put the finished corpus in place of {root} ({error.strerror}); it is complete in "
                f"{partial}: move {root} away and run again to use it"
            ) from error
        root.rmdir()  # an empty folder that cannot be renamed over (Windows)
        os.replace(partial, root)
    (root / PARTIAL_MARKER).unlink()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _work(corpus: SyntheticCorpus, chunk: list[Job], partial: Path) -> int:
    """Worker task: synthesise and write a chunk of utterances (each file written atomically)."""
    speakers = {split: corpus.speaker_traits(split) for split in {job.split for job in chunk}}
    for job in chunk:
        audio = corpus.synthesize(job, speakers[job.split])
        path = audio_dir(partial, job.split) / f"{job.utt_id}.flac"
        with atomic_path(path) as tmp:
            sf.write(tmp, audio, SR, format="FLAC", subtype="PCM_16")
    return len(chunk)
