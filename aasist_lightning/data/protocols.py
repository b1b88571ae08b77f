"""ASVspoof 2019 LA CM protocols and CSV manifests -> ``list[Trial]``.

Parsing never touches the audio: whether the files exist is checked by the data module at setup, so
protocols can be read (and subsets drawn) without the corpus.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BONAFIDE = 1
SPOOF = 0
# The official convention: bona fide is the positive class (the model's column 1 is the bona fide score).
_PROTOCOL_KEYS = {"bonafide": BONAFIDE, "spoof": SPOOF}
# Manifest labels: the protocol keys plus the spellings other public deepfake sets use.
_MANIFEST_LABELS = {
    "bonafide": BONAFIDE,
    "bona-fide": BONAFIDE,
    "bona_fide": BONAFIDE,
    "bona fide": BONAFIDE,
    "genuine": BONAFIDE,
    "real": BONAFIDE,
    "1": BONAFIDE,
    "spoof": SPOOF,
    "fake": SPOOF,
    "0": SPOOF,
}
NO_ATTACK = "-"
UNKNOWN_SPEAKER = "-"
# Attack name of manifest spoof rows without an attack column: they form one attack group.
DEFAULT_SPOOF_ATTACK = "spoof"


# The official LA layout under a corpus root (the LA/ folder of LA.zip); the synthetic corpus writes the same.
SPLITS = ("train", "dev", "eval")
_PROTOCOL_SUFFIX = {"train": "trn", "dev": "trl", "eval": "trl"}


def protocol_path(root: str | Path, split: str) -> Path:
    """Where the official layout keeps the CM protocol of ``split`` ('train', 'dev' or 'eval')."""
    return (
        Path(root)
        / "ASVspoof2019_LA_cm_protocols"
        / f"ASVspoof2019.LA.cm.{split}.{_PROTOCOL_SUFFIX[split]}.txt"
    )


def audio_dir(root: str | Path, split: str) -> Path:
    """The folder of a split's FLAC files in the official layout."""
    return Path(root) / f"ASVspoof2019_LA_{split}" / "flac"


def asv_score_path(root: str | Path, split: str) -> Path:
    """The organisers' ASV score file of the dev or eval split (needed for min t-DCF)."""
    return Path(root) / "ASVspoof2019_LA_asv_scores" / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"


class ProtocolError(ValueError):
    """A protocol or manifest that does not parse, or whose trials cannot serve their split (one class only
    for training, too few for the configured subset); the message names the file (and line)."""


@dataclass(frozen=True)
class Trial:
    """One labelled utterance. ``label``: 1 bona fide, 0 spoof; ``attack`` is ``'-'`` for bona fide."""

    utt_id: str
    path: Path
    label: int
    attack: str
    speaker: str


@dataclass(frozen=True)
class Columns:
    """A whitespace-separated protocol layout: the corpus's name, the column count, where each field is
    (``conditions``: name -> column of the per-trial conditions kept; ``subset``: the column naming the
    trial's subset, if any) and an example line for the error messages."""

    name: str
    count: int
    speaker: int
    trial: int
    attack: int
    key: int
    example: str
    conditions: dict[str, int] = field(default_factory=dict)
    subset: int | None = None


#: The ASVspoof 2019 LA CM protocols: ``speaker utt_id - attack key``.
LA19 = Columns("ASVspoof 2019 LA", 5, 0, 1, 3, 4, "LA_0079 LA_T_1138215 - - bonafide")
#: The known layouts' column counts, to say which corpus a wrong file looks like.
_LOOKS_LIKE = {5: "an ASVspoof 2019 CM protocol", 8: "ASVspoof 2021 LA keys", 13: "ASVspoof 2021 DF keys",
               10: "an ASVspoof 5 protocol"}  # fmt: skip


def protocol_rows(
    path: Path, layout: Columns, audio_dir: Path, ext: str = "flac"
) -> Iterator[tuple[list[str], Trial]]:
    """Each non-blank line of the protocol ``path`` in ``layout``: its fields and its trial (audio
    ``audio_dir/<trial>.<ext>``; bona fide trials have the attack ``-``). A line with another column count, a
    key that is neither bonafide nor spoof or a trial listed twice is a :class:`ProtocolError` naming
    ``file:line``."""
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{lineno}"
            if len(fields) != layout.count:
                other = _LOOKS_LIKE.get(len(fields))
                hint = f" (it looks like {other})" if other else ""
                raise ProtocolError(
                    f"{where}: {layout.name} protocol lines have {layout.count} columns, e.g. "
                    f"{layout.example!r}; this one has {len(fields)}{hint}: {line.strip()!r}. Fix: give "
                    f"the {layout.name} file"
                )
            key, utt_id = fields[layout.key], fields[layout.trial]
            if key not in _PROTOCOL_KEYS:
                raise ProtocolError(
                    f"{where}: key {key!r} must be 'bonafide' or 'spoof': {line.strip()!r}. Fix: give the "
                    f"{layout.name} file as released"
                )
            if utt_id in seen:
                raise ProtocolError(
                    f"{where}: trial {utt_id} already listed on line {seen[utt_id]}. Fix: list each trial "
                    f"once (the {layout.name} file as released does)"
                )
            seen[utt_id] = lineno
            label = _PROTOCOL_KEYS[key]
            attack = fields[layout.attack] if label == SPOOF else NO_ATTACK
            yield fields, Trial(utt_id, audio_dir / f"{utt_id}.{ext}", label, attack, fields[layout.speaker])


def read_protocol(protocol_path: str | Path, audio_dir: str | Path, ext: str = "flac") -> list[Trial]:
    """Parse an ASVspoof 2019 LA CM protocol (lines ``speaker utt_id - attack key``).

    Audio paths are ``audio_dir/<utt_id>.<ext>``; they need not exist.
    """
    protocol_path = Path(protocol_path)
    audio_dir = Path(audio_dir)
    if not protocol_path.is_file():
        raise FileNotFoundError(f"protocol file {protocol_path} not found")
    trials = [trial for _, trial in protocol_rows(protocol_path, LA19, audio_dir, ext)]
    if not trials:
        raise ProtocolError(f"{protocol_path}: the protocol lists no trials")
    return trials


def _parse_label(value: str, where: str) -> int:
    label = _MANIFEST_LABELS.get(value.strip().lower())
    if label is None:
        raise ProtocolError(
            f"{where}: label {value!r} is neither bona fide nor spoof; use 'bonafide' or 'spoof' "
            "(also accepted: bona-fide, genuine, real, 1 / fake, 0)"
        )
    return label


def read_manifest(csv_path: str | Path) -> list[Trial]:
    """Parse a CSV manifest ``path,label[,attack][,speaker]`` for custom data.

    A header row naming the columns (``path``, ``label`` and optionally ``attack``, ``speaker``,
    ``utt_id``; any order, other named columns ignored) is used when present; otherwise the columns are
    positional; a row with more cells than that is refused. Relative paths are resolved against the CSV's
    folder; a file listed twice is refused, also under two spellings (relative and absolute, ``..``, a
    linked folder). Utterance ids come from an ``utt_id`` column, else the file name without extension,
    else (when names repeat) the path as written without extension; whitespace in ids becomes ``_`` so
    score files stay parseable.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        what = "is a folder: give the CSV file inside it" if csv_path.is_dir() else "not found"
        raise FileNotFoundError(
            f"manifest {csv_path} {what} (expected a CSV 'path,label[,attack][,speaker]')"
        )
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if any(c.strip() for c in row)]
    if not rows:
        raise ProtocolError(
            f"{csv_path}: the manifest is empty (expected rows 'path,label[,attack][,speaker]')"
        )

    first = [c.strip().lower() for c in rows[0][1]]
    if "path" in first and "label" in first:
        columns = {
            name: first.index(name)
            for name in ("path", "label", "attack", "speaker", "utt_id")
            if name in first
        }
        rows = rows[1:]
        width, layout = len(first), f"the header names {len(first)} ({','.join(first)})"
    else:
        columns = {"path": 0, "label": 1, "attack": 2, "speaker": 3}
        width, layout = 4, "rows are 'path,label[,attack][,speaker]' without a header"
    if not rows:
        raise ProtocolError(f"{csv_path}: the manifest has a header but no rows")
    for lineno, row in rows:  # a cell beyond the columns would be dropped without a word
        if len(row) > width and any(c.strip() for c in row[width:]):
            raise ProtocolError(
                f"{csv_path}:{lineno}: {len(row)} columns, but {layout}. Fix: name every column in a header "
                "row (path,label,attack,speaker,utt_id; others are ignored)"
            )

    def cell(row: list[str], name: str) -> str:
        i = columns.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    base = csv_path.parent
    parsed: list[tuple[int, str, Path, int, str, str, str]] = []
    for lineno, row in rows:
        where = f"{csv_path}:{lineno}"
        raw_path = cell(row, "path")
        if not raw_path or len(row) <= columns["label"]:
            raise ProtocolError(f"{where}: expected 'path,label[,attack][,speaker]', got {','.join(row)!r}")
        label = _parse_label(cell(row, "label"), where)
        path = Path(raw_path).expanduser()
        if not path.is_absolute():
            path = base / path
        attack = cell(row, "attack") or (NO_ATTACK if label == BONAFIDE else DEFAULT_SPOOF_ATTACK)
        speaker = cell(row, "speaker") or UNKNOWN_SPEAKER
        parsed.append((lineno, raw_path, path, label, attack, speaker, cell(row, "utt_id")))

    stems = [p.stem for _, _, p, *_ in parsed]
    stems_unique = len(set(stems)) == len(stems)
    trials: list[Trial] = []
    seen: dict[str, int] = {}
    files: dict[Path, tuple[int, str]] = {}  # resolved path -> (line, path as written)
    folders: dict[Path, Path] = {}  # each folder resolved once (links, '..'); the audio need not exist
    for (lineno, raw_path, path, label, attack, speaker, utt_id), stem in zip(parsed, stems, strict=True):
        if not utt_id:
            utt_id = stem if stems_unique else str(Path(raw_path).with_suffix("").as_posix())
        utt_id = "_".join(utt_id.split())
        if path.parent not in folders:
            folders[path.parent] = path.parent.resolve()
        real = folders[path.parent] / path.name
        if real in files:  # one file twice, also under two spellings (before the ids: a unique id won't do)
            first, written = files[real]
            raise ProtocolError(
                f"{csv_path}:{lineno}: file {raw_path!r} already listed on line {first} as {written!r} (both "
                f"are {real}); list each file once"
            )
        files[real] = (lineno, raw_path)
        if utt_id in seen:
            raise ProtocolError(
                f"{csv_path}:{lineno}: utterance id {utt_id!r} already used on line {seen[utt_id]}; "
                "list each file once or add a unique 'utt_id' column"
            )
        seen[utt_id] = lineno
        trials.append(Trial(utt_id, path, label, "_".join(attack.split()), "_".join(speaker.split())))
    return trials
