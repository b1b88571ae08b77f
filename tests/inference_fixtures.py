"""Shared by the inference tests (test_evaluate*, test_predict*, test_export*, test_attention*): a tiny
synthetic corpus and a tiny trained checkpoint, made once per test session under pytest's base temporary
folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from aasist_lightning import config_dir

# debug=tiny: a tiny model on a tiny synthetic corpus (8 bona fide + 1 per attack in each split).
TINY_OVERRIDES = ("debug=tiny", "logger=none")
TINY_ARCH = {
    "nb_samp": 16000,
    "first_conv": 3,
    "filts": [8, [1, 4], [4, 4], [4, 4], [4, 4]],
    "gat_dims": [4, 4],
    "freq_mask_width": 4,
}


def compose_cfg(*overrides: str, name: str = "eval", output_dir: Path | None = None) -> DictConfig:
    """Compose like `python <name>.py <overrides>` would."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):  # as @hydra.main hands it over: ${hydra:...} resolves through HydraConfig
        del cfg["hydra"]
    if output_dir is not None:
        cfg.paths.output_dir = str(output_dir)
    return cfg


def session_dir(factory: pytest.TempPathFactory) -> Path:
    """One folder per test session for the shared corpus and checkpoint."""
    path = factory.getbasetemp() / "inference_shared"
    path.mkdir(exist_ok=True)
    return path


def tiny_data_dir(factory: pytest.TempPathFactory) -> Path:
    """paths.data_dir holding the debug=tiny corpus (generated on first use, then reused)."""
    import hydra

    base = session_dir(factory) / "data"
    cfg = compose_cfg(*TINY_OVERRIDES, f"paths.data_dir={base}", output_dir=session_dir(factory) / "gen")
    hydra.utils.instantiate(cfg.data.generator)(Path(cfg.data.root))
    return base


def tiny_checkpoint(factory: pytest.TempPathFactory) -> Path:
    """best.ckpt of a 1-epoch debug=tiny training run (it stores a dev-EER threshold)."""
    import torch

    from aasist_lightning.cli.train import train

    run = session_dir(factory) / "train_run"
    ckpt = run / "checkpoints" / "best.ckpt"
    if not ckpt.is_file():
        data = tiny_data_dir(factory)
        cfg = compose_cfg(
            *TINY_OVERRIDES,
            f"paths.data_dir={data}",
            "trainer.max_epochs=1",
            "test=false",
            "~callbacks.rich_progress_bar",
            "~callbacks.model_summary",
            name="train",
            output_dir=run,
        )
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            train(cfg)
        finally:
            torch.set_num_threads(threads)
    assert ckpt.is_file()
    return ckpt


def tone(n: int, sr: int, freq: float = 440.0, amp: float = 0.5, seed: int = 0) -> np.ndarray:
    """A tone plus a little noise (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    return (amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)


def random_checkpoint(
    path: Path,
    threshold: float | None = 0.25,
    calibration: dict[str, float] | None = None,
    **arch: object,
) -> Path:
    """A checkpoint in the training run's format (AASISTLitModule state and hyper-parameters, a dev-EER
    threshold, a score calibration as ``Calibration.as_dict()``) of a randomly initialised tiny model: fast
    to make and to run."""
    import torch

    from aasist_lightning.lit.module import AASISTLitModule

    torch.manual_seed(0)
    lit = AASISTLitModule(pretrained=None, **{**TINY_ARCH, **arch})
    ckpt = {
        "state_dict": lit.state_dict(),
        "hyper_parameters": dict(lit.hparams),
        "dev_eer_threshold": threshold,
        "calibration": calibration,
        "pytorch-lightning_version": "2.6.0",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path
