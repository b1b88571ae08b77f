"""The sweep report's plots: each metric against each swept parameter, and a DET overlay of the best runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from aasist_lightning.cli.report_jobs import OK, SEED, Job, Sweep, short_names
from aasist_lightning.files import Outputs
from aasist_lightning.metrics import det_curve, read_score_file
from aasist_lightning.metrics.bootstrap import spread
from aasist_lightning.metrics.plots import _TICKS, _probit, save_figure

PLOTS_DIR = "plots"
DET_RUNS = 5  # runs in the DET overlay


def _order(values: set[str]) -> list[str]:
    """Numbers in numeric order, other values alphabetically after them."""

    def key(v: str) -> tuple[int, float, str]:
        try:
            return 0, float(v), v
        except ValueError:
            return 1, 0.0, v

    return sorted(values, key=key)


def plot_metric(sweep: Sweep, metric: str, path: Path) -> Path:
    """One panel per swept parameter (x: its values; one series per setting of the other parameters; the
    points are the mean over seeds, the error bars their standard deviation)."""
    params = [p for p in sweep.params if p != SEED] or list(sweep.params)
    names = short_names(sweep.params)
    jobs = [j for j in sweep.jobs if j.status == OK and metric in j.metrics]
    fig = Figure(figsize=(4.2 * max(1, len(params)), 3.6), dpi=110)
    for i, param in enumerate(params):
        ax = fig.add_subplot(1, max(1, len(params)), i + 1)
        xs = _order({j.overrides.get(param, "") for j in jobs})
        others = [p for p in params if p not in (param, SEED)]
        series: dict[str, list[Job]] = {}
        for job in jobs:
            label = ", ".join(f"{names[p]}={job.overrides.get(p, '')}" for p in others) or metric
            series.setdefault(label, []).append(job)
        for k, (label, members) in enumerate(sorted(series.items())):
            points = []
            for x, value in enumerate(xs):
                vals = [j.metrics[metric] for j in members if j.overrides.get(param, "") == value]
                if vals:
                    s = spread(vals)
                    points.append((x + 0.04 * (k - len(series) / 2), s.mean, s.std))
            if points:
                px, py, pe = zip(*points, strict=True)
                ax.errorbar(px, py, yerr=pe, marker="o", capsize=3, label=label)
        ax.set_xticks(range(len(xs)), xs, fontsize=8)
        ax.set_xlabel(names.get(param, param))
        ax.set_ylabel(metric)
        ax.grid(True, ls="--", lw=0.5, alpha=0.6)
        if len(series) > 1:
            ax.legend(fontsize="x-small")
    fig.suptitle(f"{metric} per swept parameter (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def best_runs(sweep: Sweep, n: int = DET_RUNS) -> list[Job]:
    """The ``n`` best scored runs (lowest selection metric), those of the DET overlay."""
    return sorted(
        (j for j in sweep.jobs if j.eval_scores is not None and sweep.selection in j.metrics),
        key=lambda j: j.metrics[sweep.selection],
    )[:n]


def plot_det_overlay(sweep: Sweep, runs: list[Job], path: Path) -> Path:
    """DET curves of ``runs`` (:func:`best_runs`) on the eval trials."""
    names = short_names(sweep.params)
    lim = _probit(np.array([_TICKS[0] / 100, 0.6]))
    fig = Figure(figsize=(6, 6), dpi=110)
    ax = fig.add_subplot()
    for job in runs:
        assert job.eval_scores is not None
        scores = read_score_file(job.eval_scores)
        if scores.labels is None:
            continue
        frr, far, _ = det_curve(scores.scores[scores.labels == 1], scores.scores[scores.labels == 0])
        setting = ", ".join(f"{names[p]}={job.overrides.get(p, '')}" for p in sweep.params)
        ax.plot(_probit(far), _probit(frr), lw=1.3, label=f"job {job.name}: {setting}"[:60])
    ticks = _probit(np.array(_TICKS) / 100)
    ax.plot(lim, lim, ls=":", lw=0.8, color="grey")
    ax.set_xticks(ticks, [f"{t:g}" for t in _TICKS], fontsize=8)
    ax.set_yticks(ticks, [f"{t:g}" for t in _TICKS], fontsize=8)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_xlabel("False acceptance rate: spoof accepted (%)")
    ax.set_ylabel("Miss rate: bona fide rejected (%)")
    ax.set_title(f"DET (eval) of the {len(runs)} best runs by {sweep.selection}", fontsize=10)
    ax.grid(True, ls="--", lw=0.5, alpha=0.6)
    ax.legend(fontsize="x-small", loc="upper right")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_paths(sweep: Sweep) -> dict[Path, str | None]:
    """Every plot of the report, in ``<sweep>/plots/``: path -> its metric (None: the DET overlay); none when
    no job finished."""
    folder = sweep.path / PLOTS_DIR
    metrics = sweep.metrics if sweep.params else []  # nothing swept: nothing to plot against
    paths: dict[Path, str | None] = {folder / f"{m.replace('/', '_')}.png": m for m in metrics}
    return paths | ({folder / "det_best.png": None} if best_runs(sweep) else {})


def plot_sweep(sweep: Sweep, outputs: Outputs) -> list[Path]:
    """Write every plot of :func:`plot_paths` as one of the report's ``outputs`` (replaced with the report's
    files, or not at all); returns their paths."""
    planned = plot_paths(sweep)
    for path, metric in planned.items():
        with outputs.write(path) as tmp:
            if metric is None:
                plot_det_overlay(sweep, best_runs(sweep), tmp)
            else:
                plot_metric(sweep, metric, tmp)
    return list(planned)


__all__ = ["PLOTS_DIR", "plot_paths", "plot_sweep"]
