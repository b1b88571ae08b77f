"""The per-trial score record of an evaluation and the one writer of AASIST score files.

A score file has one line per trial, ``utt_id attack key score``, with ``key`` ``bonafide`` / ``spoof`` and
``score`` the bona fide logit (``logits[:, 1]``), as the official code writes it; :mod:`metrics.io` reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aasist_lightning.files import atomic_write_text


@dataclass
class EvalScores:
    """Per-trial outputs of one validation / test epoch (one row per unique utterance)."""

    utt_ids: list[str] = field(default_factory=list)
    attacks: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # logits[:, 1]: the official CM score
    llrs: list[float] = field(default_factory=list)  # logits[:, 1] - logits[:, 0]: aasist-predict's score
    losses: list[float] = field(default_factory=list)  # class-weighted per-trial loss
    weights: list[float] = field(default_factory=list)  # the class weight of each trial (loss denominator)
    correct: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.utt_ids)

    def extend(self, other: EvalScores) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))

    def unique(self) -> EvalScores:
        """Drop repeated utterances (a DistributedSampler pads the last batch with trials already seen)."""
        seen: set[str] = set()
        out = EvalScores()
        for i, utt in enumerate(self.utt_ids):
            if utt in seen:
                continue
            seen.add(utt)
            for name in self.__dataclass_fields__:
                getattr(out, name).append(getattr(self, name)[i])
        return out

    def split(self, values: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """(bona fide, spoof) arrays of `values`."""
        v = np.asarray(values, dtype=np.float64)
        labels = np.asarray(self.labels)
        return v[labels == 1], v[labels == 0]

    def lines(self) -> list[str]:
        """AASIST score-file lines `utt_id attack key score` (key `bonafide` / `spoof`)."""
        return [
            f"{u} {a} {'bonafide' if y == 1 else 'spoof'} {s}"
            for u, a, y, s in zip(self.utt_ids, self.attacks, self.labels, self.scores, strict=True)
        ]


def write_score_file(path: str | os.PathLike[str], rows: EvalScores) -> Path:
    """Write ``rows`` as an AASIST score file, atomically."""
    return atomic_write_text(path, "\n".join(rows.lines()) + "\n")


__all__ = ["EvalScores", "write_score_file"]
