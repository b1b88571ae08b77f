"""Sweep report: ``aasist-report <multirun folder> [--compare A B]``, also written at the end of every ``-m``
run by the Hydra callback :class:`SweepReport` (conf/hydra/default.yaml).

One row per job (its swept overrides as columns, val/eer_best, test/eer with its 95 % bootstrap interval,
min t-DCF, min DCF, Cllr, wall time, status and error), the seed groups (mean ± std, min, max) and the best
job, written as report.md, report.csv and report.json in the multirun folder with plots in plots/, and printed
as a table. ``--compare A B`` tells whether two runs or seed groups differ on the same eval trials (paired
bootstrap).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aasist_lightning.cli.arguments import ToolParser, number, run_tool
from aasist_lightning.cli.report_compare import compare
from aasist_lightning.cli.report_jobs import (
    OK,
    Job,
    ReportError,
    Sweep,
    eval_split_name,
    read_sweep,
    short_names,
)
from aasist_lightning.files import OutputPathError, atomic_outputs, check_outputs

PROG = "aasist-report"
REPORT_FILES = ("report.md", "report.csv", "report.json")
_FIX_DESTINATION = (
    "make it writable or move it away, then run aasist-report again (it writes its report in the multirun "
    "folder only; nothing was replaced)"
)
N_BOOT = 1000
_CSV_TAIL = ("wall_time_s", "status", "error")
#: Characters of a job's error in the tables, enough for a config error's key, value and fix (report.json and
#: the job's error.txt keep it whole).
_ERROR_WIDTH = 240

log = logging.getLogger(__name__)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _value(text: str) -> str:
    """An override value for the tables: Optuna's long floats (4.3284502212938785e-05) cut to 4 digits."""
    try:
        return f"{float(text):.4g}" if len(text) > 8 else text
    except ValueError:
        return text


def _ci(job: Job) -> str:
    ci = job.eer_ci
    return "" if ci is None else f"[{ci.low:.3g}, {ci.high:.3g}]"


def _ci_split(sweep: Sweep) -> str:
    """The name the sweep's jobs give their eval split (``test`` or ``eval``), for the interval's column."""
    return next((eval_split_name(j) for j in sweep.jobs if j.eer_ci), "test")


def table(sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    """The report's table as text: header and one row per job (the best job marked ★)."""
    names = short_names(sweep.params)
    header = ["job", *(names[p] for p in sweep.params), *sweep.metrics]
    ci_label = f"{_ci_split(sweep)}/eer 95% CI"
    header += [ci_label] if any(j.eer_ci for j in sweep.jobs) else []
    header += ["wall time (s)", "status", "error"]
    rows = []
    for job in sweep.jobs:
        row = [job.name + (" ★" if job.name == sweep.best else "")]
        row += [_value(job.overrides.get(p, "")) for p in sweep.params]
        row += [_fmt(job.metrics.get(m)) for m in sweep.metrics]
        row += [_ci(job)] if ci_label in header else []
        row += [_fmt(job.wall_time_s), job.status, _error_cell(job.error or "")]
        rows.append(row)
    return header, rows


def _error_cell(error: str) -> str:
    return error if len(error) <= _ERROR_WIDTH else f"{error[: _ERROR_WIDTH - 1]}…"


def group_table(sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    """Seed groups: their parameters, jobs and each metric as ``mean ± std [min, max]``."""
    names = short_names(sweep.params)
    params = [p for p in sweep.params if p != "seed"]
    header = [*(names[p] for p in params), "seeds", *sweep.metrics]
    rows = []
    for group in sweep.groups:
        row = [_value(group.params[p]) for p in params] + [str(len(group.jobs))]
        for metric in sweep.metrics:
            s = group.stats.get(metric)
            row.append("" if s is None else f"{s.mean:.4g} ± {s.std:.2g} [{s.min:.4g}, {s.max:.4g}]")
        rows.append(row)
    return header, rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def _summary(sweep: Sweep) -> str:
    counts = {s: sum(j.status == s for j in sweep.jobs) for s in dict.fromkeys(j.status for j in sweep.jobs)}
    return f"{len(sweep.jobs)} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def markdown(sweep: Sweep, plots: list[Path]) -> str:
    header, rows = table(sweep)
    parts = [
        f"# Sweep report: {sweep.path}",
        "",
        _summary(sweep) + ".",
        "",
        _markdown_table(header, rows),
        "",
    ]
    if sweep.best is not None:
        on_test = sweep.selection.split("/")[0] in ("test", "eval")
        why = "the test set itself" if on_test else "the validation metric, so the test set picks nothing"
        parts += [f"★ best job by {sweep.selection} ({why}).", ""]
    if any(j.eer_ci for j in sweep.jobs):
        ci = next(j.eer_ci for j in sweep.jobs if j.eer_ci)
        assert ci is not None
        how = (
            "whole speakers as blocks"
            if ci.method == "speakers"
            else "trials, bona fide and spoof separately"
        )
        parts += [
            f"{_ci_split(sweep)}/eer 95% CI: percentile bootstrap of the eval trials ({ci.n_boot} replicates "
            f"resampling {how}). Cllr reads the scores (bona fide logits) as log-likelihood ratios: it is "
            "only meaningful for calibrated scores.",
            "",
        ]
    if sweep.groups:
        parts += ["## Seed groups (mean ± std [min, max])", "", _markdown_table(*group_table(sweep)), ""]
    if sweep.optuna and "best_params" in sweep.optuna:
        best = ", ".join(f"{k}={v}" for k, v in sweep.optuna["best_params"].items())
        parts += [f"Optuna's best trial: {best} ({sweep.selection} = {sweep.optuna.get('best_value')}).", ""]
    if plots:
        parts += [
            "## Plots",
            "",
            *(f"![{p.stem}]({p.relative_to(sweep.path).as_posix()})" for p in plots),
            "",
        ]
    return "\n".join(parts)


def as_json(sweep: Sweep, plots: list[Path]) -> dict[str, Any]:
    ci_key = f"{_ci_split(sweep)}/eer_ci"  # named as the table's column (eval.py sweeps: eval/eer_ci)

    def job(j: Job) -> dict[str, Any]:
        ci = j.eer_ci
        return {
            "job": j.name,
            "path": str(j.path),
            "status": j.status,
            "error": j.error,
            "overrides": j.overrides,
            "params": {p: j.overrides.get(p) for p in sweep.params},
            "metrics": j.metrics,
            ci_key: None if ci is None else {**vars(ci)},
            "wall_time_s": j.wall_time_s,
            "best": j.name == sweep.best,
        }

    return {
        "sweep": str(sweep.path),
        "params": sweep.params,
        "metrics": sweep.metrics,
        "selection": sweep.selection,
        "best": sweep.best,
        "jobs": [job(j) for j in sweep.jobs],
        "seed_groups": [
            {"params": g.params, "jobs": g.jobs, "stats": {m: vars(s) for m, s in g.stats.items()}}
            for g in sweep.groups
        ],
        "optuna": sweep.optuna,
        "plots": [str(p) for p in plots],
    }


def _csv(sweep: Sweep) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    ci = f"{_ci_split(sweep)}/eer_ci"
    writer.writerow(["job", *sweep.params, *sweep.metrics, f"{ci}_low", f"{ci}_high", *_CSV_TAIL])
    for j in sweep.jobs:
        writer.writerow(
            [j.name, *(j.overrides.get(p, "") for p in sweep.params)]
            + [j.metrics.get(m, "") for m in sweep.metrics]
            + (["", ""] if j.eer_ci is None else [j.eer_ci.low, j.eer_ci.high])
            + [j.wall_time_s if j.wall_time_s is not None else "", j.status, j.error or ""]
        )
    return out.getvalue()


def print_table(sweep: Sweep, console: Console | None = None) -> None:
    header, rows = table(sweep)
    # Paths, overrides and errors are text, never rich markup ('[/A07]' would stop the report).
    rich_table = Table(title=escape(f"{sweep.path} ({_summary(sweep)})"), title_justify="left")
    for name in header:
        rich_table.add_column(escape(name), overflow="fold")
    for job, row in zip(sweep.jobs, rows, strict=True):
        rich_table.add_row(
            *map(escape, row),
            style="bold green" if job.name == sweep.best else (None if job.status == OK else "red"),
        )
    if console is None:
        console = Console()
        if not console.is_terminal:  # a log or a pipe: no 80-column fold of a wide table
            console = Console(width=240)
    console.print(rich_table)


def write_report(folder: str | Path, n_boot: int = N_BOOT, plots: bool = True) -> tuple[Sweep, list[Path]]:
    """Read a multirun folder and write report.md / .csv / .json (and plots/) in it, all replaced together
    or none (they must agree)."""
    folder = Path(folder)
    if folder.is_dir():  # (read_sweep names what else it is)
        _check_destinations([folder / name for name in REPORT_FILES])  # before the bootstrap
    sweep = read_sweep(folder, n_boot=n_boot)
    planned = [sweep.path / name for name in REPORT_FILES]
    if plots:
        from aasist_lightning.cli.report_plots import plot_paths, plot_sweep

        planned += plot_paths(sweep)
    images: list[Path] = []
    with atomic_outputs(_check_destinations(planned)) as outputs:
        if plots:
            images = plot_sweep(sweep, outputs)
        outputs.write_text(sweep.path / "report.md", markdown(sweep, images))
        outputs.write_text(sweep.path / "report.csv", _csv(sweep))
        outputs.write_text(sweep.path / "report.json", json.dumps(as_json(sweep, images), indent=2) + "\n")
    return sweep, images


def _check_destinations(paths: list[Path]) -> list[Path]:
    """:func:`check_outputs` with a fix that can be followed: aasist-report has no output option, so a file
    (or folder) in the way must change."""
    try:
        return check_outputs(paths, fix=_FIX_DESTINATION)
    except OutputPathError as error:
        raise ReportError(str(error)) from None


class SweepReport(Callback):
    """Hydra callback: the sweep report (and, when the jobs log to W&B, a summary run in their group) at the
    end of every multirun. A report that cannot be written is logged, never the end of the sweep."""

    def __init__(self, n_boot: int = N_BOOT, plots: bool = True) -> None:
        self.n_boot, self.plots = n_boot, plots

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        try:
            sweep, images = write_report(folder, self.n_boot, self.plots)
        except ReportError as error:
            log.warning("no sweep report: %s", error)
            return
        except Exception:
            log.exception("the sweep report of %s could not be written", folder)
            return
        print_table(sweep)
        log.info("sweep report: %s", folder / "report.md")
        wandb_cfg = OmegaConf.select(config, "logger.wandb")
        if wandb_cfg is not None and "_target_" in wandb_cfg:
            from aasist_lightning.lit.loggers import log_sweep_report

            try:
                log_sweep_report(wandb_cfg, str(folder), *table(sweep), images)
            except Exception:
                log.exception("the sweep report could not be logged to W&B (it is in %s)", folder)


def _run(args: Any) -> int:
    if args.compare:
        print(compare(args.folder, *args.compare, n_boot=args.bootstrap))
        return 0
    sweep, images = write_report(args.folder, int(args.bootstrap), plots=not args.no_plots)
    print_table(sweep)
    written = ", ".join(str(sweep.path / name) for name in REPORT_FILES)
    print(f"wrote {written}" + (f" and {len(images)} plots in {sweep.path / 'plots'}" if images else ""))
    return 0


def build_parser() -> ToolParser:
    parser = ToolParser(
        prog=PROG,
        description="Report of a Hydra multirun (train.py -m / eval.py -m): one row per job with its swept "
        "overrides and metrics, seed groups, bootstrap intervals and plots, written in the multirun folder.",
    )
    parser.add_argument("folder", type=Path, help="multirun folder, e.g. outputs/train/multiruns/<time>")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="compare two runs or seed groups of the folder on the same eval trials (paired bootstrap): "
        "each is job numbers ('0' or '0,1,2') or overrides that select jobs ('first_conv=128' or "
        "'first_conv=128,lr=1e-4'); prints the EER difference, its 95%% interval and a p-value",
    )
    parser.add_argument(
        "--bootstrap",
        type=number(int, 0, 100_000),
        default=N_BOOT,
        help=f"bootstrap replicates of the EER intervals (default {N_BOOT}; 0: no intervals)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write no plots")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console script ``aasist-report``."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.compare and args.bootstrap == 0:
        parser.error(f"--compare needs bootstrap replicates: drop --bootstrap 0 (default {N_BOOT})")
    return run_tool(PROG, args, _run, also=(ReportError,))


__all__ = ["SweepReport", "build_parser", "main", "write_report"]

if __name__ == "__main__":
    sys.exit(main())
