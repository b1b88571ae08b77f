"""Metric functions against the official ASVspoof 2019 results (goldens) and hand-computed cases."""

import math
import time
from pathlib import Path

import numpy as np
import pytest

from aasist_lightning.metrics import (
    ASVSPOOF2019,
    AsvScores,
    TDCFCostModel,
    act_dcf,
    act_dcf_threshold,
    cllr,
    compute_eer,
    compute_min_tdcf,
    det_curve,
    min_dcf,
    per_attack_eer,
    read_asv_scores,
    score_report,
)

GOLDEN_NAMES = [f"metrics_{i:02d}.npz" for i in range(6)]


@pytest.fixture(scope="module", params=GOLDEN_NAMES)
def golden(request, shared_dir: Path) -> dict[str, np.ndarray]:
    path = shared_dir / "goldens" / "metrics" / request.param
    if not path.is_file():
        pytest.skip(f"{path} missing")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def test_eer_matches_official_golden(golden):
    eer, threshold = compute_eer(golden["bonafide"], golden["spoof"])
    assert abs(eer - golden["eer"]) <= 1e-9
    assert abs(threshold - golden["eer_threshold"]) <= 1e-9


def test_min_tdcf_matches_official_golden(golden):
    asv = golden["asv_target"], golden["asv_nontarget"], golden["asv_spoof"]
    assert abs(compute_min_tdcf(golden["bonafide"], golden["spoof"], *asv) - golden["min_tdcf"]) <= 1e-9


def test_goldens_include_ties(shared_dir):
    tied = []
    for name in GOLDEN_NAMES:
        with np.load(shared_dir / "goldens" / "metrics" / name) as d:
            scores = np.concatenate((d["bonafide"], d["spoof"]))
            tied.append(np.unique(scores).size < scores.size)
    assert any(tied)


def test_official_cost_model_dict_gives_the_same_result(golden):
    official = {"Pspoof": 0.05, "Ptar": 0.95 * 0.99, "Pnon": 0.95 * 0.01}
    official |= {"Cmiss": 1, "Cfa": 10, "Cmiss_asv": 1, "Cfa_asv": 10, "Cmiss_cm": 1, "Cfa_cm": 10}
    args = (
        golden["bonafide"],
        golden["spoof"],
        golden["asv_target"],
        golden["asv_nontarget"],
        golden["asv_spoof"],
    )
    assert compute_min_tdcf(*args, cost_model=official) == compute_min_tdcf(*args, cost_model=ASVSPOOF2019)


def test_cost_model_validation():
    with pytest.raises(ValueError, match="sum to one"):
        TDCFCostModel(p_spoof=0.1, p_tar=0.9, p_non=0.1)
    with pytest.raises(ValueError, match="non-negative"):
        TDCFCostModel(p_spoof=0.05, p_tar=0.9405, p_non=0.0095, c_fa_cm=-1)
    with pytest.raises(ValueError, match="Cmiss_cm"):
        TDCFCostModel.from_official({"Pspoof": 0.05, "Ptar": 0.9405, "Pnon": 0.0095})


def test_det_curve_shape_and_ends():
    rng = np.random.default_rng(0)
    bona, spoof = rng.normal(1, 1, 300), rng.normal(-1, 1, 500)
    frr, far, thr = det_curve(bona, spoof)
    assert frr.shape == far.shape == thr.shape == (801,)
    assert (frr[0], far[0], frr[-1], far[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert np.all(np.diff(frr) >= 0) and np.all(np.diff(far) <= 0)
    assert thr[0] == pytest.approx(min(bona.min(), spoof.min()) - 0.001)


def test_eer_simple_cases():
    # Official convention: the threshold of DET point i is the i-th lowest score, the last one rejected.
    assert compute_eer([1.0, 2.0, 3.0], [-1.0, -2.0]) == (0.0, -1.0)
    eer, _ = compute_eer([0.0, 1.0], [0.5, 2.0])
    assert eer == 0.5


def _brute_force_min_dcf(bona, spoof, p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    """Untied scores only: every DET point is the threshold at one sorted score, plus 'reject all'."""
    costs = []
    for t in [*np.sort(np.concatenate((bona, spoof))), np.inf]:
        p_miss, p_fa = np.mean(bona < t), np.mean(spoof >= t)
        costs.append(c_miss * (1 - p_spoof) * p_miss + c_fa * p_spoof * p_fa)
    return min(costs) / min(c_miss * (1 - p_spoof), c_fa * p_spoof)


def test_min_dcf_equals_brute_force():
    rng = np.random.default_rng(1)
    bona, spoof = rng.normal(2, 1, 200), rng.normal(-1, 1.5, 700)
    assert min_dcf(bona, spoof) == pytest.approx(_brute_force_min_dcf(bona, spoof), abs=1e-12)
    assert min_dcf(bona, spoof, p_spoof=0.3, c_fa=3) == pytest.approx(
        _brute_force_min_dcf(bona, spoof, 0.3, 1.0, 3.0), abs=1e-12
    )
    assert 0 <= min_dcf(bona, spoof) <= 1


def test_act_dcf_hand_computed():
    assert act_dcf_threshold() == pytest.approx(-math.log(1.9))
    # threshold -0.642: bona fide -1 is missed (1/4), spoof -0.5 is accepted (1/4).
    value = act_dcf([-1.0, 0.0, 1.0, 2.0], [-2.0, -0.5, -3.0, -4.0])
    assert value == pytest.approx((0.95 * 0.25 + 10 * 0.05 * 0.25) / 0.5)


def test_cllr_hand_computed():
    assert cllr([0.0, 0.0], [0.0]) == pytest.approx(1.0)
    assert cllr([math.log(3)], [-math.log(3)]) == pytest.approx(math.log2(4 / 3))
    assert cllr([1000.0], [-1000.0]) == pytest.approx(0.0)
    assert math.isfinite(cllr([-1000.0], [1000.0]))  # the official log1p(exp(.)) overflows here


def test_per_attack_eer_pairs_each_attack_with_all_bonafide():
    rng = np.random.default_rng(2)
    bona = rng.normal(1, 1, 100)
    spoof = rng.normal(-1, 1, 90)
    attacks = ["A10", "A02", "A07"] * 30
    result = per_attack_eer(bona, spoof, attacks)
    assert list(result) == ["A02", "A07", "A10"]
    for attack, eer in result.items():
        assert eer == compute_eer(bona, spoof[np.array(attacks) == attack])[0]
    with pytest.raises(ValueError, match="3 attack names for 90 spoof scores"):
        per_attack_eer(bona, spoof, attacks[:3])


def test_score_report_keys_and_units(golden):
    scores = np.concatenate((golden["bonafide"], golden["spoof"]))
    labels = np.r_[np.ones(golden["bonafide"].size), np.zeros(golden["spoof"].size)].astype(int)
    attacks = ["-"] * golden["bonafide"].size + ["A01", "A02"] * (golden["spoof"].size // 2)
    attacks += ["A01"] * (len(scores) - len(attacks))
    asv = AsvScores(golden["asv_target"], golden["asv_nontarget"], golden["asv_spoof"])
    report = score_report(scores, labels, attacks, asv=asv)
    assert abs(report["eer"] - 100 * golden["eer"]) <= 1e-7
    assert abs(report["min_tdcf"] - golden["min_tdcf"]) <= 1e-9
    assert report["eer_threshold"] == pytest.approx(float(golden["eer_threshold"]), abs=1e-9)
    assert set(report["per_attack_eer"]) == {"A01", "A02"}
    assert (report["n_bonafide"], report["n_spoof"]) == (golden["bonafide"].size, golden["spoof"].size)
    no_asv = score_report(scores, labels, attacks)
    assert no_asv["min_tdcf"] is None and no_asv["eer"] == report["eer"]


def test_score_report_rejects_bad_labels():
    with pytest.raises(ValueError, match="3 scores, 2 labels"):
        score_report([0.1, 0.2, 0.3], [1, 0], ["-", "A01", "A02"])
    with pytest.raises(ValueError, match=r"1 \(bona fide\) or 0 \(spoof\)"):
        score_report([0.1, 0.2, 0.3], [1, 0, 2], ["-", "A01", "A02"])


@pytest.mark.parametrize("fn", [compute_eer, min_dcf, act_dcf, cllr])
def test_bad_scores_raise_clear_errors(fn):
    with pytest.raises(ValueError, match=r"1 spoof score\(s\) are NaN or infinite \(first at index 1"):
        fn([0.1, 0.2, 0.3], [0.0, np.nan, 0.5])
    with pytest.raises(ValueError, match="1 bona fide score"):
        fn([0.1, np.inf], [0.0, 0.5])
    with pytest.raises(ValueError, match="no spoof scores: both classes"):
        fn([0.1, 0.2], [])


def test_min_tdcf_rejects_hard_decisions():
    asv = np.array([2.0, 3.0]), np.array([-1.0, 0.0]), np.array([1.0, 0.5])
    with pytest.raises(ValueError, match="only 2 distinct value"):
        compute_min_tdcf([1.0, 1.0, 1.0], [0.0, 0.0], *asv)


def test_read_asv_scores(asv_eval_scores):
    asv = read_asv_scores(asv_eval_scores)
    assert (asv.target.size, asv.nontarget.size, asv.spoof.size) == (5370, 33327, 63882)


def test_eer_is_vectorised():
    rng = np.random.default_rng(3)
    bona, spoof = rng.normal(1, 1, 100_000), rng.normal(-1, 1, 100_000)
    start = time.perf_counter()
    compute_eer(bona, spoof)
    # ~0.05 s here; an O(n^2) implementation would take minutes. Generous for a busy machine.
    assert time.perf_counter() - start < 10
