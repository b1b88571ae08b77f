"""Affine LLR calibration (prior-weighted logistic regression) and min Cllr (PAV)."""

from __future__ import annotations

import numpy as np
import pytest

from aasist_lightning.metrics import cllr
from aasist_lightning.metrics.calibration import (
    Calibration,
    bayes_threshold,
    fit_calibration,
    min_cllr,
    pav_llrs,
    posterior,
)


def calibrated_gaussians(n: int = 20000, mu: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """LLRs that are calibrated by construction: N(±mu, 2·mu) classes have LLR(x) = x."""
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(2 * mu)
    return rng.normal(mu, sigma, n), rng.normal(-mu, sigma, n)


def test_fit_recovers_a_known_affine_map() -> None:
    bona_llr, spoof_llr = calibrated_gaussians()
    scale, offset = 0.25, -3.0  # raw = (llr - offset) / scale, so the fit must find (scale, offset)
    bona_raw, spoof_raw = (bona_llr - offset) / scale, (spoof_llr - offset) / scale
    fitted = fit_calibration(bona_raw, spoof_raw)
    assert fitted.scale == pytest.approx(scale, rel=0.03)
    assert fitted.offset == pytest.approx(offset, abs=0.1)
    np.testing.assert_allclose(fitted(bona_raw[:5]), bona_llr[:5], atol=0.3)


def test_calibration_lowers_the_cllr_of_a_miscalibrated_set_to_near_min_cllr() -> None:
    bona_llr, spoof_llr = calibrated_gaussians(seed=1)
    bona_raw, spoof_raw = 5 * bona_llr + 4, 5 * spoof_llr + 4  # overconfident and shifted
    fitted = fit_calibration(bona_raw, spoof_raw)
    before, after = cllr(bona_raw, spoof_raw), cllr(fitted(bona_raw), fitted(spoof_raw))
    floor = min_cllr(bona_raw, spoof_raw)
    assert before > 1.0  # worse than no information
    assert floor <= after < 0.6 * before
    assert after - floor < 0.01  # an affine map is all these Gaussian scores need


def test_min_cllr_is_invariant_to_monotonic_maps_and_bounded() -> None:
    bona, spoof = calibrated_gaussians(n=3000, seed=2)
    assert min_cllr(bona, spoof) == pytest.approx(min_cllr(np.exp(bona / 3), np.exp(spoof / 3)))
    assert 0 < min_cllr(bona, spoof) <= cllr(bona, spoof)
    assert min_cllr([2.0, 3.0], [0.0, 1.0]) == 0.0  # separable
    assert min_cllr([1.0, 1.0], [1.0, 1.0]) == pytest.approx(1.0)  # all tied: no information


def test_pav_llrs_are_monotonic_in_the_score() -> None:
    rng = np.random.default_rng(3)
    bona, spoof = rng.normal(1, 1, 500), rng.normal(0, 1, 700)
    llr_bona, llr_spoof = pav_llrs(bona, spoof)
    scores = np.concatenate([bona, spoof])
    llrs = np.concatenate([llr_bona, llr_spoof])
    ordered = llrs[np.argsort(scores, kind="stable")]
    assert np.all(ordered[1:] >= ordered[:-1])


def test_posterior_and_bayes_threshold() -> None:
    assert posterior([0.0])[0] == pytest.approx(0.5)
    assert posterior([bayes_threshold(0.2)], prior=0.2)[0] == pytest.approx(0.5)
    assert Calibration(2.0, 1.0)([1.0])[0] == 3.0
    with pytest.raises(ValueError, match="prior"):
        posterior([0.0], prior=1.0)
