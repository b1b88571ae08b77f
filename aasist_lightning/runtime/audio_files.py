"""Scoring audio files of any length and format (``aasist-predict``, the notebooks): finding them in folders,
loading them on worker threads ahead of the model, batching the windows of consecutive files together, and
one :class:`FileScore` (or :class:`FileError`) per file, in order. How a clip becomes windows and one score:
:mod:`aasist_lightning.runtime.scorer`."""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aasist_lightning.data.audio import SAMPLE_RATE, Windows, load_audio
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
    """Files named in ``inputs`` plus every audio file (by extension) below the folders named, recursively
    (through links to folders too), in a stable order, each once (one file reached by several paths: the
    first). Raises FileNotFoundError for an input that does not exist."""
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
    """The audio files below ``folder``, links to folders followed (each real folder searched once: a link
    back up, a cycle, is not followed again); a sub-folder that cannot be listed is an error naming it (its
    files would otherwise be missing from the results without a word)."""

    def unlisted(error: OSError) -> None:
        raise OSError(
            f"cannot list folder {error.filename} below {folder} ({error.strerror}): its audio would be left "
            "out. Fix: make it readable, or give the other folders / files as inputs"
        )

    found = []
    searched: set[tuple[int, int]] = set()  # (device, inode) of the real folders searched
    for top, folders, files in os.walk(folder, onerror=unlisted, followlinks=True):
        real = os.stat(top)
        if (real.st_dev, real.st_ino) in searched:
            folders.clear()  # reached again through a link: searched already, and so is what is below it
            continue
        searched.add((real.st_dev, real.st_ino))
        folders.sort()  # the first path to a folder reached twice is the same on every run
        found += [
            Path(top) / name
            for name in files
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS and (Path(top) / name).is_file()
        ]
    return found


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


def _load(path: Path, nb_samp: int, hop: int | None, mode: str) -> tuple[Windows, float]:
    x = load_audio(path, SAMPLE_RATE)
    return windows(x, nb_samp, hop, mode), x.shape[0] / SAMPLE_RATE


def _next_batch(waiting: deque[tuple[Windows, int]], size: int) -> np.ndarray:
    """Up to ``size`` windows from the head of ``waiting`` (the windows of files, each with the index of its
    first window not yet taken), copied into one array; what they took is removed from ``waiting``."""
    parts = []
    while size and waiting:
        wins, start = waiting[0]
        stop = min(len(wins), start + size)
        parts.append(wins[start:stop])
        size -= stop - start
        if stop == len(wins):
            waiting.popleft()
        else:
            waiting[0] = (wins, stop)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def window_batches(per_clip: Sequence[Windows], size: int) -> Iterator[np.ndarray]:
    """The windows of several clips in order, ``size`` at a time (the last batch fewer), each batch copied
    once: a small hop makes many windows, and all of them at once could take GiBs."""
    waiting = deque((wins, 0) for wins in per_clip if len(wins))
    while waiting:
        yield _next_batch(waiting, size)


def _first_rows(scored: deque[np.ndarray], n: int) -> np.ndarray:
    """The first ``n`` rows of the logits blocks ``scored``, removed from it."""
    out = []
    while n:
        block = scored.popleft()
        if len(block) > n:
            scored.appendleft(block[n:])
            block = block[:n]
        out.append(block)
        n -= len(block)
    return out[0] if len(out) == 1 else np.concatenate(out)


def score_files(
    paths: Sequence[Path],
    scorer: Scorer,
    hop: int | None = None,
    mode: str = "windows",
    how: str = "mean",
    workers: int | None = None,
) -> Iterator[FileScore | FileError]:
    """Score audio files, in order: loading (and resampling) runs on ``workers`` threads ahead of the model,
    and windows of consecutive files share batches (only one batch of windows is copied at a time: a small
    hop on a long clip makes many). Unreadable files yield a :class:`FileError` instead of stopping."""
    if how not in AGGREGATES:
        raise InferenceError(f"aggregate {how!r} must be one of {', '.join(AGGREGATES)}")
    windows(np.zeros(1, np.float32), scorer.nb_samp, hop, mode)  # validates hop / mode before any work
    workers = workers or min(8, os.cpu_count() or 1)
    ahead = max(2 * workers, 4)

    pending: list[tuple[Path, Windows | None, float, str | None]] = []  # in input order
    # The windows of files waiting for a batch, in order, each with the index of its first window not yet run.
    waiting: deque[tuple[Windows, int]] = deque()
    scored: deque[np.ndarray] = deque()  # logits (k, 2) of windows already run, in the same order
    counts = [0, 0]  # windows waiting, windows scored

    def flush(final: bool) -> Iterator[FileScore | FileError]:
        while counts[0] >= scorer.batch_size or (final and counts[0]):
            batch = _next_batch(waiting, scorer.batch_size)  # one batch of windows copied at a time
            scored.append(scorer(batch))
            counts[0] -= len(batch)
            counts[1] += len(batch)
        while pending:
            path, wins, duration, error = pending[0]
            if error is not None:
                result: FileScore | FileError = FileError(path, error)
            else:
                assert wins is not None
                if counts[1] < len(wins):
                    return
                logits = _first_rows(scored, len(wins))
                counts[1] -= len(wins)
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
                waiting.append((wins, 0))
                counts[0] += len(wins)
            except (ValueError, OSError) as e:  # AudioError is a ValueError and names the file
                pending.append((path, None, math.nan, str(e)))
            futures[index] = None  # type: ignore[call-overload]  # free the audio
            index += 1
            nxt = next(it, None)
            if nxt is not None:
                futures.append(pool.submit(_load, nxt, scorer.nb_samp, hop, mode))
            yield from flush(final=False)
        yield from flush(final=True)


__all__ = ["AUDIO_EXTENSIONS", "FileError", "FileScore", "find_audio", "score_files", "window_batches"]
