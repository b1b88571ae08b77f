"""The standard anti-spoofing corpora, read in their released layouts -> ``list[Trial]`` plus conditions.

Read-only: a reader parses the corpus's own protocol or metadata and never touches the audio (whether
the files exist is checked by the data module before any work). Column meanings follow each corpus's
README and official evaluation package:

- ASVspoof 2021 LA, ``keys/LA/CM/trial_metadata.txt`` (8 columns): speaker, trial, codec, transmission
  channel, attack, key, trim, subset -- e.g. ``LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval``;
  audio ``ASVspoof2021_LA_eval/flac/<trial>.flac``. Its ASV trials, for the min t-DCF (2021 evaluation
  package, ``config.py``): ``keys/LA/ASV/trial_metadata.txt`` (the same 8 columns, key target / nontarget /
  spoof) and, line by line beside it, the organisers' scores ``keys/LA/ASV/ASVTorch_Kaldi/score.txt``
  (claimed speaker, trial, score).
- ASVspoof 2021 DF, ``keys/DF/CM/trial_metadata.txt`` (13 columns): speaker, trial, codec (compression),
  source corpus, attack, key, trim, subset, vocoder family, VCC task, VCC team, gender pair, language;
  audio ``ASVspoof2021_DF_eval/flac/<trial>.flac``.
- ASVspoof 5, ``ASVspoof5.{train.tsv,dev.track_1.tsv,eval.track_1.tsv}`` (whitespace-separated despite the
  name; 10 columns): speaker, file, gender, codec, codec quality, codec seed, attack tag, attack label, key,
  (unused); audio ``flac_T/``, ``flac_D/``, ``flac_E_eval/``.
- In-the-Wild, ``meta.csv`` (``file,speaker,label``; labels ``bona-fide`` / ``spoof``) beside the WAV files.
- A folder with ``bonafide`` / ``real`` and ``spoof`` / ``fake`` sub-folders (WaveFake / MLAAD style), read
  recursively; a spoof file's attack is its sub-folder path under the spoof folder.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aasist_lightning.data.protocols import (
    BONAFIDE,
    NO_ATTACK,
    SPOOF,
    UNKNOWN_SPEAKER,
    Columns,
    ProtocolError,
    Trial,
    protocol_rows,
)
from aasist_lightning.metrics.io import AsvScores, ScoreFileError, parse_score

#: Audio file extensions a folder corpus is searched for.
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus")
_BONAFIDE_FOLDERS = ("bonafide", "bona-fide", "bona_fide", "real", "genuine")
_SPOOF_FOLDERS = ("spoof", "fake", "spoofed")


@dataclass
class CorpusTrials:
    """A corpus split: its trials, and per trial the conditions its metadata records (codec, channel,
    vocoder family, source corpus, ...), keyed by utterance id."""

    corpus: str
    trials: list[Trial]
    conditions: dict[str, dict[str, str]] = field(default_factory=dict)


_LA21 = Columns(
    "ASVspoof 2021 LA", 8, 0, 1, 4, 5, "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval",
    {"codec": 2, "channel": 3}, 7,
)  # fmt: skip
_DF21 = Columns(
    "ASVspoof 2021 DF", 13, 0, 1, 4, 5,
    "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -",
    {"codec": 2, "source": 3, "vocoder": 8}, 7,
)  # fmt: skip
_ASVSPOOF5 = Columns(
    "ASVspoof 5", 10, 0, 1, 7, 8, "T_4850 T_0000000000 F - - - AC3 A05 spoof -",
    {"codec": 3, "codec_quality": 4, "attack_tag": 6},
)  # fmt: skip
#: ASVspoof 2021 subsets; the keys call the hidden track "hidden_track" (the evaluation package "hidden").
SUBSETS_2021 = ("eval", "progress", "hidden_track")
#: The subset names a user may give: those of the keys, and the evaluation package's "hidden".
SUBSET_NAMES_2021 = (*SUBSETS_2021, "hidden")


def _read_columns(
    path: Path, layout: Columns, audio_dir: Path, subsets: Sequence[str] | None = None
) -> CorpusTrials:
    if not path.is_file():
        raise ProtocolError(
            f"{layout.name} protocol {path} not found: check data.root (the corpus's layout is in the README)"
        )
    wanted = _wanted_subsets(subsets)
    trials: list[Trial] = []
    conditions: dict[str, dict[str, str]] = {}
    for fields, trial in protocol_rows(path, layout, audio_dir):
        subset = fields[layout.subset] if layout.subset is not None else None
        if subset == "hidden":
            subset = "hidden_track"
        if wanted is not None and subset not in wanted:
            continue
        trials.append(trial)
        conditions[trial.utt_id] = {k: fields[i] for k, i in layout.conditions.items()}
        if subset is not None:
            conditions[trial.utt_id]["subset"] = subset
    if not trials:
        chosen = f" in subset(s) {sorted(wanted)}" if wanted else ""
        raise ProtocolError(f"{path}: no trials{chosen}. Fix: choose subsets among {list(SUBSETS_2021)}")
    return CorpusTrials(layout.name, trials, conditions)


def read_asvspoof2021(
    root: str | Path, track: str, subsets: Sequence[str] | None = ("eval",)
) -> CorpusTrials:
    """ASVspoof 2021 ``track`` ('LA' or 'DF') evaluation trials from the keys package under ``root``
    (``keys/<track>/CM/trial_metadata.txt``, audio in ``ASVspoof2021_<track>_eval/flac``). ``subsets``: any
    of :data:`SUBSETS_2021` (None = all)."""
    if track not in ("LA", "DF"):
        raise ValueError(f"track must be 'LA' or 'DF', got {track!r}")
    return read_asvspoof2021_keys(Path(root) / "keys" / track / "CM" / "trial_metadata.txt", track, subsets)


def read_asvspoof2021_keys(
    keys: str | Path, track: str, subsets: Sequence[str] | None = ("eval",)
) -> CorpusTrials:
    """ASVspoof 2021 ``track`` trials of the CM keys file ``keys``, laid out as
    ``<root>/keys/<track>/CM/trial_metadata.txt`` (audio in ``<root>/ASVspoof2021_<track>_eval/flac``)."""
    keys = Path(keys)
    layout = _LA21 if track == "LA" else _DF21
    return _read_columns(keys, layout, keys.parents[3] / f"ASVspoof2021_{track}_eval" / "flac", subsets)


def _wanted_subsets(subsets: Sequence[str] | None) -> set[str] | None:
    return None if subsets is None else {"hidden_track" if s == "hidden" else s for s in subsets}


#: ASVspoof 2021 LA ASV files under the root: trial metadata and the organisers' scores, line by line.
LA21_ASV_FILES = ("keys/LA/ASV/trial_metadata.txt", "keys/LA/ASV/ASVTorch_Kaldi/score.txt")
_ASV_KEYS = ("target", "nontarget", "spoof")


def _numbered_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a BOM is not part of the first field
    return [(n, line.split()) for n, line in enumerate(lines, 1) if line.strip()]


def read_asvspoof2021_asv(root: str | Path, subsets: Sequence[str] | None = ("eval",)) -> AsvScores | None:
    """The organisers' ASV scores of the ASVspoof 2021 LA ``subsets`` (None = all) from the keys package
    under ``root`` (:data:`LA21_ASV_FILES`) by key (target / nontarget / spoof); None without the files."""
    metadata, score_file = (Path(root) / name for name in LA21_ASV_FILES)
    if not metadata.is_file() or not score_file.is_file():
        return None
    return read_asvspoof2021_asv_scores(score_file, metadata, subsets)


def asvspoof2021_asv_metadata(score_file: str | Path) -> Path:
    """The trial metadata an ASVspoof 2021 LA ASV score file goes with: ``keys/LA/ASV/trial_metadata.txt``
    for ``keys/LA/ASV/<system>/score.txt`` (the keys package's layout, where the 2021 evaluation package also
    reads other ASV systems' scores)."""
    return Path(score_file).absolute().parent.parent / "trial_metadata.txt"


def read_asvspoof2021_asv_scores(
    score_file: str | Path, metadata: str | Path, subsets: Sequence[str] | None = ("eval",)
) -> AsvScores:
    """ASV scores (lines ``speaker trial score``) of the ASVspoof 2021 LA ``subsets`` (None = all) by key,
    the keys from ``metadata`` (its trial metadata, line by line with the scores)."""
    score_file, metadata = Path(score_file), Path(metadata)
    wanted = _wanted_subsets(subsets)
    meta_lines, score_lines = _numbered_rows(metadata), _numbered_rows(score_file)
    if len(meta_lines) != len(score_lines):
        raise ProtocolError(
            f"{score_file} has {len(score_lines)} lines, {metadata} {len(meta_lines)}: the official ASV "
            "scores follow the trial metadata line by line. Fix: give the files of the same keys package"
        )
    groups: dict[str, list[float]] = {key: [] for key in _ASV_KEYS}
    for (meta_no, meta), (score_no, row) in zip(meta_lines, score_lines, strict=True):
        if len(meta) != 8 or meta[5] not in _ASV_KEYS:
            raise ProtocolError(
                f"{metadata}:{meta_no}: an ASV trial line has 8 columns with key target / nontarget / "
                f"spoof in the 6th, e.g. 'LA_0015 LA_E_1103494 none none A07 spoof notrim eval'"
            )
        if len(row) != 3 or row[1] != meta[1]:
            raise ProtocolError(
                f"{score_file}:{score_no}: expected 'speaker {meta[1]} score' (line {meta_no} of "
                f"{metadata.name}), got {' '.join(row)!r}"
            )
        if wanted is None or ("hidden_track" if meta[7] == "hidden" else meta[7]) in wanted:
            try:  # NaN / inf named here with their line, as in the 2019 ASV files
                groups[meta[5]].append(parse_score(row[2], f"{score_file}:{score_no}"))
            except ScoreFileError as error:
                raise ProtocolError(str(error)) from None
    empty = [key for key, scores in groups.items() if not scores]
    if empty:
        raise ProtocolError(
            f"{metadata}: no {' / '.join(empty)} ASV trials in subset(s) {sorted(wanted or ['all'])}; the "
            "t-DCF needs target, nontarget and spoof trials"
        )
    return AsvScores(*(np.asarray(groups[key], dtype=np.float64) for key in _ASV_KEYS))


#: ASVspoof 5 split -> (protocol file, audio folder).
ASVSPOOF5_SPLITS = {
    "train": ("ASVspoof5.train.tsv", "flac_T"),
    "dev": ("ASVspoof5.dev.track_1.tsv", "flac_D"),
    "eval": ("ASVspoof5.eval.track_1.tsv", "flac_E_eval"),
}


def read_asvspoof5(root: str | Path, split: str) -> CorpusTrials:
    """ASVspoof 5 track 1 trials of ``split`` (train, dev, eval); the protocol may lie in ``root`` or in
    ``root/ASVspoof5_protocols``."""
    if split not in ASVSPOOF5_SPLITS:
        raise ValueError(f"ASVspoof 5 split must be one of {sorted(ASVSPOOF5_SPLITS)}, got {split!r}")
    root = Path(root)
    return _read_columns(_asvspoof5_protocol(root, split), _ASVSPOOF5, root / ASVSPOOF5_SPLITS[split][1])


def _asvspoof5_protocol(root: Path, split: str) -> Path:
    name = ASVSPOOF5_SPLITS[split][0]
    return next((p for p in (root / name, root / "ASVspoof5_protocols" / name) if p.is_file()), root / name)


_ITW_LABELS = {"bona-fide": BONAFIDE, "spoof": SPOOF}


def read_in_the_wild(root: str | Path) -> CorpusTrials:
    """In-the-Wild (Müller et al., 2022): ``root/meta.csv`` rows ``file,speaker,label``."""
    root = Path(root)
    meta = root / "meta.csv"
    if not meta.is_file():
        raise ProtocolError(
            f"In-the-Wild metadata {meta} not found: data.root must be the folder holding meta.csv"
        )
    with meta.open(newline="", encoding="utf-8-sig") as f:
        rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if any(c.strip() for c in row)]
    restore = "Fix: use the meta.csv of release_in_the_wild.zip, unchanged"
    if not rows or [c.strip() for c in rows[0][1]] != ["file", "speaker", "label"]:
        found = "an empty file" if not rows else repr(",".join(rows[0][1]))
        raise ProtocolError(
            f"{meta}:{rows[0][0] if rows else 1}: expected the header 'file,speaker,label' (the released "
            f"meta.csv), found {found}. {restore}"
        )
    if len(rows) == 1:
        raise ProtocolError(f"{meta}:{rows[0][0]}: no trials below the header. {restore}")
    trials: list[Trial] = []
    seen: dict[str, int] = {}
    for lineno, row in rows[1:]:
        where = f"{meta}:{lineno}"
        if len(row) != 3:
            raise ProtocolError(f"{where}: expected 'file,speaker,label', got {','.join(row)!r}. {restore}")
        file, speaker, label = (c.strip() for c in row)
        if label not in _ITW_LABELS:
            raise ProtocolError(
                f"{where}: label {label!r} is neither 'bona-fide' nor 'spoof' (In-the-Wild's labels). Fix: "
                "correct the label; for other audio use data=folder or data=manifest"
            )
        utt_id = Path(file).stem
        if utt_id in seen:
            raise ProtocolError(f"{where}: file {file} already listed on line {seen[utt_id]}")
        seen[utt_id] = lineno
        kind = _ITW_LABELS[label]
        trials.append(
            Trial(utt_id, root / file, kind, NO_ATTACK if kind == BONAFIDE else "spoof",
                  "_".join(speaker.split()) or UNKNOWN_SPEAKER)
        )  # fmt: skip
    return CorpusTrials("In-the-Wild", trials)


def _class_folders(root: Path, names: Iterable[str]) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in names)


def read_folder(root: str | Path) -> CorpusTrials:
    """Any folder with bona fide (``bonafide``, ``real``, ...) and spoof (``spoof``, ``fake``) sub-folders,
    searched recursively for audio files. Utterance ids are the paths below ``root`` without extension."""
    root = Path(root)
    if not root.is_dir():
        raise ProtocolError(f"folder corpus {root} not found: check data.root")
    bona_dirs, spoof_dirs = _class_folders(root, _BONAFIDE_FOLDERS), _class_folders(root, _SPOOF_FOLDERS)
    if not bona_dirs or not spoof_dirs:
        raise ProtocolError(
            f"{root}: a folder corpus needs a bona fide sub-folder ({'|'.join(_BONAFIDE_FOLDERS)}) and a "
            "spoof "
            f"one ({'|'.join(_SPOOF_FOLDERS)}); found {sorted(p.name for p in root.iterdir() if p.is_dir())}"
        )
    trials: list[Trial] = []
    seen: dict[str, Path] = {}
    for folders, label in ((bona_dirs, BONAFIDE), (spoof_dirs, SPOOF)):
        for folder in folders:
            files = sorted(
                p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
            )
            if not files:
                raise ProtocolError(f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in it")
            for path in files:
                relative = path.relative_to(folder).parent
                attack = (
                    NO_ATTACK if label == BONAFIDE else (relative.as_posix() if relative.parts else "spoof")
                )
                utt_id = "_".join(path.relative_to(root).with_suffix("").as_posix().split())
                if utt_id in seen:
                    raise ProtocolError(
                        f"{seen[utt_id]} and {path} get the same utterance id {utt_id!r} (the path below "
                        f"{root} without extension, spaces as '_'). Fix: rename or remove one of them"
                    )
                seen[utt_id] = path
                trials.append(Trial(utt_id, path, label, "_".join(attack.split()), UNKNOWN_SPEAKER))
    return CorpusTrials("folder", trials)


#: Corpus name -> reader of (root, split).
READERS: dict[str, Callable[[Path, str], CorpusTrials]] = {
    "asvspoof2021_la": lambda root, split: read_asvspoof2021(root, "LA", _subsets(split)),
    "asvspoof2021_df": lambda root, split: read_asvspoof2021(root, "DF", _subsets(split)),
    "asvspoof5": read_asvspoof5,
    "in_the_wild": lambda root, split: read_in_the_wild(root),
    "folder": lambda root, split: read_folder(root),
}


def _subsets(split: str) -> list[str] | None:
    """An ASVspoof 2021 "split" is a subset name, '+'-joined subsets, or 'all'."""
    return None if split == "all" else split.split("+")


#: Corpus name -> the splits it has (the others are evaluation-only corpora).
CORPUS_SPLITS: dict[str, tuple[str, ...]] = {
    "asvspoof2021_la": ("eval",),
    "asvspoof2021_df": ("eval",),
    "asvspoof5": tuple(ASVSPOOF5_SPLITS),
    "in_the_wild": ("eval",),
    "folder": ("eval",),
}


def corpus_source(corpus: str, root: str | Path, split: str) -> Path:
    """The file (or, for a folder corpus, the folder) that ``corpus``'s ``split`` is read from under
    ``root``: what error messages name."""
    root = Path(root)
    if corpus in ("asvspoof2021_la", "asvspoof2021_df"):
        return root / "keys" / corpus[-2:].upper() / "CM" / "trial_metadata.txt"
    if corpus == "asvspoof5":
        return _asvspoof5_protocol(root, split)
    if corpus == "in_the_wild":
        return root / "meta.csv"
    return root


__all__ = [
    "ASVSPOOF5_SPLITS",
    "AUDIO_EXTENSIONS",
    "CORPUS_SPLITS",
    "LA21_ASV_FILES",
    "READERS",
    "SUBSETS_2021",
    "SUBSET_NAMES_2021",
    "CorpusTrials",
    "asvspoof2021_asv_metadata",
    "corpus_source",
    "read_asvspoof5",
    "read_asvspoof2021",
    "read_asvspoof2021_asv",
    "read_asvspoof2021_asv_scores",
    "read_asvspoof2021_keys",
    "read_folder",
    "read_in_the_wild",
]
