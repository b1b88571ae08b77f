"""Reading a Hydra multirun folder for ``aasist-report``: one :class:`Job` per job folder (finished, failed
or interrupted), the swept parameters, seed groups and the best job.

Layout (Hydra): ``<sweep>/multirun.yaml`` and ``<sweep>/<job>/.hydra/{config,overrides,hydra}.yaml``; a
finished job also has ``results.json`` (train.py / eval.py), a failed or interrupted one the ``error.txt``
that the error boundary writes (:func:`aasist_lightning.cli.errors.read_job_error`), or nothing when it was
killed.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from aasist_lightning.cli.errors import JOB_ERROR_FILE, read_job_error
from aasist_lightning.metrics import cllr, min_dcf, read_score_file
from aasist_lightning.metrics.bootstrap import Interval, Spread, bootstrap_eer, spread

#: The report's metric columns, in this order, when any job has them (EERs in percent).
METRICS = ("val/eer_best", "test/eer", "test/min_tdcf", "test/min_dcf", "test/cllr")
# Other splits' headline measures (eval.py's eval/eer ...) are columns too; val/eer (the last epoch's) is not.
_MEASURES = ("/eer", "/min_tdcf", "/min_dcf", "/cllr")
SEED = "seed"
EVAL_SCORES = Path("scores") / "eval.txt"  # where train.py and eval.py write a job's eval scores
log = logging.getLogger(__name__)
OK, FAILED, INTERRUPTED, NOT_STARTED = "ok", "failed", "interrupted", "not started"


class ReportError(ValueError):
    """A folder that is not a multirun (or holds no job); the message names it."""


@dataclass
class Job:
    """One job of the sweep: overrides, status, metrics and (when scored) the eval scores' EER interval."""

    name: str
    path: Path
    overrides: dict[str, str]
    status: str
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    wall_time_s: float | None = None
    eval_scores: Path | None = None
    eer_ci: Interval | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple[int, str]:
        return (int(self.name), "") if self.name.isdigit() else (1 << 30, self.name)


@dataclass
class Group:
    """Jobs that differ only in ``seed``: their parameters and each metric's spread."""

    params: dict[str, str]
    jobs: list[str]
    stats: dict[str, Spread]


@dataclass
class Sweep:
    path: Path
    jobs: list[Job]
    params: list[str]  # swept override keys (seed last)
    metrics: list[str]
    selection: str  # the metric that picks the best job (the config's optimized_metric)
    best: str | None
    groups: list[Group]
    optuna: dict[str, Any] | None


def parse_overrides(lines: list[str]) -> dict[str, str]:
    """``key=value`` task overrides as a dict; ``+key``/``++key`` count as ``key``, ``~key`` as deleted."""
    out: dict[str, str] = {}
    for line in lines:
        key, eq, value = str(line).partition("=")
        if key.startswith("~"):
            out[key[1:]] = "deleted" if not eq else f"deleted ({value})"
        else:
            out[key.lstrip("+")] = value
    return out


def _job_folders(folder: Path) -> list[Path]:
    """The job folders of a multirun (``multirun.yaml`` is written by the basic sweeper, not by Optuna's)."""
    if not folder.is_dir():
        problem = f"{folder} is not a folder" if folder.exists() else f"{folder}: no such folder"
        raise ReportError(f"{problem}; give a multirun folder (outputs/<task>/multiruns/<time>)")
    jobs = [p.parent.parent for p in folder.glob("*/.hydra/overrides.yaml")]
    if not jobs and not (folder / "multirun.yaml").is_file():
        single = " (it is a single run's folder)" if (folder / ".hydra").is_dir() else ""
        raise ReportError(
            f"{folder} is not a Hydra multirun folder{single}: no multirun.yaml and no <job>/.hydra; give "
            "the folder of a `-m` run, e.g. outputs/train/multiruns/<time>"
        )
    if not jobs:
        raise ReportError(f"{folder}: the multirun holds no job yet (no <job>/.hydra/overrides.yaml)")
    return jobs


def planned_jobs(folder: Path) -> list[list[str]] | None:
    """Every job's overrides as the basic sweeper planned them from ``multirun.yaml`` (None for another
    sweeper, e.g. Optuna's, whose trials are not known in advance)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        hydra_cfg = yaml.safe_load((folder / "multirun.yaml").read_text(encoding="utf-8"))["hydra"]
        if not str(hydra_cfg["sweeper"]["_target_"]).endswith(".BasicSweeper"):
            return None
        params = [f"{k}={v}" for k, v in (hydra_cfg["sweeper"].get("params") or {}).items()]
        parsed = OverridesParser.create().parse_overrides([*params, *hydra_cfg["overrides"]["task"]])
        return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, HydraException):
        return None  # no multirun.yaml, or one this reader does not know: only the folders are reported


def eval_speakers(config: dict[str, Any], utt_ids: list[str]) -> np.ndarray | None:
    """The eval trials' speaker ids from the run's eval manifest or ASVspoof 2019 protocol (``config``: the
    run's resolved config), when it names a speaker for every scored trial; else None."""
    from aasist_lightning.data.protocols import (
        UNKNOWN_SPEAKER,
        audio_dir,
        protocol_path,
        read_manifest,
        read_protocol,
    )

    data = config.get("data") or {}
    try:
        if data.get("eval_manifest"):
            trials = read_manifest(data["eval_manifest"])
        elif data.get("root") and protocol_path(data["root"], "eval").is_file():
            trials = read_protocol(protocol_path(data["root"], "eval"), audio_dir(data["root"], "eval"))
        else:
            return None
    except (OSError, ValueError):  # moved or changed since the run: no speakers, the trials are resampled
        return None
    speaker = {t.utt_id: t.speaker for t in trials}
    if any(speaker.get(u, UNKNOWN_SPEAKER) == UNKNOWN_SPEAKER for u in utt_ids):
        return None
    return np.asarray([speaker[u] for u in utt_ids])


def read_job(path: Path, n_boot: int) -> Job:
    """One job folder; metrics missing from results.json (min DCF, Cllr) are computed from its eval scores."""
    overrides_file = path / ".hydra" / "overrides.yaml"
    try:
        overrides = parse_overrides(yaml.safe_load(overrides_file.read_text(encoding="utf-8")) or [])
    except (OSError, ValueError, yaml.YAMLError) as error:
        return Job(path.name, path, {}, FAILED, f"{overrides_file} is unreadable: {error}")
    results_file = path / "results.json"
    record = read_job_error(path)
    # A job run again in the same folder (hydra.sweep.dir=<sweep> ckpt_path=last): the newer file tells.
    if record is not None and (
        not results_file.is_file() or (path / JOB_ERROR_FILE).stat().st_mtime >= results_file.stat().st_mtime
    ):
        return Job(path.name, path, overrides, *record)
    if not results_file.is_file():
        return Job(
            path.name, path, overrides, INTERRUPTED, "no results.json: stopped, killed or still running"
        )
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return Job(path.name, path, overrides, FAILED, f"{results_file} is unreadable: {error}")
    metrics = {
        k: float(v)
        for k, v in results.items()
        if isinstance(v, (int, float)) and "/" in k and math.isfinite(v)
    }
    job = Job(path.name, path, overrides, OK, metrics=metrics, config=results.get("config") or {})
    job.wall_time_s = results.get("wall_time_s")
    # train.py records its test scores under scores.eval, eval.py under splits.eval.score_file.
    eval_split = (results.get("splits") or {}).get("eval") or {}
    eval_file = (results.get("scores") or {}).get("eval") or eval_split.get("score_file")
    if eval_file:
        job.eval_scores = _eval_scores(Path(eval_file), path)
        if job.eval_scores is None:
            job.error = (
                f"eval scores not found: neither {eval_file} (in results.json) nor {path / EVAL_SCORES}; "
                "min DCF, Cllr and the interval are left out"
            )
            return job
        try:
            _score_measures(job, n_boot)
        except ValueError as error:  # a score file that cannot be evaluated: the row keeps results.json's
            message = str(error)  # most name the file (and line) already
            job.error = message if str(job.eval_scores) in message else f"{job.eval_scores}: {message}"
    return job


def _eval_scores(recorded: Path, job: Path) -> Path | None:
    """The job's eval score file: where results.json recorded it (an absolute path), else, for a sweep
    copied or moved since, the same file in the job folder; None when neither exists."""
    return next((p for p in (recorded, job / EVAL_SCORES) if p.is_file()), None)


def eval_split_name(job: Job) -> str:
    """How ``job`` names its eval split's metrics: ``eval`` for an eval.py job, else train.py's ``test``."""
    return "eval" if "eval/eer" in job.metrics and "test/eer" not in job.metrics else "test"


def _score_measures(job: Job, n_boot: int) -> None:
    assert job.eval_scores is not None
    scores = read_score_file(job.eval_scores)
    if scores.labels is None or len(np.unique(scores.labels)) < 2:
        return
    bona, spoof = scores.scores[scores.labels == 1], scores.scores[scores.labels == 0]
    # The scores are bona fide logits read as natural-log LLRs, as the training module's own test/cllr;
    # named as the job names its eval split's metrics (train.py test/..., eval.py eval/...).
    split = eval_split_name(job)
    job.metrics.setdefault(f"{split}/min_dcf", min_dcf(bona, spoof))
    job.metrics.setdefault(f"{split}/cllr", cllr(bona, spoof))
    if n_boot > 0:
        speakers = eval_speakers(job.config, scores.utt_ids)
        interval = bootstrap_eer(scores.scores, scores.labels, speakers, n_boot=n_boot)
        job.eer_ci = Interval(
            100 * interval.value, 100 * interval.low, 100 * interval.high,
            interval.confidence, interval.n_boot, interval.method,
        )  # fmt: skip


def swept(jobs: list[Job]) -> list[str]:
    """Override keys whose values differ between jobs (all of them for a single job), seed last."""
    keys = sorted({k for job in jobs for k in job.overrides})
    varying = [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1] if len(jobs) > 1 else keys
    return sorted(varying, key=lambda k: (k == SEED, k))


def short_names(params: list[str]) -> dict[str, str]:
    """Column names: the last part of a dotted key (model.first_conv -> first_conv) unless two collide."""
    last = [p.rsplit(".", 1)[-1] for p in params]
    return {p: (s if last.count(s) == 1 else p) for p, s in zip(params, last, strict=True)}


def seed_groups(jobs: list[Job], params: list[str], metrics: list[str]) -> list[Group]:
    """Finished jobs that differ only in ``seed``, when seeds are swept, with the spread of every metric."""
    if SEED not in params:
        return []
    others = [p for p in params if p != SEED]
    found: dict[tuple[str | None, ...], list[Job]] = {}
    for job in jobs:
        if job.status == OK:
            found.setdefault(tuple(job.overrides.get(p) for p in others), []).append(job)
    groups = []
    for key, members in found.items():
        stats = {}
        for metric in metrics:
            values = [j.metrics[metric] for j in members if metric in j.metrics]
            if values:
                stats[metric] = spread(values)
        groups.append(Group(dict(zip(others, map(str, key), strict=True)), [j.name for j in members], stats))
    return groups


def read_sweep(folder: str | Path, n_boot: int = 1000) -> Sweep:
    """Every job of a multirun folder; :class:`ReportError` when it is not one or holds no job."""
    folder = Path(folder)
    jobs = [read_job(p, n_boot) for p in _job_folders(folder)]
    present = {job.name for job in jobs}
    jobs += [
        Job(str(i), folder / str(i), parse_overrides(o), NOT_STARTED, "the sweep stopped before this job")
        for i, o in enumerate(planned_jobs(folder) or [])
        if str(i) not in present
    ]
    jobs.sort(key=Job.sort_key)
    measured = {k for job in jobs for k in job.metrics}
    metrics = [m for m in METRICS if m in measured]
    metrics += sorted(k for k in measured if k.endswith(_MEASURES) and k.split("/")[0] not in ("val", "test"))
    configured = [j.config.get("optimized_metric") for j in jobs if j.config.get("optimized_metric")]
    # train.py's validation metric; for eval.py sweeps the dev EER, else the eval EER (then labelled so).
    preferred = [str(configured[0])] if configured else ["val/eer_best", "dev/eer", "eval/eer"]
    selection = next((m for m in preferred if m in measured), metrics[0] if metrics else preferred[0])
    scored = [j for j in jobs if selection in j.metrics]
    best = min(scored, key=lambda j: j.metrics[selection]).name if scored else None
    optuna_file = folder / "optimization_results.yaml"
    try:
        optuna = yaml.safe_load(optuna_file.read_text(encoding="utf-8")) if optuna_file.is_file() else None
    except (OSError, yaml.YAMLError) as error:
        log.warning("%s is unreadable (%s): the report leaves Optuna's own result out", optuna_file, error)
        optuna = None
    params = swept(jobs)
    return Sweep(folder, jobs, params, metrics, selection, best, seed_groups(jobs, params, metrics), optuna)


__all__ = ["METRICS", "Group", "Job", "ReportError", "Sweep", "parse_overrides", "read_sweep", "short_names"]
