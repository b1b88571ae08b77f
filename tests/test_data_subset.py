"""Balanced subset selection, on the real ASVspoof 2019 LA train / dev protocols and on edge cases."""

from collections import Counter
from pathlib import Path

import pytest

from aasist_lightning.data import BONAFIDE, SPOOF, Trial, balanced_subset, read_protocol


@pytest.fixture(scope="module")
def train_trials(shared_dir: Path) -> list[Trial]:
    return read_protocol(shared_dir / "asvspoof2019/protocols/ASVspoof2019.LA.cm.train.trn.txt", Path("/x"))


def _spread(counter: Counter) -> int:
    return max(counter.values()) - min(counter.values())


def test_paper_subset_of_1000(train_trials: list[Trial]) -> None:
    subset = balanced_subset(train_trials, 1000, seed=0)
    assert len(subset) == 1000
    assert Counter(t.label for t in subset) == {BONAFIDE: 500, SPOOF: 500}
    attacks = Counter(t.attack for t in subset if t.label == SPOOF)
    assert sorted(attacks) == [f"A{i:02d}" for i in range(1, 7)]
    assert set(attacks.values()) <= {83, 84} and _spread(attacks) <= 1
    speakers = Counter(t.speaker for t in subset if t.label == BONAFIDE)
    all_speakers = {t.speaker for t in train_trials if t.label == BONAFIDE}
    assert set(speakers) == all_speakers and len(all_speakers) == 20
    assert set(speakers.values()) == {25}  # 500 / 20 speakers
    # Returned in protocol order, no duplicates.
    order = {t.utt_id: i for i, t in enumerate(train_trials)}
    assert [order[t.utt_id] for t in subset] == sorted(order[t.utt_id] for t in subset)
    assert len({t.utt_id for t in subset}) == 1000


def test_subset_seed_determinism_and_variation(train_trials: list[Trial]) -> None:
    ids = {seed: [t.utt_id for t in balanced_subset(train_trials, 1000, seed)] for seed in (0, 1)}
    assert ids[0] == [t.utt_id for t in balanced_subset(train_trials, 1000, 0)]
    overlap = len(set(ids[0]) & set(ids[1]))
    assert overlap < 200  # ~1000 * 1000 / 25380 expected by chance
    # Which attacks get the extra trial also depends on the seed.
    extras = set()
    for seed in range(6):
        attacks = Counter(t.attack for t in balanced_subset(train_trials, 1000, seed) if t.label == SPOOF)
        extras.add(tuple(sorted(a for a, n in attacks.items() if n == 84)))
    assert len(extras) > 1


def test_subset_independent_of_protocol_order(train_trials: list[Trial]) -> None:
    a = {t.utt_id for t in balanced_subset(train_trials, 200, 7)}
    b = {t.utt_id for t in balanced_subset(train_trials[::-1], 200, 7)}
    assert a == b


@pytest.mark.parametrize("size", [2, 14, 40, 5160])
def test_subset_sizes(train_trials: list[Trial], size: int) -> None:
    subset = balanced_subset(train_trials, size, seed=3)
    assert Counter(t.label for t in subset) == {BONAFIDE: size // 2, SPOOF: size // 2}
    per_attack = Counter(t.attack for t in subset if t.label == SPOOF)
    assert _spread(Counter({f"A0{i}": per_attack[f"A0{i}"] for i in range(1, 7)})) <= 1
    if size <= 40:  # below the smallest speaker's count every speaker can get an even share
        per_speaker = Counter(t.speaker for t in subset if t.label == BONAFIDE)
        assert max(per_speaker.values()) - (min(per_speaker.values()) if len(per_speaker) == 20 else 0) <= 1


def test_dev_subset(shared_dir: Path) -> None:
    dev = read_protocol(shared_dir / "asvspoof2019/protocols/ASVspoof2019.LA.cm.dev.trl.txt", Path("/x"))
    subset = balanced_subset(dev, 5096, seed=0, name="data.dev_subset")
    assert Counter(t.label for t in subset) == {BONAFIDE: 2548, SPOOF: 2548}
    assert set(Counter(t.attack for t in subset if t.label == SPOOF).values()) <= {424, 425}


def test_subset_none_is_everything(train_trials: list[Trial]) -> None:
    assert balanced_subset(train_trials, None, 0) == train_trials


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (7, r"data.train_subset=7 is odd: use an even number \(half bona fide, half spoof\) or null"),
        (0, "data.train_subset=0 selects no data: use a positive even number"),
        (-4, "data.train_subset=-4 selects no data"),
        (
            5162,
            "needs 2581 bona fide and 2581 spoof trials but the set has 2580 bona fide and 22800 spoof: "
            "use at most 5160",
        ),
        (10.0, "must be an even integer"),
        (True, "must be an even integer"),
    ],
)
def test_subset_bad_sizes(train_trials: list[Trial], size: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        balanced_subset(train_trials, size, 0)  # type: ignore[arg-type]


def _trial(i: int, label: int, attack: str = "-", speaker: str = "s") -> Trial:
    return Trial(f"U{i:04d}", Path(f"/x/U{i:04d}.flac"), label, attack, speaker)


def test_small_groups_give_all_they_have() -> None:
    # Attack B has only 2 trials: it gives both, the other attacks share the rest evenly.
    trials = [_trial(i, SPOOF, "A") for i in range(50)] + [_trial(50 + i, SPOOF, "B") for i in range(2)]
    trials += [_trial(60 + i, SPOOF, "C") for i in range(50)]
    trials += [_trial(200 + i, BONAFIDE, speaker=f"s{i % 3}") for i in range(30)]
    subset = balanced_subset(trials, 40, seed=0)
    assert Counter(t.attack for t in subset if t.label == SPOOF) == {"A": 9, "B": 2, "C": 9}
    assert set(Counter(t.speaker for t in subset if t.label == BONAFIDE).values()) == {6, 7}
