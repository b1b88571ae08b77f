"""Reading CM score files, CM protocols and ASV score files, with errors that name the file and line.

Deliberately free of torch / the data package, so the `aasist-score` CLI starts fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aasist_lightning.files import check_input

CM_KEYS = {"bonafide": 1, "spoof": 0}
ASV_KEYS = ("target", "nontarget", "spoof")
# Number of whitespace-separated fields -> (format name, layout); a two-column file needs a protocol.
SCORE_FORMATS = {
    2: ("two-column", "utt_id score"),
    4: ("aasist", "utt_id attack key score"),
    6: ("asvspoof2019", "speaker utt_id - attack key score"),
}
_MAX_IDS = 5  # ids quoted in an error message


class ScoreFileError(ValueError):
    """A score, protocol or ASV score file that cannot be used; the message names the file (and line)."""


@dataclass(frozen=True)
class AsvScores:
    """The organisers' ASV scores, split by trial type (target, zero-effort nontarget, spoof)."""

    target: np.ndarray
    nontarget: np.ndarray
    spoof: np.ndarray
    spoof_attacks: frozenset[str] = frozenset()  # the attacks of the spoof trials, where the file names them


@dataclass(frozen=True)
class ScoreFile:
    """Parsed CM scores; ``labels`` (1 bona fide, 0 spoof) and ``attacks`` are None for two-column files."""

    path: Path
    format: str
    utt_ids: list[str]
    scores: np.ndarray
    labels: np.ndarray | None
    attacks: list[str] | None


@dataclass(frozen=True)
class CMProtocol:
    """utt_id -> label (1 bona fide, 0 spoof) and attack, in file order."""

    path: Path
    labels: dict[str, int]
    attacks: dict[str, str]


def _first(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_MAX_IDS])
    return shown + (", ..." if len(ids) > _MAX_IDS else "")


def _lines(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the non-empty lines; FileNotFoundError if the file is missing, InputPathError
    for a folder, a pipe or a device."""
    check_input(path, what)
    text = path.read_text(encoding="utf-8-sig", errors="replace")  # -sig: a BOM is not part of the first id
    return [
        (i, fields) for i, fields in enumerate((line.split() for line in text.split("\n")), start=1) if fields
    ]


def parse_score(token: str, where: str) -> float:
    """``token`` as a finite float; ScoreFileError naming ``where`` (``file:line``) otherwise."""
    try:
        value = float(token)
    except ValueError:
        raise ScoreFileError(f"{where}: score {token!r} is not a number") from None
    if not math.isfinite(value):
        raise ScoreFileError(f"{where}: score {token!r} is not finite; NaN/inf scores cannot be ranked")
    return value


def _score_column(rows: list[tuple[int, list[str]]], path: Path) -> np.ndarray:
    """The last field of every row as float64. Converted column-wise (a 100k-line file in a fraction of a
    second); the per-line parse only runs to name the offending line."""
    try:
        scores = np.asarray([fields[-1] for _, fields in rows], dtype=np.float64)
    except ValueError:
        scores = None
    if scores is None or not np.isfinite(scores).all():
        for lineno, fields in rows:
            parse_score(fields[-1], f"{path}:{lineno}")
    assert scores is not None  # the per-line parse above raised, naming the line
    return scores


def _parse_key(token: str, where: str) -> int:
    if token not in CM_KEYS:
        raise ScoreFileError(f"{where}: key {token!r} must be 'bonafide' or 'spoof'")
    return CM_KEYS[token]


def read_score_file(path: str | Path) -> ScoreFile:
    """Read CM scores (higher = more bona fide) in one of three layouts, detected from the first line:
    AASIST ``utt_id attack key score``, ASVspoof 2019 baselines ``speaker utt_id - attack key score``, or
    ``utt_id score`` (labels then come from a protocol). A first line whose last field contains 'score' is a
    header and skipped."""
    path = Path(path)
    rows = _lines(path, "score file")
    if rows and "score" in rows[0][1][-1].lower() and not _is_number(rows[0][1][-1]):
        rows = rows[1:]  # header line, e.g. ASVspoof 5 'filename cm-score'
    if not rows:
        raise ScoreFileError(f"{path}: the score file holds no scores")
    n_fields = len(rows[0][1])
    if n_fields not in SCORE_FORMATS:
        raise ScoreFileError(
            f"{path}:{rows[0][0]}: {n_fields} fields; expected one of "
            + "; ".join(f"{n} ({layout})" for n, (_, layout) in SCORE_FORMATS.items())
        )
    fmt, layout = SCORE_FORMATS[n_fields]
    for lineno, fields in rows:
        if len(fields) != n_fields:
            raise ScoreFileError(
                f"{path}:{lineno}: {len(fields)} fields where the first line has {n_fields} ({layout}): "
                f"{' '.join(fields)!r}"
            )
    id_col = 1 if n_fields == 6 else 0
    utt_ids = [fields[id_col] for _, fields in rows]
    if len(set(utt_ids)) != len(utt_ids):
        first_line: dict[str, int] = {}
        for (lineno, _), utt_id in zip(rows, utt_ids, strict=True):
            if utt_id in first_line:
                raise ScoreFileError(
                    f"{path}:{lineno}: utterance {utt_id} already scored on line {first_line[utt_id]}"
                )
            first_line[utt_id] = lineno
    scores = _score_column(rows, path)
    labels = attacks = None
    if n_fields > 2:
        keys = [fields[-2] for _, fields in rows]
        if not set(keys) <= CM_KEYS.keys():
            for lineno, fields in rows:
                _parse_key(fields[-2], f"{path}:{lineno}")
        labels = np.asarray([CM_KEYS[k] for k in keys], dtype=np.int64)
        attacks = [fields[-3] for _, fields in rows]
    return ScoreFile(path=path, format=fmt, utt_ids=utt_ids, scores=scores, labels=labels, attacks=attacks)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_cm_protocol(path: str | Path) -> CMProtocol:
    """Read a CM protocol / key file: the utterance id is the second field, the key the first field that
    is 'bonafide' or 'spoof' and not followed by another such field, the attack the field before the key.
    Covers ASVspoof 2019 (``speaker utt_id - attack key``), ASVspoof 2021 and ASVspoof 5 key files (whose bona
    fide lines read ``... bonafide bonafide ...``: attack, then key)."""
    path = Path(path)
    labels: dict[str, int] = {}
    attacks: dict[str, str] = {}
    seen: dict[str, int] = {}
    for lineno, fields in _lines(path, "protocol"):
        where = f"{path}:{lineno}"
        key_pos = next(
            (
                i
                for i, f in enumerate(fields[2:], start=2)
                if f in CM_KEYS and (i + 1 == len(fields) or fields[i + 1] not in CM_KEYS)
            ),
            None,
        )
        if key_pos is None:
            raise ScoreFileError(
                f"{where}: no 'bonafide'/'spoof' key after the utterance id; expected e.g. "
                f"'LA_0039 LA_E_2834763 - A11 spoof', got {' '.join(fields)!r}"
            )
        utt_id = fields[1]
        if utt_id in seen:
            raise ScoreFileError(f"{where}: utterance {utt_id} already listed on line {seen[utt_id]}")
        seen[utt_id] = lineno
        labels[utt_id] = CM_KEYS[fields[key_pos]]
        attacks[utt_id] = fields[key_pos - 1]
    if not labels:
        raise ScoreFileError(f"{path}: the protocol lists no trials")
    return CMProtocol(path=path, labels=labels, attacks=attacks)


def join_protocol(scores: ScoreFile, protocol: CMProtocol) -> ScoreFile:
    """Labels and attacks from ``protocol`` for every scored utterance. Every protocol trial must be scored
    and every scored utterance listed; labels / attacks already in the score file must agree."""
    unknown = [u for u in scores.utt_ids if u not in protocol.labels]
    if unknown:
        raise ScoreFileError(
            f"{len(unknown)} utterance(s) in {scores.path} are not in the protocol {protocol.path} "
            f"(first: {_first(unknown)}); is it the protocol of the same partition?"
        )
    scored = set(scores.utt_ids)
    unscored = [u for u in protocol.labels if u not in scored]
    if unscored:
        raise ScoreFileError(
            f"{len(unscored)} trial(s) of the protocol {protocol.path} have no score in {scores.path} "
            f"(first: {_first(unscored)}); score the whole partition"
        )
    labels = np.asarray([protocol.labels[u] for u in scores.utt_ids], dtype=np.int64)
    attacks = [protocol.attacks[u] for u in scores.utt_ids]
    if scores.labels is not None and scores.attacks is not None:
        # (key, attack) of each trial on both sides; every spelling of "no attack" (-, A00) counts as one.
        mine = [(CM_KEY_NAMES[k], _attack_of(a)) for k, a in zip(scores.labels, scores.attacks, strict=True)]
        theirs = [(CM_KEY_NAMES[k], _attack_of(a)) for k, a in zip(labels, attacks, strict=True)]
        clash = [i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b]
        if clash:
            i = clash[0]
            field = "key" if mine[i][0] != theirs[i][0] else "attack"
            side = 0 if field == "key" else 1
            raise ScoreFileError(
                f"{len(clash)} utterance(s) have a key or attack in {scores.path} that differs from the "
                f"protocol {protocol.path} (first: {_first([scores.utt_ids[j] for j in clash])}); "
                f"{scores.utt_ids[i]} has {field} {mine[i][side]!r} in the score file and "
                f"{theirs[i][side]!r} in the protocol"
            )
    return ScoreFile(scores.path, scores.format, scores.utt_ids, scores.scores, labels, attacks)


#: How score files and protocols write the attack of a bona fide trial; all mean "no attack".
BONAFIDE_ATTACKS = frozenset({"-", "A00", "bonafide", "bona-fide"})
CM_KEY_NAMES = {1: "bonafide", 0: "spoof"}


def _attack_of(attack: str) -> str:
    """The attack as compared with a protocol: every spelling of "no attack" (``-``, ``A00``) is ``-``."""
    return "-" if attack in BONAFIDE_ATTACKS else attack


#: From this many trials on, at most two distinct score values are hard decisions (every trial but two ties
#: with another; soft scores essentially never tie). A smaller file may be evaluated: two trials never take
#: more than two values.
HARD_DECISION_MIN_TRIALS = 5


def are_hard_decisions(scores: np.ndarray) -> bool:
    """Whether ``scores`` look like decisions rather than scores (see :data:`HARD_DECISION_MIN_TRIALS`)."""
    return scores.size >= HARD_DECISION_MIN_TRIALS and np.unique(scores).size < 3


def check_cm_scores(scores: np.ndarray, labels: np.ndarray, source: str | Path) -> None:
    """ScoreFileError unless both classes are present and the scores are soft (:func:`are_hard_decisions`)."""
    n_bona = int(np.sum(labels == 1))
    n_spoof = int(labels.size - n_bona)
    if n_bona == 0 or n_spoof == 0:
        raise ScoreFileError(
            f"{source}: {n_bona} bona fide and {n_spoof} spoof trials; EER and DCFs need both classes"
        )
    if are_hard_decisions(scores):
        distinct = np.unique(scores)
        values = ", ".join(f"{v:g}" for v in distinct)
        raise ScoreFileError(
            f"{source}: only {distinct.size} distinct score value(s) ({values}) "
            f"in {scores.size} trials: these are hard decisions, not scores; write soft scores "
            "(e.g. the bona fide logit)"
        )


def read_asv_scores(path: str | Path) -> AsvScores:
    """Read an ASVspoof ASV score file (lines ``attack key score``, key target / nontarget / spoof)."""
    path = Path(path)
    rows = _lines(path, "ASV score file")
    for lineno, fields in rows:
        if len(fields) != 3:
            raise ScoreFileError(
                f"{path}:{lineno}: expected 3 fields 'attack key score' (e.g. 'bonafide target 7.98'), "
                f"got {len(fields)}: {' '.join(fields)!r}"
            )
    key_list = [fields[1] for _, fields in rows]
    if not set(key_list) <= set(ASV_KEYS):
        lineno, key = next((n, f[1]) for n, f in rows if f[1] not in ASV_KEYS)
        raise ScoreFileError(f"{path}:{lineno}: key {key!r} must be one of {', '.join(ASV_KEYS)}")
    keys = np.asarray(key_list)
    scores = _score_column(rows, path)
    empty = [k for k in ASV_KEYS if not np.any(keys == k)]
    if empty:
        raise ScoreFileError(
            f"{path}: no {' / '.join(empty)} trials; the t-DCF needs all of {', '.join(ASV_KEYS)}"
        )
    attacks = frozenset(fields[0] for _, fields in rows if fields[1] == "spoof")
    target, nontarget, spoof = (scores[keys == k] for k in ASV_KEYS)
    return AsvScores(target, nontarget, spoof, attacks)
