"""Callbacks of a training run: checkpoints that survive resuming elsewhere and Ctrl-C, exact RNG resume,
score files, test-time plots, and where the run's time goes."""

from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from aasist_lightning.files import atomic_copy
from aasist_lightning.lit.loggers import log_images
from aasist_lightning.metrics.scores import write_score_file

log = logging.getLogger(__name__)


class RunCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint`: best.ckpt by the monitored metric, last.ckpt every epoch (also written before
    validation runs, so a failing validation never loses the trained epoch); resumes into a new folder.

    Lightning forgets the best score when a run is resumed from a checkpoint of another folder, so the first
    resumed epoch would become "best" whatever its score. Here the previous best checkpoint is copied into the
    new folder (the old run is left untouched) and its score kept, so a resumed run ends exactly as an
    uninterrupted one.
    """

    # Lightning 2.6 writes last.ckpt only in a step where it also wrote best.ckpt, i.e. (save_top_k=1) only
    # after an improving epoch; last.ckpt must be the latest epoch, for resuming after a crash.
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        due = self._saves_here(trainer, at_train_epoch_end=True)
        super().on_train_epoch_end(trainer, pl_module)
        if due:
            self._save_last_if_missed(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """last.ckpt before validation: a validation that fails (e.g. a damaged dev clip) keeps the trained
        epoch. Written without Lightning's bookkeeping, so after a validation that succeeds last.ckpt (and
        best.ckpt) are written as ever, with the validation's results."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            trainer.save_checkpoint(
                self.format_checkpoint_name(self._monitor_candidates(trainer), self.CHECKPOINT_NAME_LAST),
                weights_only=self.save_weights_only,  # saving (as Lightning's own saves): the full state
            )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        due = self._saves_here(trainer, at_train_epoch_end=False)
        super().on_validation_end(trainer, pl_module)
        if due:
            self._save_last_if_missed(trainer)

    def _saves_here(self, trainer: L.Trainer, at_train_epoch_end: bool) -> bool:
        """Whether Lightning's hook saves this epoch here (asked before it runs: saving changes that)."""
        if self._should_skip_saving_checkpoint(trainer):
            return False
        return self._should_save_on_train_epoch_end(trainer) == at_train_epoch_end

    def _save_last_if_missed(self, trainer: L.Trainer) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old_dir, old_best = state_dict.get("dirpath"), state_dict.get("best_model_path")
        score = state_dict.get("best_model_score")
        moved = old_dir and self.dirpath and Path(old_dir).resolve() != Path(self.dirpath).resolve()
        if moved and old_best and Path(old_best).is_file() and score is not None:
            new_best = Path(self.dirpath) / Path(old_best).name
            atomic_copy(Path(old_best), new_best)
            log.info("resuming into %s: copied the previous best checkpoint %s", self.dirpath, old_best)
            state_dict = {
                **state_dict,
                "dirpath": self.dirpath,
                "best_model_path": str(new_best),
                "kth_best_model_path": str(new_best),
                "best_k_models": {str(new_best): score},
                "last_model_path": "",
            }
        super().load_state_dict(state_dict)


class InterruptCheckpoint(Callback):
    """On Ctrl-C (KeyboardInterrupt) or SIGTERM (a scheduler's time limit, `kill`, `timeout`) save
    `<dirpath>/last.ckpt`, unless it already holds the current step.

    Lightning catches the interrupt, calls `on_exception` and exits; the checkpoint is written atomically by
    global rank 0 without any collective call (the other processes may be gone already).
    """

    def __init__(self, dirpath: str | os.PathLike[str], filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self._saved_step = -1

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self._saved_step = trainer.global_step

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        # SIGTERM: Lightning stops at the end of the step, or the DataLoader fails first when its workers got
        # the signal too (a whole process group terminated); either way the trainer noted the signal.
        stopped = isinstance(exception, KeyboardInterrupt) or trainer.received_sigterm
        if not stopped or trainer.sanity_checking or not trainer.training:
            return
        if trainer.global_step == 0 or trainer.global_step == self._saved_step or not trainer.is_global_zero:
            return
        # Saving, not loading: the full training state (optimizer, schedule, loops) for ckpt_path=last.
        # Not trainer.save_checkpoint: its barrier would hang a DDP run where only rank 0 gets here.
        checkpoint = trainer._checkpoint_connector.dump_checkpoint()  # full state (Lightning's default)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.strategy.checkpoint_io.save_checkpoint(checkpoint, self.path)
        log.warning(
            "interrupted at step %d: saved %s (resume with ckpt_path=...)", trainer.global_step, self.path
        )


class RNGCheckpoint(Callback):
    """Saves the Python / NumPy / torch RNG states in checkpoints and restores them on resume.

    Restored when the checkpoint is loaded: after that only the (RNG-isolated) sanity check runs before the
    first training batch, so the resumed epoch draws the same shuffling, cropping and frequency masks as the
    uninterrupted run.
    """

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        state: dict[str, Any] = {
            "python": random.getstate(),
            # weights_only loading accepts tensors, tuples and plain numbers, not NumPy arrays
            "numpy": (
                str(np_state[0]),
                torch.from_numpy(np_state[1].copy()),
                *(int(v) for v in np_state[2:4]),
            ),
            "numpy_gauss": float(np_state[4]),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict:
            return
        python = state_dict["python"]
        random.setstate((python[0], tuple(python[1]), python[2]))
        name, key, pos, has_gauss = state_dict["numpy"]
        np.random.set_state((name, key.numpy(), pos, has_gauss, state_dict["numpy_gauss"]))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class ScoreFileWriter(Callback):
    """Writes AASIST score files (`utt_id attack key score`, score = logits[:, 1]) from global rank 0.

    `dev.txt`: the validation scores of the best epoch (the same epoch as best.ckpt and the stored dev-EER
    threshold), rewritten whenever validation improves. `eval.txt`: the test scores (of best.ckpt in train()).
    """

    def __init__(
        self, dirpath: str | os.PathLike[str], dev_name: str = "dev.txt", eval_name: str = "eval.txt"
    ):
        self.dirpath = Path(dirpath)
        self.dev_path = self.dirpath / dev_name
        self.eval_path = self.dirpath / eval_name

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not getattr(pl_module, "val_improved", False):
            return
        if trainer.is_global_zero and pl_module.last_eval is not None:
            write_score_file(self.dev_path, pl_module.last_eval)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and pl_module.last_eval is not None:
            write_score_file(self.eval_path, pl_module.last_eval)

    def state_dict(self) -> dict[str, Any]:
        return {"dev_path": str(self.dev_path)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Resuming into a new folder: bring the best epoch's dev scores along (the old run is left untouched).
        old = Path(state_dict.get("dev_path", self.dev_path))
        if old.resolve() != self.dev_path.resolve() and old.is_file():
            atomic_copy(old, self.dev_path)


class TestPlots(Callback):
    """After testing: DET curve and score histogram PNGs in `dirpath`, also sent to W&B / TensorBoard."""

    def __init__(self, dirpath: str | os.PathLike[str]) -> None:
        self.dirpath = Path(dirpath)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows = getattr(pl_module, "last_eval", None)
        if not trainer.is_global_zero or rows is None or not len(rows):
            return
        bona, spoof = rows.split(rows.scores)
        if not len(bona) or not len(spoof):
            return
        from aasist_lightning.metrics.plots import plot_det, plot_score_histogram

        self.dirpath.mkdir(parents=True, exist_ok=True)
        images = {
            "test/det_curve": plot_det(bona, spoof, self.dirpath / "det_eval.png"),
            "test/score_histogram": plot_score_histogram(
                bona, spoof, self.dirpath / "score_histogram_eval.png"
            ),
        }
        log_images(trainer.loggers, images, trainer.global_step)


class PhaseTimes(Callback):
    """Where a run's wall time goes, in seconds: ``warm_up`` (the run's first training step with its batch's
    loading: kernel selection, first-touch memory, the loader workers' start), ``loading`` (waiting for the
    other training batches), ``training`` (forward, backward and optimizer step of the other steps),
    ``validation`` and ``test`` (their batches after the first, loading included), ``validation_overhead``
    and ``test_overhead`` (the rest of each validation / test: its first batch with the ONNX Runtime session
    made at the first call, and the epoch-end scoring, score files and plots), ``sanity_check`` and
    ``checkpointing`` (writing checkpoints, wherever it happens). ``counts``: what each phase processed
    (``warm_up_clips``; ``training_clips`` and ``training_steps`` of the other steps; ``validation_runs`` /
    ``test_runs``; ``validation_clips`` / ``test_clips`` after each first batch; ``checkpoints``). train.py
    adds both to ``results.json`` (``phase_seconds``, ``phase_counts``); ``make bench`` profiles the default
    recipe with it, scaling each phase by its own count. Listed after the score writers
    (``callbacks=[default,phase_times]``), it counts their epoch-end work in the overheads."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self._mark = 0.0
        self._saving_during = 0.0  # checkpointing inside the current window
        self._warmed_up = False  # the run's first training step is done
        self._first_batch = False  # the current validation / test has not finished its first batch

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        io = trainer.strategy.checkpoint_io
        if getattr(io.save_checkpoint, "_timed_by", None) is self:
            return
        save = io.save_checkpoint

        # Every checkpoint (best, last, interrupt) goes through the strategy's CheckpointIO: time it there.
        def timed_save(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return save(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self.seconds["checkpointing"] += spent
                self._saving_during += spent
                self.counts["checkpoints"] += 1

        timed_save._timed_by = self  # type: ignore[attr-defined]
        io.save_checkpoint = timed_save  # type: ignore[method-assign]

    def _start(self) -> None:
        self._mark = time.perf_counter()
        self._saving_during = 0.0

    def _stop(self, phase: str) -> None:
        self.seconds[phase] += time.perf_counter() - self._mark - self._saving_during

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, i: int
    ) -> None:
        if self._warmed_up:  # the first batch's loading belongs to the warm-up
            self._stop("loading")
            self._start()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if self._warmed_up:
            self._stop("training")
            self.counts["training_steps"] += 1
            self.counts["training_clips"] += len(batch[1])
        else:  # once per run, however long the run: kept apart so that the steady steps scale
            self._stop("warm_up")
            self.counts["warm_up_clips"] += len(batch[1])
            self._warmed_up = True
        self._start()

    def _evaluation_batch_end(self, phase: str, batch: Any) -> None:
        if self._first_batch:  # the ONNX Runtime session is made at the first call, its buffers grown
            self._stop(f"{phase}_overhead")
            self._first_batch = False
        else:
            self._stop(phase)
            self.counts[f"{phase}_clips"] += len(batch[1])
        self._start()

    def _evaluation_end(self, phase: str) -> None:
        self._stop(f"{phase}_overhead")  # the epoch-end scoring, score files, plots
        self.counts[f"{phase}_runs"] += 1

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start()
        self._first_batch = True

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if not trainer.sanity_checking:  # the sanity check is timed as one phase
            self._evaluation_batch_end("validation", args[1])

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            self._stop("sanity_check")
        else:
            self._evaluation_end("validation")
        self._start()  # the training epoch goes on (or ends) from here

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start()
        self._first_batch = True

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._evaluation_batch_end("test", args[1])

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluation_end("test")
