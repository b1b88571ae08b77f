"""Scoring audio files of any length and format (``aasist-predict``, the notebooks): finding them in folders,
loading them on worker threads ahead of the model, batching the windows of consecutive files together, and
one :class:`FileScore` (or :class:`FileError`) per file, in order. How a clip becomes windows and one score:
:mod:`aasist_lightning.runtime.scorer`."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aasist_lightning.data.audio import SAMPLE_RATE, load_audio
from aasist_lightning.runtime.options import AGGREGATES, InferenceError
from aasist_lightning.runtime.scorer import Scorer, aggregate, score_and_prob, windows

#: Extensions scanned for in folders (files named explicitly are always tried).
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aiff",
        ".aif",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
    }
    | {".rf64", ".sd2", ".voc", ".wv", ".mat", ".nist", ".sph", ".htk", ".xi", ".ircam", ".sf", ".pvf"}
)


def find_audio(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files named in ``inputs`` plus every audio file (by extension) below the folders named, recursively,
    in a stable order, each once. Raises FileNotFoundError for an input that does not exist."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found.extend(sorted(_audio_below(path)))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"input {path} does not exist (give audio files or folders)")
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _audio_below(folder: Path) -> list[Path]:
    """The audio files below ``folder``; a sub-folder that cannot be listed is an error naming it (its files
    would otherwise be missing from the results without a word)."""

    def unlisted(error: OSError) -> None:
        raise OSError(
            f"cannot list folder {error.filename} below {folder} ({error.strerror}): its audio would be left "
            "out. Fix: make it readable, or give the other folders / files as inputs"
        )

    return [
        Path(top) / name
        for top, _, files in os.walk(folder, onerror=unlisted)
        for name in files
        if Path(name).suffix.lower() in AUDIO_EXTENSIONS and (Path(top) / name).is_file()
    ]


@dataclass
class FileScore:
    """The result of one audio file: aggregated logits, score, probability, duration and window count."""

    path: Path
    logits: np.ndarray
    score: float
    prob_bonafide: float
    duration_s: float
    n_windows: int
    window_scores: list[float]


@dataclass
class FileError:
    """A file that could not be scored, with the reason (the loader's message names the file)."""

    path: Path
    error: str


def _load(path: Path, nb_samp: int, hop: int | None, mode: str) -> tuple[np.ndarray, float]:
    x = load_audio(path, SAMPLE_RATE)
    return windows(x, nb_samp, hop, mode), x.shape[0] / SAMPLE_RATE


def score_files(
    paths: Sequence[Path],
    scorer: Scorer,
    hop: int | None = None,
    mode: str = "windows",
    how: str = "mean",
    workers: int | None = None,
) -> Iterator[FileScore | FileError]:
    """Score audio files, in order: loading (and resampling) runs on ``workers`` threads ahead of the model,
    and windows of consecutive files share batches. Unreadable files yield a :class:`FileError` instead of
    stopping."""
    if how not in AGGREGATES:
        raise InferenceError(f"aggregate {how!r} must be one of {', '.join(AGGREGATES)}")
    windows(np.zeros(1, np.float32), scorer.nb_samp, hop, mode)  # validates hop / mode before any work
    workers = workers or min(8, os.cpu_count() or 1)
    ahead = max(2 * workers, 4)

    pending: list[tuple[Path, np.ndarray | None, float, str | None]] = []  # in input order
    rows: list[np.ndarray] = []  # windows waiting for a batch
    scored: list[np.ndarray] = []  # logits of windows already run, in the same order

    def flush(final: bool) -> Iterator[FileScore | FileError]:
        while len(rows) >= scorer.batch_size or (final and rows):
            batch, rows[:] = rows[: scorer.batch_size], rows[scorer.batch_size :]
            scored.extend(scorer(np.stack(batch)))
        while pending:
            path, wins, duration, error = pending[0]
            if error is not None:
                result: FileScore | FileError = FileError(path, error)
            else:
                assert wins is not None
                if len(scored) < len(wins):
                    return
                logits = np.stack(scored[: len(wins)])
                del scored[: len(wins)]
                agg = aggregate(logits, how)
                score, prob = score_and_prob(agg)
                result = FileScore(
                    path,
                    agg,
                    float(score),
                    float(prob),
                    duration,
                    len(wins),
                    [float(s) for s in score_and_prob(logits)[0]],
                )
            pending.pop(0)
            yield result

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aasist-load") as pool:
        futures: list[Future] = []
        it = iter(paths)
        for p in it:
            futures.append(pool.submit(_load, p, scorer.nb_samp, hop, mode))
            if len(futures) >= ahead:
                break
        index = 0
        while index < len(futures):
            path = paths[index]
            try:
                wins, duration = futures[index].result()
                pending.append((path, wins, duration, None))
                rows.extend(wins)
            except (ValueError, OSError) as e:  # AudioError is a ValueError and names the file
                pending.append((path, None, math.nan, str(e)))
            futures[index] = None  # type: ignore[call-overload]  # free the audio
            index += 1
            nxt = next(it, None)
            if nxt is not None:
                futures.append(pool.submit(_load, nxt, scorer.nb_samp, hop, mode))
            yield from flush(final=False)
        yield from flush(final=True)


__all__ = ["AUDIO_EXTENSIONS", "FileError", "FileScore", "find_audio", "score_files"]
