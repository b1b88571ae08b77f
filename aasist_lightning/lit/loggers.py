"""Experiment loggers: W&B that works without an account, and building loggers / callbacks from config."""

from __future__ import annotations

import csv
import io
import logging
import netrc
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch import Callback
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from omegaconf import DictConfig

from aasist_lightning.files import atomic_write_text

log = logging.getLogger(__name__)


def _wandb_credentials() -> bool:
    """True when `wandb login` was done (netrc entry) or WANDB_API_KEY is set; never contacts the server."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    candidates = [os.environ.get("NETRC"), "~/.netrc", "~/_netrc"]
    for name in filter(None, candidates):
        path = Path(name).expanduser()
        if path.is_file():
            try:
                return netrc.netrc(path).authenticators(host) is not None
            except (netrc.NetrcParseError, OSError):
                return False
    return False


def wandb_mode() -> str:
    """'online', 'offline' or 'disabled': WANDB_MODE when set, else online only if credentials exist."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in ("online", "run"):
        return "online"
    if mode in ("offline", "dryrun"):
        return "offline"
    if mode == "disabled":
        return "disabled"
    return "online" if _wandb_credentials() else "offline"


def _mode(offline: bool | str) -> str:
    if offline not in ("auto", True, False):
        raise ValueError(f"offline={offline!r} must be auto, true or false")
    return wandb_mode() if offline == "auto" else ("offline" if offline else "online")


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def multirun_group(base: str | None, sweep_dir: str) -> str:
    """The W&B group of a multirun's jobs and of its report run: ``<group>-<sweep folder name>``, e.g.
    ``train-2026-12-06_16-40-00``."""
    name = Path(sweep_dir).name
    return f"{base}-{name}" if base else name


def wandb_logger(
    save_dir: str,
    offline: bool | str = "auto",
    log_model: bool | str = "auto",
    **kwargs: Any,
) -> WandbLogger:
    """A `WandbLogger`; `offline="auto"` logs offline unless logged in / WANDB_MODE=online.

    `log_model="auto"` uploads the best checkpoint as an artifact only when online (offline it would just copy
    the checkpoint into the offline run folder).
    """
    mode = _mode(offline)
    if log_model not in ("auto", "all", True, False):
        raise ValueError(f"log_model={log_model!r} must be auto, all, true or false")
    if _in_multirun():  # one group per multirun: its jobs side by side, apart from other sweeps'
        kwargs["group"] = multirun_group(kwargs.get("group"), HydraConfig.get().sweep.dir)
    if log_model == "auto":
        log_model = mode == "online"
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    if mode == "offline":
        log.info(
            "W&B logs offline in %s (sync later with `wandb sync`; `wandb login` for online runs)", save_dir
        )
    return WandbLogger(save_dir=save_dir, offline=mode == "offline", log_model=log_model, **kwargs)


class _ContinuedMetricsWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; here a run resumed in place continues it (a new
    run never finds one: a folder holding an earlier run takes only its own resumption). Rows logged after
    the checkpoint, at steps the resumed run trains again, give way to the new ones."""

    def _check_log_dir_exists(self) -> None:
        self._continued = self._fs.isfile(self.metrics_file_path)
        if not self._continued:
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            header = next(csv.reader(file), [])
        if header != sorted(header):  # Lightning appends rows with its columns sorted
            self._rewrite_with_new_header(sorted(header))
        self.metrics_keys = sorted(header)

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        if self._continued and step is not None:  # the resumed run's first row: its checkpoint's step
            self._continued = False
            with open(self.metrics_file_path, newline="") as file:
                rows = [row for row in csv.DictReader(file) if float(row.get("step") or 0) < step]
            kept = io.StringIO()
            writer = csv.DictWriter(kept, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_text(Path(self.metrics_file_path), kept.getvalue())
        super().log_metrics(metrics_dict, step)


class ContinuedCSVLogger(CSVLogger):
    """Lightning's `CSVLogger`, except that a run resumed in place keeps the metrics.csv rows up to its
    checkpoint and appends the new ones."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuedMetricsWriter(log_dir=self.log_dir)
        return self._experiment


def log_sweep_report(
    cfg: DictConfig, sweep_dir: str, header: list[str], rows: list[list[str]], images: list[Path]
) -> None:
    """A summary run (job_type ``sweep-report``) in the multirun's W&B group with the report's table and
    plots; offline unless logged in, like the jobs (``cfg``: the sweep's ``logger.wandb`` node)."""
    mode = _mode(cfg.get("offline", "auto"))
    if mode == "disabled":
        return
    import wandb

    run = wandb.init(
        project=cfg.get("project"),
        entity=cfg.get("entity"),
        group=multirun_group(cfg.get("group"), sweep_dir),
        job_type="sweep-report",
        name=f"report-{Path(sweep_dir).name}",
        tags=list(cfg.get("tags") or []),
        dir=sweep_dir,
        mode=mode,
    )
    try:
        run.log(
            {
                "sweep/report": wandb.Table(columns=header, data=rows),
                **{f"sweep/{path.stem}": wandb.Image(str(path)) for path in images},
            }
        )
    finally:
        run.finish()


def finish_wandb() -> None:
    """Close the current W&B run so the next job of a multirun starts its own run."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def _instantiate_group(cfg: DictConfig | None, kind: type, group: str) -> list[Any]:
    objects: list[Any] = []
    if not cfg:
        return objects
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"{group} config must be a mapping of name -> {{_target_: ...}}, got {cfg!r}")
    for name, node in cfg.items():
        if isinstance(node, DictConfig) and "_target_" in node:
            obj = hydra.utils.instantiate(node, _convert_="all")
            if not isinstance(obj, kind):
                raise TypeError(f"{group}.{name} built a {type(obj).__name__}, expected a {kind.__name__}")
            objects.append(obj)
    return objects


def instantiate_callbacks(cfg: DictConfig | None) -> list[Callback]:
    """Build every `callbacks.<name>` node that has a `_target_` (others, e.g. null, are skipped)."""
    return _instantiate_group(cfg, Callback, "callbacks")


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger]:
    """Build every `logger.<name>` node that has a `_target_`."""
    return _instantiate_group(cfg, Logger, "logger")


def log_images(loggers: list[Logger], images: dict[str, Path], step: int) -> None:
    """Send PNG files (key -> path) to the loggers that take images: W&B and TensorBoard."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            for key, path in images.items():
                logger.log_image(key=key, images=[str(path)])
        elif isinstance(logger, TensorBoardLogger):
            import matplotlib.image

            for key, path in images.items():
                img = matplotlib.image.imread(path)[..., :3]
                logger.experiment.add_image(key, img, global_step=step, dataformats="HWC")
