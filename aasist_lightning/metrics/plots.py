"""DET curve and score histogram PNGs (matplotlib Agg; no pyplot, so no global state or display needed)."""

from __future__ import annotations

import os
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from aasist_lightning.files import atomic_path
from aasist_lightning.metrics.eer import as_scores, det_curve, eer_from_det

# The usual DET ticks (percent); for EERs below 1 % the axes start at 0.01 % (fewer ticks there: they crowd).
_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40)
_FINE_TICKS = (0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 40)


def _probit(rates: np.ndarray) -> np.ndarray:
    """Normal deviate of each rate; only the distinct values are transformed (a DET curve repeats many)."""
    values, inverse = np.unique(rates, return_inverse=True)
    inv_cdf = NormalDist().inv_cdf
    # 0 and 1 have no deviate; clip them just outside the plotted range so the curve runs off the axes.
    deviates = np.array([inv_cdf(min(max(v, 1e-6), 1 - 1e-6)) for v in values])
    return deviates[inverse.reshape(-1)]


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG through the package's atomic writer."""
    with atomic_path(path) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return Path(path)


def plot_det(
    bonafide: ArrayLike, spoof: ArrayLike, path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """DET curve on normal-deviate axes (x: spoof false-acceptance rate, y: bona fide miss rate) with the EER
    point marked; saved as PNG at ``path``, which is returned."""
    frr, far, thresholds = det_curve(bonafide, spoof)
    eer, _ = eer_from_det(frr, far, thresholds)
    # Keep only the corners of the staircase: points where the curve turns. Same picture, far fewer points.
    turn = np.ones(frr.size, dtype=bool)
    turn[1:-1] = (frr[1:-1] != frr[:-2]) | (far[1:-1] != far[2:])
    ticks = _FINE_TICKS if eer < 0.01 else _TICKS
    lim = NormalDist().inv_cdf(ticks[0] / 100), NormalDist().inv_cdf(0.6)

    fig = Figure(figsize=(5.5, 5.5), dpi=120)
    ax = fig.add_subplot()
    ax.plot(_probit(far[turn]), _probit(frr[turn]), lw=1.5, color="C0", label="CM")
    ax.plot(lim, lim, ls=":", lw=0.8, color="grey")
    eer_dev = NormalDist().inv_cdf(min(max(eer, 1e-6), 1 - 1e-6))
    ax.plot([eer_dev], [eer_dev], "o", color="C3", label=f"EER = {100 * eer:.3f} %")
    tick_pos = [NormalDist().inv_cdf(t / 100) for t in ticks]
    tick_labels = [f"{t:g}" for t in ticks]
    ax.set_xticks(tick_pos, tick_labels, fontsize=9)
    ax.set_yticks(tick_pos, tick_labels, fontsize=9)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_xlabel("False acceptance rate: spoof accepted (%)")
    ax.set_ylabel("Miss rate: bona fide rejected (%)")
    ax.set_title(title or "DET curve")
    ax.grid(True, ls="--", lw=0.5, alpha=0.6)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_score_histogram(
    bonafide: ArrayLike, spoof: ArrayLike, path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """Normalised score histograms of the bona fide and spoof trials with the EER threshold marked; saved as
    PNG at ``path``, which is returned."""
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    eer, threshold = eer_from_det(*det_curve(bona, spf))
    edges = np.histogram_bin_edges(
        np.concatenate((bona, spf)), bins=min(100, max(10, (bona.size + spf.size) // 20))
    ).tolist()

    fig = Figure(figsize=(6.5, 4.0), dpi=120)
    ax = fig.add_subplot()
    ax.hist(spf, bins=edges, density=True, alpha=0.55, color="C3", label=f"spoof (n={spf.size})")
    ax.hist(bona, bins=edges, density=True, alpha=0.55, color="C0", label=f"bona fide (n={bona.size})")
    ax.axvline(
        threshold, color="k", ls="--", lw=1, label=f"EER threshold {threshold:.4g} (EER {100 * eer:.3f} %)"
    )
    ax.set_xlabel("CM score (higher = more bona fide)")
    ax.set_ylabel("density")
    ax.set_title(title or "Score distribution")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)
