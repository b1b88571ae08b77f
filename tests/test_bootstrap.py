"""metrics.bootstrap against known values: the weighted EER is the official EER at unit weights, intervals
cover the population EER of Gaussian scores at about their nominal rate, speaker blocks widen the interval
when a speaker's trials move together, and the paired test finds a planted difference and not a null one."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from aasist_lightning.metrics import compute_eer
from aasist_lightning.metrics.bootstrap import (
    MIN_SPEAKERS,
    bootstrap_eer,
    paired_bootstrap,
    spread,
    weighted_eer,
)

SEPARATION = 2.0
POPULATION_EER = NormalDist().cdf(-SEPARATION / 2)  # bona fide N(2, 1) against spoof N(0, 1): ~15.9 %


def gaussian_trials(seed: int, n_bona: int = 400, n_spoof: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n_bona, dtype=int), np.zeros(n_spoof, dtype=int)]
    return rng.normal(SEPARATION * labels, 1.0), labels


def test_weighted_eer_at_unit_weights_is_the_official_eer_even_with_ties() -> None:
    scores, labels = gaussian_trials(0)
    scores = np.round(scores, 1)  # many ties, where the official tie order matters
    expected = compute_eer(scores[labels == 1], scores[labels == 0])[0]
    got = weighted_eer(scores, labels == 1, np.ones((1, scores.size)))[0]
    assert got == expected
    doubled = weighted_eer(scores, labels == 1, np.full((1, scores.size), 2.0))[0]
    assert doubled == pytest.approx(expected)


def test_interval_covers_the_eer_of_the_sample_and_of_the_population() -> None:
    covered = 0
    for seed in range(30):
        scores, labels = gaussian_trials(seed)
        ci = bootstrap_eer(scores, labels, n_boot=200, seed=seed)
        assert ci.low <= ci.value <= ci.high and ci.method == "trials" and ci.n_boot == 200
        assert ci.value == compute_eer(scores[labels == 1], scores[labels == 0])[0]
        covered += ci.low <= POPULATION_EER <= ci.high
    assert covered >= 24  # nominal 95 %: 28.5 of 30


def test_same_seed_same_interval() -> None:
    scores, labels = gaussian_trials(1)
    first, again = (bootstrap_eer(scores, labels, n_boot=100, seed=3) for _ in range(2))
    assert first == again


def test_speaker_blocks_widen_the_interval_when_speakers_move_together() -> None:
    rng = np.random.default_rng(0)
    scores, labels = gaussian_trials(2)
    speakers = rng.integers(0, 20, scores.size)
    scores = scores + rng.normal(0, 1.0, 20)[speakers]  # each speaker shifts all of its trials
    by_trial = bootstrap_eer(scores, labels, n_boot=400)
    by_speaker = bootstrap_eer(scores, labels, speakers, n_boot=400)
    assert by_speaker.method == "speakers" and by_speaker.value == by_trial.value
    assert by_speaker.high - by_speaker.low > 1.3 * (by_trial.high - by_trial.low)
    few = bootstrap_eer(scores, labels, speakers % (MIN_SPEAKERS - 1), n_boot=50)
    assert few.method == "trials"  # too few speakers for blocks


def test_paired_test_finds_a_planted_difference() -> None:
    rng = np.random.default_rng(0)
    truth, labels = gaussian_trials(4)
    better = truth + rng.normal(0, 0.3, truth.size)
    worse = truth + rng.normal(0, 1.0, truth.size)  # noisier scores: a higher EER
    result = paired_bootstrap([better], [worse], labels, n_boot=500)
    assert result.eer_a < result.eer_b and result.p_value < 0.01
    assert result.difference.high < 0  # the interval excludes "no difference"


def test_paired_test_does_not_find_a_null_difference() -> None:
    rejected = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        truth, labels = gaussian_trials(seed)
        a, b = (truth + rng.normal(0, 0.5, truth.size) for _ in range(2))  # two equally good systems
        result = paired_bootstrap([a], [b], labels, n_boot=200, seed=seed)
        assert result.difference.low <= result.difference.value <= result.difference.high
        rejected += result.p_value < 0.05
    assert rejected <= 3  # nominal 5 %: 1 of 20


def test_groups_of_runs_compare_their_mean_eer() -> None:
    scores, labels = gaussian_trials(5)
    runs = [scores + d for d in (0.0, 0.01)]
    result = paired_bootstrap(runs, [scores], labels, n_boot=50)
    eers = [compute_eer(r[labels == 1], r[labels == 0])[0] for r in runs]
    assert result.eer_a == pytest.approx(np.mean(eers))


def test_spread_of_seeds() -> None:
    s = spread([1.0, 2.0, 3.0, float("nan")])
    assert (s.n, s.mean, s.std, s.min, s.max) == (3, 2.0, 1.0, 1.0, 3.0)
    assert spread([4.0]).std == 0.0
    with pytest.raises(ValueError, match="no values"):
        spread([])


@pytest.mark.parametrize(
    ("labels", "message"),
    [([1, 1, 1], "both bona fide and spoof"), ([1, 0], "2 labels for 3 scores"), ([1, 2, 0], "must be 1")],
)
def test_bad_labels(labels: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_eer([0.1, 0.2, 0.3], labels)
