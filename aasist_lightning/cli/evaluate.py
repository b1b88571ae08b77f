"""Evaluation entry point: ``evaluate(cfg)`` scores the dev and/or eval split of the configured data with a
training checkpoint (``ckpt_path=...``) or official weights (``model.pretrained=AASIST-L``) and returns the
metrics.

:func:`main` is the Hydra application (``conf/eval.yaml``): the ``aasist-eval`` console script and the thin
``eval.py`` at the repository root. Trials are scored through :class:`aasist_lightning.runtime.scorer.Scorer`
(batches from the datamodule's loaders on every core, the GPU when there is one) in one of three crop modes
(``crop=``, recorded in ``results.json``): ``head`` (the official evaluation: the first ``nb_samp`` samples,
repeat-padded), ``full`` (the whole clip; see :func:`aasist_lightning.data.dataset.full_length`) or
``windows`` (windows of ``nb_samp`` every ``hop`` samples, logits averaged, as ``aasist-predict`` does).
Outputs in ``cfg.paths.output_dir``:

- ``scores/<split>.txt``: AASIST score files ``utt_id attack key score`` (score = ``logits[:, 1]``, the
  official convention, readable by ``aasist-score``);
- ``results.json``: metrics (``<split>/eer`` in percent, ``<split>/min_tdcf`` when the split has ASV scores,
  ``<split>/min_dcf``, ``<split>/act_dcf``, ``<split>/cllr``, ``<split>/eer_<attack>``), per-split reports,
  the model, timings and the resolved config;
- ``per_attack_eer.csv`` and ``per_attack_eer.md``: EER of each attack against all bona fide trials;
- ``per_condition_eer.csv`` and ``per_condition_eer.md``, for corpora that record conditions (codec,
  channel, vocoder, source, subset): the EER of each condition's trials (spoof-only conditions against all
  bona fide trials);
- ``plots/det_<split>.png`` and ``plots/score_histogram_<split>.png``;
- the configured logger's metrics (CSV by default; W&B / TensorBoard also get the plots).

``corpora=[...]`` (:func:`evaluate_matrix`): all of the above for the eval split of each corpus, in
``<output_dir>/<corpus>/``, and a model x corpora matrix beside them.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console

from aasist_lightning.cli.app import hydra_app
from aasist_lightning.cli.config_checks import ConfigError
from aasist_lightning.cli.config_tree import print_config_tree
from aasist_lightning.cli.eval_config import check_eval_config, corpus_configs
from aasist_lightning.cli.eval_tables import (
    MATRIX_COLUMNS,
    matrix_tables,
    per_attack_rows,
    per_attack_tables,
    per_condition_rows,
    per_condition_tables,
)
from aasist_lightning.cli.output_checks import check_output_dir
from aasist_lightning.data.protocols import BONAFIDE, ProtocolError
from aasist_lightning.files import atomic_outputs
from aasist_lightning.lit.loggers import finish_wandb, instantiate_loggers
from aasist_lightning.metrics.calibration import calibration_measures
from aasist_lightning.runtime.allocator import allocator
from aasist_lightning.runtime.audio_files import window_batches
from aasist_lightning.runtime.hardware import resolve_device
from aasist_lightning.runtime.progress import iterate_batches
from aasist_lightning.runtime.scorer import Scorer, aggregate, load_detector, windows

log = logging.getLogger(__name__)

_STAGE = {"dev": "validate", "eval": "test"}


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


def _clip_scorer(scorer: Scorer, crop: str, hop: int | None) -> Any:
    """``scorer`` for a batch of whole clips (``crop="full"`` / ``"windows"``) -> logits (B, 2)."""
    from aasist_lightning.data.audio import pad_or_crop
    from aasist_lightning.data.dataset import full_length

    nb_samp = scorer.nb_samp

    def full(clips: list[np.ndarray]) -> np.ndarray:
        # One input length per batch (the loader groups clips by it; the longest wins should a resampled
        # clip's header have been off by a sample).
        length = max(full_length(len(x), nb_samp) for x in clips)
        return scorer(np.stack([pad_or_crop(x, length) for x in clips]))

    def windowed(clips: list[np.ndarray]) -> np.ndarray:
        per_clip = [windows(x, nb_samp, hop) for x in clips]
        logits = np.concatenate([scorer(batch) for batch in window_batches(per_clip, scorer.batch_size)])
        ends = np.cumsum([len(w) for w in per_clip])[:-1]
        return np.stack([aggregate(part, "mean") for part in np.split(logits, ends)])

    return full if crop == "full" else windowed


def score_split(
    datamodule: Any,
    split: str,
    scorer: Scorer,
    progress: bool = True,
    crop: str = "head",
    hop: int | None = None,
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(utt_ids, attacks, labels, logits (N, 2)) of every trial of ``split`` ('dev' / 'eval') in ``crop``
    mode (see the module docstring), in the order of the split's trials."""
    datamodule.setup(_STAGE[split])
    loader = datamodule.scoring_loader(split, crop, hop)
    run = scorer if crop == "head" else _clip_scorer(scorer, crop, hop)
    utt_ids: list[str] = []
    attacks: list[str] = []
    labels: list[int] = []
    logits: list[np.ndarray] = []
    total = len(datamodule.trials[split])
    # Where the split comes from too: a matrix run scores several corpora, and a manifest is no corpus.
    manifest = datamodule.manifests.get(split)
    description = f"{manifest.name if manifest is not None else datamodule.corpus} {split}"
    for batch, out in iterate_batches(loader, run, total=total, description=description, progress=progress):
        utt_ids.extend(batch[2])
        attacks.extend(batch[3])
        labels.extend(batch[1].tolist())
        logits.append(out)
    stacked = np.concatenate(logits) if logits else np.zeros((0, 2), np.float32)
    position = {t.utt_id: i for i, t in enumerate(datamodule.trials[split])}
    order = np.argsort([position[u] for u in utt_ids], kind="stable")  # length-sorted batches: back in order
    return (
        [utt_ids[i] for i in order],
        [attacks[i] for i in order],
        np.asarray(labels, dtype=np.int64)[order],
        stacked[order] if len(order) else stacked,
    )


def _one_class(split: str, bonafide: int, spoof: int, how: str) -> ProtocolError:
    return ProtocolError(
        f"the {split} split has {bonafide} bona fide and {spoof} spoof trials {how}: the EER needs both "
        f"(check data.{split}_subset, the protocol, and the files skipped as unreadable with "
        "data.on_bad_audio=skip)"
    )


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score the configured splits and write the outputs listed in the module docstring; returns the flat
    metrics (``"<split>/eer"`` in percent, ...). Config problems raise ``ConfigError`` before any data or
    weights are touched."""
    started = time.perf_counter()
    splits, ckpt = check_eval_config(cfg)
    output_dir = check_output_dir(cfg)

    from aasist_lightning.cli.score import print_report
    from aasist_lightning.metrics import ASVSPOOF2019, score_report
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
    hop = cfg.get("hop")
    if hop is not None and hop > detector.nb_samp:  # the running network's input (a checkpoint's own)
        raise ConfigError(
            f"hop={hop}: longer than the input of {detector.source} (nb_samp={detector.nb_samp}). Fix: "
            f"hop={detector.nb_samp // 2} (half-overlapping windows) or hop=null (= nb_samp)"
        )
    with open_dict(cfg):  # config.yaml records the network that runs: a checkpoint's, not the model group's
        cfg.model.update({k: detector.config[k] for k in ARCH_KEYS if k in detector.config})
    log.info("evaluating %s on %s (%s)", detector.source, ", ".join(splits), device)
    datamodule = hydra.utils.instantiate(cfg.data, nb_samp=detector.nb_samp, _convert_="all")
    datamodule.prepare_data()
    for split in splits:  # every split is read and checked (audio present, subsets) before any is scored
        datamodule.setup(_STAGE[split])
        bonafide = sum(t.label == BONAFIDE for t in datamodule.trials[split])
        if bonafide in (0, len(datamodule.trials[split])):
            raise _one_class(split, bonafide, len(datamodule.trials[split]) - bonafide, "listed")
    output_dir.mkdir(parents=True, exist_ok=True)  # the config once it passed every check: errors stand out
    print_config_tree(cfg, output_dir=output_dir)
    batch_size = cfg.get("batch_size") or datamodule.eval_batch_size
    inference = OmegaConf.to_container(cfg.model.get("inference") or {}, resolve=True)
    scorer = Scorer.from_detector(
        detector, batch_size, inference.get("backend", "auto"), inference.get("precision", "auto")
    )
    log.info("inference path: %s", scorer.backend)
    crop = cfg.get("crop", "head")
    loggers = instantiate_loggers(cfg.get("logger"))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)

    console = Console()
    metrics: dict[str, float] = {}
    reports: dict[str, dict[str, Any]] = {}
    images: dict[str, Path] = {}
    timings: dict[str, dict[str, float]] = {}
    condition_rows: list[dict[str, Any]] = []
    try:
        # The run's outputs are committed together once every one is written: a failure or Ctrl-C on a later
        # split leaves no scores or plots of the earlier ones, and replaces no earlier file.
        with atomic_outputs() as outputs:
            for split in splits:
                t0 = time.perf_counter()
                with allocator(cfg.get("allocator", "system")):
                    utt_ids, attacks, labels, logits = score_split(
                        datamodule, split, scorer, cfg.get("progress", True), crop, hop
                    )
                seconds = time.perf_counter() - t0
                audio_seconds = datamodule.audio_seconds(split)
                timings[split] = {
                    "seconds": round(seconds, 3),
                    "trials_per_s": round(len(utt_ids) / max(seconds, 1e-9), 3),
                    "audio_seconds": round(audio_seconds, 3),
                    "audio_s_per_s": round(audio_seconds / max(seconds, 1e-9), 3),
                }
                scores = logits[:, 1].astype(np.float64)  # the official CM score
                rows = EvalScores(
                    utt_ids=utt_ids, attacks=attacks, labels=labels.tolist(), scores=scores.tolist()
                )
                score_path = output_dir / "scores" / f"{split}.txt"
                with outputs.write(score_path) as tmp:
                    write_score_file(tmp, rows)
                bona, spoof = scores[labels == 1], scores[labels == 0]
                if not len(bona) or not len(spoof):
                    raise _one_class(split, len(bona), len(spoof), "scored")
                tandem = datamodule.asv_scores(split)
                asv, cost_model = (
                    (None, ASVSPOOF2019) if tandem is None else (tandem.scores, tandem.cost_model)
                )
                report = score_report(scores, labels, attacks, asv, cost_model)
                # The checkpoint's dev-fitted map (none for official weights) on the LLRs; never refitted.
                llrs = (logits[:, 1] - logits[:, 0]).astype(np.float64)
                report.update({"act_dcf_calibrated": None, "cllr_calibrated": None})
                report.update(
                    calibration_measures(detector.calibration, llrs[labels == 1], llrs[labels == 0])
                )
                names, counts = np.unique(np.asarray(attacks)[labels == 0], return_counts=True)
                report["attack_counts"] = dict(zip(names.tolist(), (int(c) for c in counts), strict=True))
                report["score_file"] = str(score_path)
                report["score_format"] = "aasist"
                report["asv_scores"] = None if tandem is None else tandem.source
                report["min_tdcf_definition"] = None if tandem is None else tandem.definition
                report["min_tdcf_note"] = (
                    None if tandem else f"not computed: no ASV scores for the {split} split"
                )
                title = f"{split}: {detector.source}"
                for key, plot, name in (
                    ("det_curve", plot_det, "det"),
                    ("score_histogram", plot_score_histogram, "score_histogram"),
                ):
                    images[f"{split}/{key}"] = output_dir / "plots" / f"{name}_{split}.png"
                    with outputs.write(images[f"{split}/{key}"]) as tmp:
                        plot(bona, spoof, tmp, title)
                print_report(report, report["attack_counts"], console)
                reports[split] = report
                condition_rows += per_condition_rows(
                    split, datamodule.conditions.get(split, {}), utt_ids, labels, scores
                )
                metrics.update(_flat_metrics(split, report))

            csv_path, md_path = per_attack_tables(per_attack_rows(reports), output_dir, outputs)
            tables = {"per_attack_eer_table": {"csv": str(csv_path), "markdown": str(md_path)}}
            if condition_rows:
                cond_csv, cond_md = per_condition_tables(condition_rows, output_dir, outputs)
                tables["per_condition_eer_table"] = {"csv": str(cond_csv), "markdown": str(cond_md)}
            results: dict[str, Any] = dict(metrics)
            results.update(
                {
                    "model": detector.source,
                    "checkpoint": None if ckpt is None else str(ckpt),
                    "pretrained": None if ckpt is not None else str(cfg.model.pretrained),
                    "dev_eer_threshold": detector.threshold,
                    "calibration": None if detector.calibration is None else detector.calibration.as_dict(),
                    "device": device,
                    "inference": scorer.backend,
                    "batch_size": batch_size,
                    "corpus": datamodule.corpus if datamodule.root is not None else None,  # manifests
                    "crop": crop,
                    "hop": (hop or detector.nb_samp) if crop == "windows" else None,
                    "splits": {
                        split: {
                            **report,
                            "plots": {k: str(v) for k, v in images.items() if k.startswith(f"{split}/")},
                        }
                        for split, report in reports.items()
                    },
                    **tables,
                    "timings": timings,
                    "wall_time_s": round(time.perf_counter() - started, 3),
                    "config": resolved,
                }
            )
            outputs.write_text(output_dir / "results.json", json.dumps(results, indent=2) + "\n")
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


def evaluate_matrix(cfg: DictConfig) -> list[dict[str, Any]]:
    """``corpora=[...]``: the model on the eval split of each corpus (every output of :func:`evaluate` in
    ``<output_dir>/<corpus>/``), then ``matrix.{md,csv,json}`` (trials, EER, min t-DCF where the corpus has
    ASV scores, min DCF, act DCF, Cllr) and ``plots/det_overlay.png``. Every corpus is read and checked
    (protocol, audio) before the first is scored. Returns the matrix rows."""
    from aasist_lightning.metrics import read_score_file
    from aasist_lightning.metrics.plots import plot_det_overlay

    output_dir = check_output_dir(cfg)
    subs = corpus_configs(cfg, output_dir)
    for sub in subs.values():
        check_eval_config(sub)
        check_output_dir(sub)
    for sub in subs.values():  # protocols and audio of every corpus, before any scoring
        datamodule = hydra.utils.instantiate(sub.data, _convert_="all")
        datamodule.prepare_data()
        datamodule.setup("test")
    rows: list[dict[str, Any]] = []
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    overlay = output_dir / "plots" / "det_overlay.png"
    matrix_files = [output_dir / f"matrix.{suffix}" for suffix in ("csv", "md", "json")]
    # The matrix's files are checked before the first corpus is scored and replace earlier ones together.
    with atomic_outputs([*matrix_files, overlay]) as outputs:
        for name, sub in subs.items():
            evaluate(sub)
            corpus_dir = Path(sub.paths.output_dir)
            results = json.loads((corpus_dir / "results.json").read_text())
            report = results["splits"]["eval"]
            subsets = sub.data.get("subsets")
            rows.append(
                {"corpus": name, "subsets": "+".join(subsets) if subsets else "all",
                 "trials": report["n_bonafide"] + report["n_spoof"],
                 **{k: results.get(f"eval/{k}") for k in MATRIX_COLUMNS}, "outputs": str(corpus_dir)}
            )  # fmt: skip
            scores = read_score_file(corpus_dir / "scores" / "eval.txt")
            labels = np.asarray(scores.labels)
            curves[name] = (scores.scores[labels == 1], scores.scores[labels == 0])
        tables = matrix_tables(rows, output_dir, outputs)
        with outputs.write(overlay) as tmp:
            plot_det_overlay(curves, tmp, "eval split of each corpus")
        tables["json"] = str(matrix_files[2])
        matrix = {"model": results["model"], "crop": results["crop"], "rows": rows, "tables": tables,
                  "det_overlay": str(overlay)}  # fmt: skip
        outputs.write_text(matrix_files[2], json.dumps(matrix, indent=2) + "\n")
    Console().print(Path(tables["markdown"]).read_text(), soft_wrap=True, markup=False)
    return rows


def main() -> None:
    """Console script ``aasist-eval`` and ``python eval.py``: evaluate with Hydra overrides."""

    def _run(cfg: DictConfig) -> float | None:
        if cfg.get("corpora"):
            return evaluate_matrix(cfg)[-1]["eer"]
        metrics = evaluate(cfg)
        # The value a sweeper would optimise: the EER of the last split evaluated.
        return metrics.get(f"{list(cfg.splits)[-1]}/eer")

    hydra_app("aasist-eval", "eval", _run)


__all__ = ["evaluate", "evaluate_matrix", "main", "score_split"]


if __name__ == "__main__":
    main()
