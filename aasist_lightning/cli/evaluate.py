"""Evaluation entry point: ``evaluate(cfg)`` scores the dev and/or eval split of the configured data with a
training checkpoint (``ckpt_path=...``) or official weights (``model.pretrained=AASIST-L``) and returns the
metrics.

:func:`main` is the Hydra application (``conf/eval.yaml``): the ``aasist-eval`` console script and the thin
``eval.py`` at the repository root. Trials are scored exactly as the official evaluation does (head crop /
repeat padding to ``nb_samp``, batches from the datamodule's loaders on every core, the GPU when there is
one) through :class:`aasist_lightning.runtime.scorer.Scorer`. Outputs in ``cfg.paths.output_dir``:

- ``scores/<split>.txt``: AASIST score files ``utt_id attack key score`` (score = ``logits[:, 1]``, the
  official convention, readable by ``aasist-score``);
- ``results.json``: metrics (``<split>/eer`` in percent, ``<split>/min_tdcf`` when the split has ASV scores,
  ``<split>/min_dcf``, ``<split>/act_dcf``, ``<split>/cllr``, ``<split>/eer_<attack>``), per-split reports,
  the model, timings and the resolved config;
- ``per_attack_eer.csv`` and ``per_attack_eer.md``: EER of each attack against all bona fide trials;
- ``plots/det_<split>.png`` and ``plots/score_histogram_<split>.png``;
- the configured logger's metrics (CSV by default; W&B / TensorBoard also get the plots).
"""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from aasist_lightning.cli.config_checks import ConfigError, check_config, check_output_dir
from aasist_lightning.cli.config_tree import print_config_tree
from aasist_lightning.cli.errors import hydra_app
from aasist_lightning.files import atomic_write_json, atomic_write_text
from aasist_lightning.lit.loggers import finish_wandb, instantiate_loggers
from aasist_lightning.runtime.allocator import allocator
from aasist_lightning.runtime.hardware import resolve_device
from aasist_lightning.runtime.progress import iterate_batches
from aasist_lightning.runtime.scorer import Scorer, load_detector

log = logging.getLogger(__name__)

SPLITS = ("dev", "eval")
_STAGE = {"dev": "validate", "eval": "test"}


def _splits(cfg: DictConfig) -> list[str]:
    value = cfg.get("splits")
    plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    if isinstance(plain, str):
        plain = [plain]
    if not isinstance(plain, list) or not plain or any(s not in SPLITS for s in plain):
        raise ConfigError(
            f"splits={plain!r}: must be a non-empty list of {' / '.join(SPLITS)}. Fix: e.g. "
            "splits=[dev,eval] or splits=[eval]."
        )
    return list(dict.fromkeys(plain))


def _ckpt_path(cfg: DictConfig) -> Path | None:
    value = cfg.get("ckpt_path")
    if value is None or str(value).strip() == "":
        return None
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"ckpt_path={value!r}: no such checkpoint file. Fix: give the .ckpt of a training run (e.g. "
            "outputs/train/runs/<time>/checkpoints/best.ckpt), or leave ckpt_path=null and set "
            "model.pretrained=AASIST-L to evaluate the official weights."
        )
    return path.resolve()


def _check(cfg: DictConfig) -> tuple[list[str], Path | None]:
    splits = _splits(cfg)
    ckpt = _ckpt_path(cfg)
    if ckpt is None and not cfg.model.get("pretrained"):
        raise ConfigError(
            "nothing to evaluate: ckpt_path is null and model.pretrained is null. Fix: pass "
            "ckpt_path=<run>/checkpoints/best.ckpt, or model.pretrained=AASIST-L (official weights)."
        )
    batch_size = cfg.get("batch_size")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(
            f"batch_size={batch_size!r}: must be a positive integer or null (data.eval_batch_size)"
        )
    check_config(cfg, sections=("model", "data"), splits={s: f"splits=[{','.join(splits)}]" for s in splits})
    return splits, ckpt


def _per_attack_rows(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for split, report in reports.items():
        for attack, eer in report["per_attack_eer"].items():
            rows.append(
                {"split": split, "attack": attack, "n_spoof": report["attack_counts"][attack], "eer": eer}
            )
        rows.append({"split": split, "attack": "pooled", "n_spoof": report["n_spoof"], "eer": report["eer"]})
    return rows


def _per_attack_tables(rows: list[dict[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["split", "attack", "n_spoof", "eer_percent"])
    for r in rows:
        writer.writerow([r["split"], r["attack"], r["n_spoof"], f"{r['eer']:.4f}"])
    csv_path = atomic_write_text(out_dir / "per_attack_eer.csv", buf.getvalue())
    lines = ["| split | attack | spoof trials | EER (%) |", "|---|---|---:|---:|"]
    lines += [f"| {r['split']} | {r['attack']} | {r['n_spoof']} | {r['eer']:.3f} |" for r in rows]
    md_path = atomic_write_text(out_dir / "per_attack_eer.md", "\n".join(lines) + "\n")
    return csv_path, md_path


def _flat_metrics(split: str, report: dict[str, Any]) -> dict[str, float]:
    out = {f"{split}/{k}": report[k] for k in ("eer", "min_tdcf", "min_dcf", "act_dcf", "cllr")}
    out.update({f"{split}/eer_{attack}": eer for attack, eer in report["per_attack_eer"].items()})
    return {k: float(v) for k, v in out.items() if v is not None}


def _log(loggers: list[Any], metrics: dict[str, float], images: dict[str, Path]) -> None:
    from aasist_lightning.lit.loggers import log_images

    for logger in loggers:
        logger.log_metrics(metrics, step=0)
    log_images(loggers, images, step=0)
    for logger in loggers:
        logger.finalize("success")


def score_split(
    datamodule: Any, split: str, scorer: Scorer, progress: bool = True
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(utt_ids, attacks, labels, logits (N, 2)) of every trial of ``split`` ('dev' / 'eval'), in loader
    order."""
    datamodule.setup(_STAGE[split])
    loader = datamodule.val_dataloader() if split == "dev" else datamodule.test_dataloader()
    utt_ids: list[str] = []
    attacks: list[str] = []
    labels: list[int] = []
    logits: list[np.ndarray] = []
    total = len(datamodule.trials[split])
    for batch, out in iterate_batches(loader, scorer, total=total, description=f"{split}", progress=progress):
        utt_ids.extend(batch[2])
        attacks.extend(batch[3])
        labels.extend(batch[1].tolist())
        logits.append(out)
    stacked = np.concatenate(logits) if logits else np.zeros((0, 2), np.float32)
    return utt_ids, attacks, np.asarray(labels, dtype=np.int64), stacked


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score the configured splits and write the outputs listed in the module docstring; returns the flat
    metrics (``"<split>/eer"`` in percent, ...). Config problems raise ``ConfigError`` before any data or
    weights are touched."""
    started = time.perf_counter()
    splits, ckpt = _check(cfg)
    output_dir = check_output_dir(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    print_config_tree(cfg, output_dir=output_dir)

    from aasist_lightning.cli.score import print_report
    from aasist_lightning.metrics import read_asv_scores, score_report
    from aasist_lightning.metrics.plots import plot_det, plot_score_histogram
    from aasist_lightning.metrics.scores import EvalScores, write_score_file
    from aasist_lightning.models import ARCH_KEYS
    from aasist_lightning.models.weights import WeightsError

    device = resolve_device(cfg.trainer.get("accelerator", "auto"))
    if ckpt is not None:  # the checkpoint stores its architecture
        try:
            detector = load_detector(ckpt_path=ckpt, device=device)
        except WeightsError as err:
            raise ConfigError(f"ckpt_path: {err}. Fix: give a .ckpt written by a training run") from None
    else:  # the model group's architecture, e.g. model.first_conv=256 with model.pretrained=AASIST-L
        model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
        arch = {k: model_cfg[k] for k in ARCH_KEYS if k in model_cfg}
        detector = load_detector(pretrained=cfg.model.pretrained, device=device, **arch)
    log.info("evaluating %s on %s (%s)", detector.source, ", ".join(splits), device)
    datamodule = hydra.utils.instantiate(cfg.data, nb_samp=detector.nb_samp, _convert_="all")
    datamodule.prepare_data()
    for split in splits:  # every split is read and checked (audio present, subsets) before any is scored
        datamodule.setup(_STAGE[split])
    batch_size = cfg.get("batch_size") or datamodule.eval_batch_size
    inference = OmegaConf.to_container(cfg.model.get("inference") or {}, resolve=True)
    scorer = Scorer.from_detector(
        detector, batch_size, inference.get("backend", "auto"), inference.get("precision", "auto")
    )
    log.info("inference path: %s", scorer.backend)
    loggers = instantiate_loggers(cfg.get("logger"))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)

    console = Console()
    metrics: dict[str, float] = {}
    reports: dict[str, dict[str, Any]] = {}
    images: dict[str, Path] = {}
    timings: dict[str, dict[str, float]] = {}
    try:
        for split in splits:
            t0 = time.perf_counter()
            with allocator(cfg.get("allocator", "system")):
                utt_ids, attacks, labels, logits = score_split(
                    datamodule, split, scorer, cfg.get("progress", True)
                )
            seconds = time.perf_counter() - t0
            timings[split] = {
                "seconds": round(seconds, 3),
                "trials_per_s": round(len(utt_ids) / max(seconds, 1e-9), 3),
            }
            scores = logits[:, 1].astype(np.float64)  # the official CM score
            rows = EvalScores(
                utt_ids=utt_ids, attacks=attacks, labels=labels.tolist(), scores=scores.tolist()
            )
            score_path = write_score_file(output_dir / "scores" / f"{split}.txt", rows)
            bona, spoof = scores[labels == 1], scores[labels == 0]
            if not len(bona) or not len(spoof):
                raise ValueError(
                    f"the {split} split has {len(bona)} bona fide and {len(spoof)} spoof trials: the EER "
                    f"needs both (check data.{split}_subset / the protocol)"
                )
            asv_path = datamodule.asv_scores_path(split)
            report = score_report(
                scores, labels, attacks, asv=read_asv_scores(asv_path) if asv_path else None
            )
            names, counts = np.unique(np.asarray(attacks)[labels == 0], return_counts=True)
            report["attack_counts"] = dict(zip(names.tolist(), (int(c) for c in counts), strict=True))
            report["score_file"] = str(score_path)
            report["score_format"] = "aasist"
            report["asv_scores"] = None if asv_path is None else str(asv_path)
            report["min_tdcf_note"] = (
                None if asv_path else f"not computed: no ASV scores for the {split} split"
            )
            title = f"{split}: {detector.source}"
            images[f"{split}/det_curve"] = plot_det(
                bona, spoof, output_dir / "plots" / f"det_{split}.png", title
            )
            images[f"{split}/score_histogram"] = plot_score_histogram(
                bona, spoof, output_dir / "plots" / f"score_histogram_{split}.png", title
            )
            print_report(report, report["attack_counts"], console)
            reports[split] = report
            metrics.update(_flat_metrics(split, report))

        csv_path, md_path = _per_attack_tables(_per_attack_rows(reports), output_dir)
        results: dict[str, Any] = dict(metrics)
        results.update(
            {
                "model": detector.source,
                "checkpoint": None if ckpt is None else str(ckpt),
                "pretrained": None if ckpt is not None else str(cfg.model.pretrained),
                "dev_eer_threshold": detector.threshold,
                "device": device,
                "inference": scorer.backend,
                "batch_size": batch_size,
                "splits": {
                    split: {
                        **report,
                        "plots": {k: str(v) for k, v in images.items() if k.startswith(f"{split}/")},
                    }
                    for split, report in reports.items()
                },
                "per_attack_eer_table": {"csv": str(csv_path), "markdown": str(md_path)},
                "timings": timings,
                "wall_time_s": round(time.perf_counter() - started, 3),
                "config": resolved,
            }
        )
        atomic_write_json(output_dir / "results.json", results)
        _log(loggers, metrics, images)
        summary = ", ".join(
            f"{s} EER {reports[s]['eer']:.3f} %"
            + (f" / min t-DCF {reports[s]['min_tdcf']:.4f}" if reports[s]["min_tdcf"] is not None else "")
            for s in splits
        )
        console.print(f"[bold]{summary}[/]; outputs in {output_dir}", soft_wrap=True)
    finally:
        finish_wandb()
    return metrics


def main() -> None:
    """Console script ``aasist-eval`` and ``python eval.py``: evaluate with Hydra overrides."""

    def _run(cfg: DictConfig) -> float | None:
        metrics = evaluate(cfg)
        # The value a sweeper would optimise: the EER of the last split evaluated.
        return metrics.get(f"{list(cfg.splits)[-1]}/eer")

    hydra_app("aasist-eval", "eval", _run)


__all__ = ["evaluate", "main", "score_split"]
