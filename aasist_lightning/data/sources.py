"""Reading and checking a split's trials: the LA folder's layout, other corpora's readers, missing audio."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aasist_lightning.data.audio import AudioError, header_problem
from aasist_lightning.data.corpora import (
    CORPUS_SPLITS,
    LA21_ASV_FILES,
    READERS,
    CorpusTrials,
    read_asvspoof2021_asv,
)
from aasist_lightning.data.protocols import BONAFIDE, ProtocolError, Trial, asv_score_path, protocol_path
from aasist_lightning.metrics.io import read_asv_scores
from aasist_lightning.metrics.tdcf import ASVSPOOF2019, ASVSPOOF2021, TandemASV

log = logging.getLogger(__name__)

_SHOW_MISSING = 5
_HEADER_THREADS = 16

LAYOUT = """\
  <root>/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
  <root>/ASVspoof2019_LA_{train,dev,eval}/flac/<utt_id>.flac
  <root>/ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt  (for min t-DCF)
(the LA/ folder of the official LA.zip, https://doi.org/10.7488/ds/2555; pass data.root=/path/to/LA),
or use your own audio with data=manifest (CSV files 'path,label[,attack][,speaker]')."""


def check_root(root: Path, split: str) -> None:
    """The ASVspoof 2019 LA folder ``root`` holds ``split``'s protocol."""
    if not root.is_dir():
        fix = 'data.root=/path/to/LA (the LA/ folder of the official LA.zip; see the README\'s "Data")'
        if root.parent.is_dir() and (root.parent / "LA").is_dir() and root.name != "LA":
            fix = f"did you mean data.root={root.parent / 'LA'}?"
        what = "is not a folder" if root.exists() else "does not exist"
        raise FileNotFoundError(
            f"data.root={root} {what}: nothing is generated there. Fix: {fix}, or data=synthetic "
            "for the generated corpus"
        )
    proto = protocol_path(root, split)
    if not proto.is_file():
        hint = f" (did you mean data.root={root / 'LA'}?)" if (root / "LA").is_dir() else ""
        raise FileNotFoundError(
            f"protocol {proto} not found: {root} is not the ASVspoof 2019 LA folder{hint}. "
            f"Expected:\n{LAYOUT}"
        )


def read_corpus(corpus: str, root: Path, split: str, subsets: list[str] | None) -> CorpusTrials:
    """A split of another corpus, through its reader (which never opens the audio)."""
    splits = CORPUS_SPLITS[corpus]
    if split not in splits:
        raise ProtocolError(
            f"data.corpus={corpus} has no {split} split (it has: {', '.join(splits)}). Fix: "
            f"splits=[{','.join(s for s in splits if s != 'train')}] for eval.py, or "
            f"data.{split}_manifest=<csv> for your own {split} data"
        )
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise FileNotFoundError(
            f"data.root={root} {what}. Fix: data.root=<the {corpus} folder> (its layout and "
            'download page are in the README\'s "Data")'
        )
    if corpus.startswith("asvspoof2021"):  # its "split" is the subsets read
        return READERS[corpus](root, "all" if subsets is None else "+".join(subsets))
    return READERS[corpus](root, split)


def tandem_asv(corpus: str, root: Path, split: str, subsets: list[str] | None) -> TandemASV | None:
    """The organisers' ASV scores of ``split`` with the t-DCF of their challenge, where the corpus ships them:
    ASVspoof 2019 LA dev / eval (2019 t-DCF) and ASVspoof 2021 LA (the keys' ASV scores, 2021 t-DCF)."""
    if corpus == "asvspoof2019_la":
        path = asv_score_path(root, split)
        return TandemASV(read_asv_scores(path), ASVSPOOF2019, str(path)) if path.is_file() else None
    if corpus == "asvspoof2021_la" and split == "eval":
        scores = read_asvspoof2021_asv(root, subsets)
        source = " + ".join(str(root / name) for name in LA21_ASV_FILES)
        return None if scores is None else TandemASV(scores, ASVSPOOF2021, source)
    return None


def check_classes(split: str, trials: list[Trial], source: Path | None) -> None:
    """Training needs both classes (validation and test report an EER without one)."""
    bonafide = sum(t.label == BONAFIDE for t in trials)
    if split == "train" and (bonafide == 0 or bonafide == len(trials)):
        raise ProtocolError(
            f"{source}: the train split has {bonafide} bona fide and "
            f"{len(trials) - bonafide} spoof trials; training needs both. Fix: list trials of both "
            "classes (label bonafide / spoof)"
        )


def check_headers(trials: list[Trial], source: Path | None) -> None:
    """Raise an ``AudioError`` naming the files of ``trials`` whose header shows them unusable (counted, the
    first few listed): before the first step, not when the run reaches them (a damaged eval clip after all of
    training). Header reads are I/O-bound, so threads hide the storage's latency."""
    paths = [t.path for t in trials]
    with ThreadPoolExecutor(_HEADER_THREADS) as pool:
        found = zip(paths, pool.map(header_problem, paths), strict=True)
        damaged = [f"{path} {problem}" for path, problem in found if problem]
    if damaged:
        listed = _listing(damaged, len(trials), source, "damaged")
        raise AudioError(f"{listed}\nReplace them, or set data.on_bad_audio=skip to leave them out.")


def _listing(lines: list[str], total: int, source: Path | None, what: str) -> str:
    """``<n> of <total> audio files listed in <source> are <what>:`` and the first few ``lines``."""
    shown = "\n  ".join(lines[:_SHOW_MISSING])
    more = f"\n  ... and {len(lines) - _SHOW_MISSING} more" if len(lines) > _SHOW_MISSING else ""
    return f"{len(lines)} of {total} audio files listed in {source} are {what}:\n  {shown}{more}"


def drop_missing(trials: list[Trial], source: Path | None, on_bad_audio: str) -> list[Trial]:
    """``trials`` whose audio file exists: missing ones raise (``on_bad_audio="error"``) or are left out."""
    missing = [t for t in trials if not t.path.is_file()]
    if not missing:
        return trials
    msg = _listing([str(t.path) for t in missing], len(trials), source, "missing")
    if on_bad_audio == "error":
        raise FileNotFoundError(f"{msg}\nRestore them, or set data.on_bad_audio=skip to leave them out.")
    log.warning("%s\nLeaving them out (data.on_bad_audio=skip).", msg)
    missing_ids = {t.utt_id for t in missing}
    return [t for t in trials if t.utt_id not in missing_ids]
