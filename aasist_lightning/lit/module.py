"""AASISTLitModule: training, validation and testing of AASIST with Lightning.

Validation and test keep every trial's scores, gather them across processes (deduplicated by utterance id,
so a distributed sampler's padding never counts twice) and compute the metrics on exactly the set of trials a
single process would see. EERs are logged in percent.

After each validation epoch an affine LLR calibration (:mod:`metrics.calibration`) is fitted on the dev
trials' logit differences (``logits[:, 1] - logits[:, 0]``, aasist-predict's score); the best epoch's map is
kept in checkpoints with its dev-EER thresholds and calibrates the test trials (never fitted on them).
``act_dcf`` / ``cllr`` are those of the score files' score (``logits[:, 1]``, as aasist-score reports them),
``*_calibrated`` those of the calibrated logit differences, ``min_cllr`` the best a monotonic map of the logit
differences reaches. The calibrated dev measures are those of the map on the trials it was fitted on.
"""

from __future__ import annotations

import math
from typing import Any

import hydra
import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn

from aasist_lightning.metrics import ASVSPOOF2019, TandemASV, act_dcf, cllr, compute_eer, score_report
from aasist_lightning.metrics.calibration import Calibration, calibration_measures, fit_calibration
from aasist_lightning.metrics.scores import EvalScores
from aasist_lightning.models import AASIST, ARCH_KEYS
from aasist_lightning.runtime.allocator import release_idle_memory
from aasist_lightning.runtime.fast import FastInference, prepare_inference
from aasist_lightning.runtime.hardware import check_memory_format, detect_hardware, training_memory_format
from aasist_lightning.runtime.scorer import CALIBRATION_KEY, stored_calibration

#: Checkpoint keys this module adds (plain floats, so checkpoints load with torch.load(weights_only=True)).
THRESHOLD_KEY = "dev_eer_threshold"
LOGIT_THRESHOLD_KEY = "dev_eer_threshold_logit"


class TrainingDivergedError(ArithmeticError):
    """The training loss is not a finite number (too high a learning rate, nonsense augmentation settings):
    training stops at that step, before a checkpoint of the damaged weights is written."""


class AASISTLitModule(L.LightningModule):
    """AASIST with cross-entropy, an optimizer and an optional LR schedule, all from the `model` config group.

    Arguments are the keys of `conf/model/*.yaml` (whose `_target_` is this class): the architecture (see
    `AASIST`, which validates it; None keeps the network's default), `arch` (its name, only recorded),
    `pretrained` (official weights name, a .pth or a run's .ckpt to start from; None trains from scratch),
    `class_weights` ([spoof, bonafide] cross-entropy weights or None), `optimizer` / `scheduler` (Hydra nodes
    with `_target_`, `_partial_: true`; the scheduler may carry Lightning's `interval` / `frequency`, and a
    `T_max` of None is filled with the run's length), `inference` ({backend, precision} of
    `aasist_lightning.runtime.fast.prepare_inference` for validation and test: "auto" runs them on the fastest
    path the hardware supports, e.g. ONNX Runtime on a CPU, built from the current weights at the start of
    each validation / test epoch; eager / fp32 is the plain path), `memory_format` (auto / channels_last /
    contiguous: the layout of the training activations, see
    `aasist_lightning.runtime.hardware.training_memory_format`).
    """

    def __init__(
        self,
        arch: str = "AASIST-L",
        pretrained: str | None = None,
        nb_samp: int = 64600,
        first_conv: int = 128,
        filts: list[Any] | None = None,
        gat_dims: list[int] | None = None,
        pool_ratios: list[float] | None = None,
        temperatures: list[float] | None = None,
        freq_mask_width: int = 20,
        class_weights: list[float] | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        inference: dict[str, str] | None = None,
        memory_format: str = "auto",
    ) -> None:
        super().__init__()
        check_memory_format(memory_format)
        # Plain values only (the caller converts DictConfig), so checkpoints stay weights_only-loadable; the
        # full run config is logged by train(), hence logger=False.
        self.save_hyperparameters(logger=False)
        # None: the network's default (from_pretrained: the pretrained architecture's).
        arch_kwargs = {k: self.hparams[k] for k in ARCH_KEYS if self.hparams[k] is not None}
        self.model = (
            AASIST.from_pretrained(pretrained, **arch_kwargs) if pretrained else AASIST(**arch_kwargs)
        )
        # from_pretrained hands back an eval-mode network, and Lightning keeps each submodule's mode: without
        # this, fine-tuning would run without dropout, frequency masking and batch statistics.
        self.model.train()
        # One trial: Lightning's model summary runs it (in eval mode) to show layer shapes and the FLOPs.
        self.example_input_array = torch.zeros(1, self.model.nb_samp)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weight, persistent=False)

        self.val_eer_best = math.inf
        self.dev_eer_threshold: float | None = None  # on logits[:, 1] - logits[:, 0] (aasist-predict's score)
        self.dev_eer_threshold_logit: float | None = None  # on logits[:, 1] (the score files' score)
        self.calibration: Calibration | None = None  # of logits[:, 1] - logits[:, 0], fitted on dev
        self.val_improved = False
        self.last_eval: EvalScores | None = None  # the last validation / test epoch's trials, gathered
        self.test_results: dict[str, float] = {}
        self.val_results: dict[str, float] = {}
        self._buffer = EvalScores()
        self._train_sums = torch.zeros(3)  # loss sum, correct count and trials of the running epoch
        self._runner: FastInference | None = None  # validation / test network of the running epoch
        self._planned_t_max: int | None = None  # the cosine schedule's length for this run

    # ------------------------------------------------------------------ loading
    @classmethod
    def load_from_checkpoint(
        cls, checkpoint_path: Any, map_location: Any = None, **kwargs: Any
    ) -> AASISTLitModule:  # type: ignore[override]
        """Load a training checkpoint (weights_only). The checkpoint holds every weight, so the pretrained
        weights the run started from are not looked up again (pass `pretrained=...` to override)."""
        kwargs.setdefault("pretrained", None)
        kwargs.setdefault("weights_only", True)
        return super().load_from_checkpoint(checkpoint_path, map_location=map_location, **kwargs)

    def configure_model(self) -> None:
        """Lay the weights out as ``memory_format`` resolves on the Trainer's device (the activations follow
        them), before the strategy wraps the model: DDP buckets the gradients in the weights' layout.
        load_from_checkpoint calls it without a Trainer: the loaded network keeps the plain layout."""
        if self._trainer is None:
            return
        hardware = detect_hardware(self.trainer.strategy.root_device)
        channels_last = training_memory_format(self.hparams.memory_format, hardware) == "channels_last"
        # Parameters keep their identity (only .data is laid out anew): a built optimizer stays valid.
        self.model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    # ------------------------------------------------------------------ forward / loss
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, weight=self.class_weights, reduction=reduction)

    # ------------------------------------------------------------------ training
    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(3, device=self.device)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        logits = self.model(x)
        loss = self._loss(logits, y)
        # One host sync per step (the progress bar reads the logged loss each step anyway): NaN weights would
        # otherwise be trained on and checkpointed, and only the first validation would fail, on NaN scores.
        if not torch.isfinite(loss):
            group = self.optimizers().param_groups[0]
            lr = group.get("initial_lr", group["lr"])  # the configured value, before the schedule
            raise TrainingDivergedError(
                f"training diverged: the loss is {loss.item()} at step {self.global_step} (epoch "
                f"{self.current_epoch}); stopped before any checkpoint of these weights. Fix: lower "
                f"model.optimizer.lr (now {lr:g}) or check the augment.* settings"
            )
        n = y.shape[0]
        correct = (logits.argmax(dim=1) == y).sum()
        # Running means over the epoch so far (the official code reports the same running loss): smooth to
        # read live in the progress bar; the last step's value is the epoch's mean.
        # Tensors on the model's device: no host sync per step.
        self._train_sums += torch.stack([loss.detach().float() * n, correct.float(), loss.new_tensor(n)])
        total, hits, count = self._train_sums.unbind()
        self.log("train/loss", total / count, on_step=True, on_epoch=False, prog_bar=True, batch_size=n)
        self.log("train/acc", hits / count, on_step=True, on_epoch=False, prog_bar=True, batch_size=n)
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False, batch_size=n)
        return loss

    # ------------------------------------------------------------------ validation / test
    def _eval_step(self, batch: Any) -> None:
        x, y, utt_ids, attacks = batch[0], batch[1], list(batch[2]), list(batch[3])
        logits = (self._runner(x) if self._runner is not None else self.model(x)).float()
        losses = self._loss(logits, y, reduction="none")
        w = self.class_weights[y] if self.class_weights is not None else torch.ones_like(losses)
        rows = EvalScores(
            utt_ids=utt_ids,
            attacks=attacks,
            labels=y.tolist(),
            scores=logits[:, 1].tolist(),
            llrs=(logits[:, 1] - logits[:, 0]).tolist(),
            # Per-trial weighted losses: the mean loss is recomputed exactly as sum(w*l)/sum(w) at epoch end.
            losses=(losses * w).tolist() if self.class_weights is not None else losses.tolist(),
            weights=w.tolist(),
            correct=(logits.argmax(dim=1) == y).tolist(),
        )
        self._buffer.extend(rows)

    def _gather(self) -> EvalScores:
        """All processes' trials, each utterance once, in a deterministic order."""
        local, self._buffer = self._buffer, EvalScores()
        if (
            self.trainer.world_size > 1
            and torch.distributed.is_available()
            and torch.distributed.is_initialized()
        ):
            parts: list[EvalScores | None] = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(parts, local)
            merged = EvalScores()
            for part in parts:
                if part is not None:
                    merged.extend(part)
            local = merged
        unique = local.unique()
        order = sorted(range(len(unique)), key=lambda i: unique.utt_ids[i])
        out = EvalScores()
        for name in out.__dataclass_fields__:
            setattr(out, name, [getattr(unique, name)[i] for i in order])
        return out

    def _common_metrics(self, rows: EvalScores) -> dict[str, float]:
        return {
            "loss": float(np.sum(rows.losses) / max(np.sum(rows.weights), 1e-12)),
            "acc": float(np.mean(rows.correct)) if len(rows) else math.nan,
        }

    def _start_eval_epoch(self) -> None:
        self._buffer = EvalScores()
        inference = self.hparams.get("inference") or {}
        # Rebuilt every epoch: it runs a copy of the weights as they are now (the ONNX graph is exported once
        # and given the new weights). No compile (auto): one epoch of validation would not pay for minutes of
        # compilation on a small CPU. The training step's idle pages go back first: ONNX Runtime allocates
        # outside PyTorch's allocator, and holding both adds the two peaks (2-epoch default runs: 7.1 GiB
        # peak RSS against 4.2).
        release_idle_memory()
        self._runner = prepare_inference(
            self.model,
            inference.get("backend", "auto"),
            inference.get("precision", "auto"),
            allow_compile=False,
        )

    def on_validation_epoch_start(self) -> None:
        self._start_eval_epoch()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._runner = None  # frees the copy (and its ONNX Runtime session) until the next epoch
        rows = self._gather()
        if self.trainer.sanity_checking:
            return
        self.last_eval = rows
        metrics = self._common_metrics(rows)
        bona, spoof = rows.split(rows.scores)
        calibration: Calibration | None = None
        measures: dict[str, float] = {}
        if len(bona) and len(spoof):
            eer, threshold = compute_eer(bona, spoof)
            eer *= 100.0
            llr_bona, llr_spoof = rows.split(rows.llrs)
            llr_threshold = compute_eer(llr_bona, llr_spoof)[1]
            calibration = fit_calibration(llr_bona, llr_spoof)
            measures = {
                "act_dcf": act_dcf(bona, spoof),
                "cllr": cllr(bona, spoof),
                **calibration_measures(calibration, llr_bona, llr_spoof),
            }
        else:
            eer, threshold, llr_threshold = math.nan, None, None
            rank_zero_warn(
                f"the validation set has {len(bona)} bona fide and {len(spoof)} spoof trials: no EER "
                "(does trainer.limit_val_batches cut the protocol short?)"
            )
        # Strictly better, as ModelCheckpoint(mode="min") decides: best.ckpt, scores/dev.txt and the stored
        # threshold always describe the same epoch.
        self.val_improved = not math.isnan(eer) and eer < self.val_eer_best
        if self.val_improved:
            self.val_eer_best = eer
            self.dev_eer_threshold = None if llr_threshold is None else float(llr_threshold)
            self.dev_eer_threshold_logit = None if threshold is None else float(threshold)
            self.calibration = calibration
        self.val_results = {
            "val/loss": metrics["loss"],
            "val/acc": metrics["acc"],
            "val/eer": eer,
            "val/eer_best": self.val_eer_best,
            **{f"val/{key}": value for key, value in measures.items()},
        }
        for name, value in self.val_results.items():
            # Every process holds the same gathered trials, so the values agree; sync_dist only keeps
            # Lightning from warning about unsynced epoch-level logs.
            self.log(name, value, prog_bar=name in ("val/eer", "val/loss"), sync_dist=True)

    def on_test_epoch_start(self) -> None:
        self._start_eval_epoch()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._runner = None
        rows = self._gather()
        self.last_eval = rows
        metrics = self._common_metrics(rows)
        results: dict[str, float | None] = {"test/loss": metrics["loss"], "test/acc": metrics["acc"]}
        bona, spoof = rows.split(rows.scores)
        if len(bona) and len(spoof):
            tandem = self._tandem_asv()
            report = score_report(
                rows.scores,
                rows.labels,
                rows.attacks,
                asv=None if tandem is None else tandem.scores,
                cost_model=ASVSPOOF2019 if tandem is None else tandem.cost_model,
            )
            results["test/eer"] = report["eer"]
            for key in ("min_tdcf", "min_dcf", "act_dcf", "cllr"):
                results[f"test/{key}"] = report[key]
            for attack, value in sorted(report["per_attack_eer"].items()):
                results[f"test/eer_{attack}"] = value
            # The dev-fitted map of the best epoch (None before any validation): test scores only judge it.
            measures = calibration_measures(self.calibration, *rows.split(rows.llrs))
            results.update({f"test/{key}": value for key, value in measures.items()})
        else:
            rank_zero_warn(
                f"the test set has {len(bona)} bona fide and {len(spoof)} spoof trials: no EER / DCF "
                "(does trainer.limit_test_batches cut the protocol short?)"
            )
        self.test_results = {k: float(v) for k, v in results.items() if v is not None}
        for name, value in self.test_results.items():
            self.log(name, value, sync_dist=True)

    def _tandem_asv(self) -> TandemASV | None:
        """The eval split's ASV scores and t-DCF (for min t-DCF) when the datamodule has them, else None."""
        datamodule = getattr(self.trainer, "datamodule", None)
        return datamodule.asv_scores("eval") if hasattr(datamodule, "asv_scores") else None

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        opt_cfg = dict(
            self.hparams.optimizer or {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 5e-5}
        )
        opt_cfg.setdefault("_partial_", True)
        optimizer = hydra.utils.instantiate(opt_cfg)(params=self.parameters())
        sched_cfg = dict(self.hparams.scheduler or {})
        if not sched_cfg.get("_target_"):
            return optimizer
        interval = sched_cfg.pop("interval", "epoch")
        frequency = sched_cfg.pop("frequency", 1)
        sched_cfg.setdefault("_partial_", True)
        if "T_max" in sched_cfg and sched_cfg["T_max"] is None:
            # Anneal over the whole run: every optimizer step (interval step) or every epoch.
            steps = self.trainer.estimated_stepping_batches if interval == "step" else self.trainer.max_epochs
            sched_cfg["T_max"] = max(int(steps), 1)
        scheduler = hydra.utils.instantiate(sched_cfg)(optimizer=optimizer)
        self._planned_t_max = sched_cfg.get("T_max")
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": interval,
                "frequency": frequency,
                "name": "lr",
            },
        }

    def on_train_start(self) -> None:
        """A resumed run restores the cosine schedule's T_max with its state: with a raised
        trainer.max_epochs the learning rate would rise again after the old end. The run's length wins: the
        lr moves to where a schedule planned for it stands at the restored step."""
        planned = self._planned_t_max
        if planned is None:
            return
        for config in self.trainer.lr_scheduler_configs:
            cosine = config.scheduler
            if not isinstance(cosine, torch.optim.lr_scheduler.CosineAnnealingLR) or cosine.T_max == planned:
                continue
            old, cosine.T_max = cosine.T_max, planned
            cosine._last_lr = cosine._get_closed_form_lr()  # torch's own closed form at the restored step
            for group, lr in zip(cosine.optimizer.param_groups, cosine._last_lr, strict=True):
                group["lr"] = lr
            rank_zero_warn(
                f"resumed at {config.interval} {cosine.last_epoch}: the cosine schedule planned for {old} "
                f"{config.interval}s now spans {planned} (the run's length); lr continues at "
                f"{cosine._last_lr[0]:.3g}"
            )

    # ------------------------------------------------------------------ checkpoint state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[THRESHOLD_KEY] = self.dev_eer_threshold
        checkpoint[LOGIT_THRESHOLD_KEY] = self.dev_eer_threshold_logit
        checkpoint["val_eer_best"] = None if math.isinf(self.val_eer_best) else self.val_eer_best
        # Calibration.as_dict() of the best epoch (plain floats), or None.
        checkpoint[CALIBRATION_KEY] = None if self.calibration is None else self.calibration.as_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.dev_eer_threshold = checkpoint.get(THRESHOLD_KEY)
        self.dev_eer_threshold_logit = checkpoint.get(LOGIT_THRESHOLD_KEY)
        self.calibration = stored_calibration(checkpoint, "checkpoint")
        best = checkpoint.get("val_eer_best")
        self.val_eer_best = math.inf if best is None else float(best)


__all__ = ["AASISTLitModule", "TrainingDivergedError"]
