"""The default training recipe end to end, scaled down, with an extrapolation to the full default run.

``python train.py`` as shipped, except for the amount of data: one epoch of ``train_clips`` clips of a freshly
generated embedded corpus, half as many dev and eval clips; the same model, augmentation, precision
(``trainer.precision=auto``), allocator, loaders and callbacks. The run's time is split into corpus
generation, the model and data set-up before the first step, loading (waiting for training batches),
training steps, validation, test and checkpointing (``lit.callbacks.PhaseTimes``), and each phase is scaled
by its own unit (generated clips, training clips, validation clips, test clips, checkpoints) to the full
default run's counts, read from the same composed config.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from aasist_lightning import config_dir
from aasist_lightning.data.synthetic import EVAL_ATTACKS, TRAIN_ATTACKS

#: The phases scaled to the full run, each by the count that drives it.
_UNITS = {
    "generation": "generated_clips",
    "loading": "training_clips",
    "training": "training_clips",
    "validation": "validation_clips",
    "test": "test_clips",
    "checkpointing": "checkpoints",
}


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):  # as @hydra.main hands it over
        del cfg["hydra"]
    return cfg


def _clips(generator: DictConfig) -> dict[str, int]:
    """Clips the configured generator writes per split (its own job lists)."""
    corpus = hydra.utils.instantiate(generator)
    return {split: len(corpus.jobs(split)) for split in ("train", "dev", "eval")}


def _full_counts(cfg: DictConfig, checkpoints_per_epoch: float) -> dict[str, float]:
    """What the shipped default run processes, from its composed config."""
    data, epochs = cfg.data, cfg.trainer.max_epochs
    clips = _clips(data.generator)
    return {
        "generated_clips": sum(clips.values()),
        "training_clips": epochs * data.train_subset,
        "validation_clips": epochs * (data.dev_subset or clips["dev"]),
        "test_clips": data.eval_subset or clips["eval"],
        "checkpoints": epochs * checkpoints_per_epoch,
    }


def profile_recipe(train_clips: int = 160, log: Any = print) -> dict[str, Any]:
    """Run the scaled-down default recipe in a temporary folder, in a process of its own (its peak RSS is the
    run's alone); its phases, counts and the extrapolation to the full default run."""
    if train_clips < 4 or train_clips % 4:
        raise ValueError(f"--recipe-clips must be a positive multiple of 4, got {train_clips}")
    log(f"  default recipe, scaled: 1 epoch of {train_clips} clips, {train_clips // 2} dev and eval")
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_profile, train_clips).result()


def _profile(train_clips: int) -> dict[str, Any]:
    from aasist_lightning.cli.train import train

    half = train_clips // 2
    default = _compose([])
    with tempfile.TemporaryDirectory(prefix="aasist-bench-recipe-") as tmp:
        # Enough of each class for the balanced subsets: half bona fide, spoofs spread over the attacks.
        overrides = [
            f"paths.data_dir={tmp}/data", f"paths.output_dir={tmp}/run", "logger=none",
            "callbacks=[default,phase_times]", "~callbacks.rich_progress_bar", "~callbacks.model_summary",
            "trainer.enable_progress_bar=false", "trainer.max_epochs=1",
            f"data.train_subset={train_clips}", f"data.dev_subset={half}", f"data.eval_subset={half}",
            f"data.generator.train_bonafide={half}",
            f"data.generator.train_spoof_per_attack={-(-half // len(TRAIN_ATTACKS))}",
            f"data.generator.dev_bonafide={half // 2}",
            f"data.generator.dev_spoof_per_attack={-(-half // (2 * len(TRAIN_ATTACKS)))}",
            f"data.generator.eval_bonafide={half // 2}",
            f"data.generator.eval_spoof_per_attack={-(-half // (2 * len(EVAL_ATTACKS)))}",
            "data.generator.progress=false",
        ]  # fmt: skip
        cfg = _compose(overrides)
        start = time.perf_counter()
        hydra.utils.instantiate(cfg.data.generator)(Path(cfg.data.root))
        generation = time.perf_counter() - start
        start = time.perf_counter()
        metrics = train(cfg)
        wall = time.perf_counter() - start
        results = json.loads((Path(cfg.paths.output_dir) / "results.json").read_text())
    seconds = {"generation": generation, **results["phase_seconds"]}
    seconds["set_up_and_other"] = wall - sum(v for k, v in results["phase_seconds"].items())
    counts = {"generated_clips": sum(_clips(cfg.data.generator).values()), **results["phase_counts"]}
    full_counts = _full_counts(default, counts.get("checkpoints", 0))
    full = {
        phase: seconds.get(phase, 0.0) / counts[unit] * full_counts[unit]
        for phase, unit in _UNITS.items()
        if counts.get(unit)
    }
    # The rest happens once per run, like here: set-up, the sanity check (its ONNX export included).
    full.update({phase: value for phase, value in seconds.items() if phase not in _UNITS})
    return {
        "train_clips": train_clips,
        "precision": results["config"]["trainer"]["precision"],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "counts": counts,
        "wall_s": round(generation + wall, 2),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "full_run_counts": full_counts,
        "full_run_estimate_s": {k: round(v, 1) for k, v in full.items()},
        "full_run_estimate_min": round(sum(full.values()) / 60, 1),
        "metrics": {k: v for k, v in metrics.items() if k in ("val/eer_best", "test/eer")},
    }


__all__ = ["profile_recipe"]
