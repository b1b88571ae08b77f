"""Class-balanced subset selection (the paper's small fine-tuning set).

Rule: ``size`` trials, half bona fide and half spoof. The spoof half is split as evenly as possible
across attack types and the bona fide half across speakers (every group gets the same count, give or
take one; a group with too few trials gives all it has and the rest is spread over the others). Which
groups get the extra one, and which trials are drawn, depend only on ``seed``. ``None`` means every
trial. Zero, a negative or odd size raise a ``ValueError``, a size needing more trials of a class than exist
a ``ProtocolError`` (the data, not the number, may be what is wrong); both say what to use instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from aasist_lightning.data.protocols import BONAFIDE, ProtocolError, Trial
from aasist_lightning.values import is_integer


def _even_split(total: int, caps: dict[Hashable, int], rng: np.random.Generator) -> dict[Hashable, int]:
    """Split ``total`` over the keys of ``caps`` as evenly as the caps allow (water filling)."""
    alloc = dict.fromkeys(caps, 0)
    remaining = total
    while remaining > 0:
        open_keys = [k for k in caps if alloc[k] < caps[k]]
        share, extra = divmod(remaining, len(open_keys))
        if share == 0:
            # Fewer trials left than groups: a seeded draw decides which groups get one more.
            for i in rng.permutation(len(open_keys))[:extra]:
                alloc[open_keys[i]] += 1
            break
        for k in open_keys:
            give = min(share, caps[k] - alloc[k])
            alloc[k] += give
            remaining -= give
    return alloc


def _draw_grouped(
    trials: list[Trial], n: int, group_of: Callable[[Trial], str], rng: np.random.Generator
) -> list[Trial]:
    groups: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        groups[group_of(t)].append(t)
    keys = sorted(groups)
    alloc = _even_split(n, {k: len(groups[k]) for k in keys}, rng)
    chosen: list[Trial] = []
    for k in keys:
        members = sorted(groups[k], key=lambda t: t.utt_id)  # independent of the protocol's line order
        chosen.extend(members[i] for i in rng.choice(len(members), size=alloc[k], replace=False))
    return chosen


def balanced_subset(
    trials: Sequence[Trial], size: int | None, seed: int, name: str = "data.train_subset"
) -> list[Trial]:
    """Draw a balanced subset of ``size`` trials (see the module doc); ``None`` returns all trials.

    The result keeps the input order. ``name`` is the config key quoted in error messages.
    """
    if size is None:
        return list(trials)
    if not is_integer(size):
        raise ValueError(f"{name}={size!r} must be an even integer (half bona fide, half spoof) or null")
    size = int(size)
    if size <= 0:
        raise ValueError(
            f"{name}={size} selects no data: use a positive even number (half bona fide, half spoof) "
            "or null for the full set"
        )
    if size % 2:
        raise ValueError(
            f"{name}={size} is odd: use an even number (half bona fide, half spoof) or null for the full set"
        )
    bonafide = [t for t in trials if t.label == BONAFIDE]
    spoof = [t for t in trials if t.label != BONAFIDE]
    half = size // 2
    if half > len(bonafide) or half > len(spoof):
        largest = 2 * min(len(bonafide), len(spoof))
        raise ProtocolError(
            f"{name}={size} needs {half} bona fide and {half} spoof trials but the set has "
            f"{len(bonafide)} bona fide and {len(spoof)} spoof: use at most {largest}, or null for all"
        )
    rng = np.random.default_rng(seed)
    chosen = _draw_grouped(spoof, half, lambda t: t.attack, rng)
    chosen += _draw_grouped(bonafide, half, lambda t: t.speaker, rng)
    keep = {t.utt_id for t in chosen}
    return [t for t in trials if t.utt_id in keep]
