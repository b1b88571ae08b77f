"""DET curve and score histogram PNGs (matplotlib Agg; no pyplot, so no global state or display needed)."""

from __future__ import annotations

import os
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from aasist_lightning.files import atomic_path
from aasist_lightning.metrics.eer import as_scores, det_curve, eer_from_det

# DET ticks (percent): the usual 0.1-40 % view, widened to the ticks just beyond the curve's smallest and
# largest rates so the whole curve shows (a model above 60 % EER, or below 0.1 %, is not cut off); a widened
# view keeps the _WIDE ticks only, which do not crowd.
_TICKS = (0.001, 0.01, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 60, 80, 90, 95, 99, 99.5, 99.9, 99.99, 99.999)
_WIDE = (0.001, 0.01, 0.1, 1, 5, 20, 40, 60, 80, 95, 99, 99.9, 99.99, 99.999)
_LOW, _HIGH = _TICKS.index(0.1), _TICKS.index(40)


def _probit(rates: np.ndarray) -> np.ndarray:
    """Normal deviate of each rate; only the distinct values are transformed (a DET curve repeats many)."""
    values, inverse = np.unique(rates, return_inverse=True)
    inv_cdf = NormalDist().inv_cdf
    # 0 and 1 have no deviate; clip them just outside the plotted range so the curve runs off the axes.
    deviates = np.array([inv_cdf(min(max(v, 1e-8), 1 - 1e-8)) for v in values])
    return deviates[inverse.reshape(-1)]


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG through the package's atomic writer."""
    with atomic_path(path) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return Path(path)


def det_ticks(frr: np.ndarray, far: np.ndarray) -> list[float]:
    """The DET axes' ticks (percent), the first and last being the axes' limits: at least 0.1-40 %, and out to
    the ticks beyond the smallest and largest rates of the curve's points that can be drawn (both rates
    strictly between 0 and 1: 0 and 1 have no normal deviate)."""
    frr, far = 100 * np.asarray(frr, float), 100 * np.asarray(far, float)
    drawn = (frr > 0) & (frr < 100) & (far > 0) & (far < 100)
    rates = np.concatenate([frr[drawn], far[drawn]])
    low, high = _LOW, _HIGH
    if rates.size:
        low = min(low, max(0, int(np.searchsorted(_TICKS, rates.min(), side="right")) - 1))
        high = max(high, min(len(_TICKS) - 1, int(np.searchsorted(_TICKS, rates.max(), side="left"))))
    ticks = list(_TICKS[low : high + 1])
    if (low, high) != (_LOW, _HIGH):
        ticks = [t for t in ticks if t in _WIDE or t in (ticks[0], ticks[-1])]
    return ticks


def _det_axes(ax: Axes, ticks: list[float], title: str) -> tuple[float, float]:
    """Normal-deviate axes from ``ticks[0]`` to ``ticks[-1]`` percent, labelled, with the EER diagonal."""
    lim = NormalDist().inv_cdf(ticks[0] / 100), NormalDist().inv_cdf(ticks[-1] / 100)
    tick_pos = [NormalDist().inv_cdf(t / 100) for t in ticks]
    tick_labels = [f"{t:g}" for t in ticks]
    ax.plot(lim, lim, ls=":", lw=0.8, color="grey")
    ax.set_xticks(tick_pos, tick_labels, fontsize=9)
    ax.set_yticks(tick_pos, tick_labels, fontsize=9)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_xlabel("False acceptance rate: spoof accepted (%)")
    ax.set_ylabel("Miss rate: bona fide rejected (%)")
    ax.set_title(title)
    ax.grid(True, ls="--", lw=0.5, alpha=0.6)
    return lim


def _det_points(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[np.ndarray, np.ndarray, float]:
    """(far, frr) at the corners of the DET staircase (same picture, far fewer points), and the EER."""
    frr, far, thresholds = det_curve(bonafide, spoof)
    eer, _ = eer_from_det(frr, far, thresholds)
    turn = np.ones(frr.size, dtype=bool)
    turn[1:-1] = (frr[1:-1] != frr[:-2]) | (far[1:-1] != far[2:])
    return far[turn], frr[turn], eer


def plot_det(
    bonafide: ArrayLike, spoof: ArrayLike, path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """DET curve on normal-deviate axes (x: spoof false-acceptance rate, y: bona fide miss rate) with the EER
    point marked; saved as PNG at ``path``, which is returned."""
    return plot_det_overlay({"CM": (bonafide, spoof)}, path, title or "DET curve", mark_eer=True)


def plot_det_overlay(
    curves: dict[str, tuple[ArrayLike, ArrayLike]],
    path: str | os.PathLike[str],
    title: str = "DET curves",
    mark_eer: bool = False,
) -> Path:
    """The DET curves of several (bona fide, spoof) score sets on one pair of axes covering them all, each
    labelled with its EER (``mark_eer``: the EER point marked too); saved as PNG at ``path``."""
    points = {name: _det_points(*scores) for name, scores in curves.items()}
    ticks = det_ticks(
        np.concatenate([frr for _, frr, _ in points.values()]),
        np.concatenate([far for far, _, _ in points.values()]),
    )
    fig = Figure(figsize=(5.5, 5.5), dpi=120)
    ax = fig.add_subplot()
    for i, (name, (far, frr, eer)) in enumerate(points.items()):
        label = name if mark_eer else f"{name} (EER {100 * eer:.2f} %)"
        ax.plot(_probit(far), _probit(frr), lw=1.5, color=f"C{i % 10}", label=label)
        if mark_eer:
            eer_dev = NormalDist().inv_cdf(min(max(eer, 1e-8), 1 - 1e-8))
            ax.plot([eer_dev], [eer_dev], "o", color="C3", label=f"EER = {100 * eer:.3f} %")
    _det_axes(ax, ticks, title)
    ax.legend(loc="upper right", fontsize="small")
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
