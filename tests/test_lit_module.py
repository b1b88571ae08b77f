"""AASISTLitModule: loss, optimizer and schedule from config, gathered validation / test metrics, and
checkpoints that load with torch.load(weights_only=True)."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from aasist_lightning.lit.module import AASISTLitModule
from aasist_lightning.metrics import act_dcf, cllr, compute_eer
from aasist_lightning.metrics.calibration import fit_calibration, min_cllr
from aasist_lightning.metrics.scores import EvalScores
from aasist_lightning.models import OFFICIAL_ARCHS

TINY = {
    "pretrained": None,
    "nb_samp": 4000,
    "first_conv": 3,
    "filts": [8, [1, 4], [4, 4], [4, 4], [4, 4]],
    "gat_dims": [4, 4],
    "freq_mask_width": 4,
}
ADAM = {
    "_target_": "torch.optim.Adam",
    "_partial_": True,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "betas": [0.9, 0.999],
}
SGD = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.01}
COSINE = {
    "_target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
    "_partial_": True,
    "T_max": None,
    "eta_min": 5e-5,
    "interval": "step",
}


pytestmark = pytest.mark.usefixtures("one_thread")


class Trials(Dataset):
    """Random waveforms, bona fide louder. Train items (x, y); eval items (x, y, utt_id, attack)."""

    def __init__(self, n: int, train: bool, seed: int = 0) -> None:
        g = np.random.default_rng(seed)
        self.y = np.arange(n) % 2
        self.x = (g.standard_normal((n, TINY["nb_samp"])) * (0.2 + self.y[:, None])).astype(np.float32)
        self.train = train

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        x, y = torch.from_numpy(self.x[i]), int(self.y[i])
        if self.train:
            return x, y
        return x, y, f"LA_D_{i:07d}", "-" if y else f"A0{1 + i % 3}"


def loaders(n: int = 12, batch: int = 4) -> tuple[DataLoader, DataLoader]:
    return (
        DataLoader(Trials(n, True), batch_size=batch, shuffle=True),
        DataLoader(Trials(n, False, seed=1), batch_size=batch),
    )


class LRLog(L.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def tiny_trainer(tmp_path: Path, epochs: int = 2, **kwargs) -> L.Trainer:
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kwargs,
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[AASISTLitModule, L.Trainer, LRLog, Path]:
    tmp = tmp_path_factory.mktemp("lit")
    L.seed_everything(0)
    lit = AASISTLitModule(**TINY, class_weights=[0.1, 0.9], optimizer=ADAM, scheduler=COSINE)
    lr_log = LRLog()
    trainer = tiny_trainer(tmp, epochs=2, callbacks=[lr_log], limit_train_batches=3)
    train, val = loaders()
    trainer.fit(lit, train, val)
    ckpt = tmp / "model.ckpt"
    trainer.save_checkpoint(ckpt)
    return lit, trainer, lr_log, ckpt


def test_hyperparameters_are_plain_and_checkpoint_loads_weights_only(fitted) -> None:
    lit, _, _, ckpt = fitted
    state = torch.load(ckpt, weights_only=True, map_location="cpu")
    hp = state["hyper_parameters"]
    assert hp["optimizer"] == ADAM and hp["filts"] == TINY["filts"] and hp["class_weights"] == [0.1, 0.9]
    assert isinstance(state["dev_eer_threshold"], float) and isinstance(
        state["dev_eer_threshold_logit"], float
    )
    assert state["dev_eer_threshold"] == lit.dev_eer_threshold
    assert state["val_eer_best"] == lit.val_eer_best
    # The dev-fitted calibration as plain floats (weights_only above refuses anything else).
    assert lit.calibration is not None and state["calibration"] == lit.calibration.as_dict()
    assert all(type(v) is float for v in state["calibration"].values())


def test_load_from_checkpoint_skips_the_pretrained_lookup(fitted, tmp_path: Path) -> None:
    lit, _, _, ckpt = fitted
    state = torch.load(ckpt, weights_only=True, map_location="cpu")
    # A run that started from a weights file that is gone by now still loads: the checkpoint has every weight.
    state["hyper_parameters"]["pretrained"] = str(tmp_path / "gone.pth")
    moved = tmp_path / "moved.ckpt"
    torch.save(state, moved)
    loaded = AASISTLitModule.load_from_checkpoint(moved, map_location="cpu")
    for key, value in lit.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert loaded.dev_eer_threshold == lit.dev_eer_threshold
    assert loaded.calibration == lit.calibration
    assert loaded.hparams.pretrained is None


def test_cosine_schedule_per_step_matches_the_official_formula(fitted) -> None:
    """Official utils.cosine_annealing: lr_min + (lr_max - lr_min) * (1 + cos(pi * step / total)) / 2."""
    _, trainer, lr_log, _ = fitted
    total = trainer.estimated_stepping_batches
    assert total == 6 and len(lr_log.lrs) == 6
    lr_max, lr_min = ADAM["lr"], COSINE["eta_min"]
    expected = [lr_min + (lr_max - lr_min) * 0.5 * (1 + math.cos(s / total * math.pi)) for s in range(total)]
    np.testing.assert_allclose(lr_log.lrs, expected, rtol=1e-6)
    opt = trainer.optimizers[0]
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["weight_decay"] == 1e-4


def test_validation_metrics_come_from_the_gathered_scores(fitted) -> None:
    lit, trainer, _, _ = fitted
    rows = lit.last_eval
    assert rows is not None and len(rows) == 12 and rows.utt_ids == sorted(rows.utt_ids)
    eer, threshold = compute_eer(*rows.split(rows.scores))
    metrics = trainer.callback_metrics
    assert lit.val_results["val/eer"] == pytest.approx(100 * eer)
    assert float(metrics["val/eer"]) == pytest.approx(100 * eer, abs=1e-4)
    assert lit.val_results["val/eer_best"] <= lit.val_results["val/eer"]
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/eer_best", "lr"} <= set(metrics)
    assert 0.0 <= lit.val_results["val/acc"] <= 1.0
    llr_threshold = compute_eer(*rows.split(rows.llrs))[1]
    assert lit.dev_eer_threshold_logit is not None and lit.dev_eer_threshold is not None
    if lit.val_results["val/eer"] == lit.val_eer_best:  # the thresholds belong to the best epoch
        assert lit.dev_eer_threshold == pytest.approx(llr_threshold)
        assert lit.dev_eer_threshold_logit == pytest.approx(threshold)


def test_calibration_is_fitted_on_the_dev_logit_differences(fitted) -> None:
    """The best epoch's map is the logistic-regression fit of its dev LLRs; act DCF / Cllr of the score files'
    score, calibrated ones of the fitted map, min Cllr below them."""
    lit, trainer, _, _ = fitted
    rows = lit.last_eval
    res = lit.val_results
    bona, spoof = rows.split(rows.scores)
    assert res["val/act_dcf"] == pytest.approx(act_dcf(bona, spoof))
    assert res["val/cllr"] == pytest.approx(cllr(bona, spoof))
    llr_bona, llr_spoof = rows.split(rows.llrs)
    fitted_map = fit_calibration(llr_bona, llr_spoof)
    assert res["val/cllr_calibrated"] == pytest.approx(cllr(fitted_map(llr_bona), fitted_map(llr_spoof)))
    assert res["val/min_cllr"] == pytest.approx(min_cllr(llr_bona, llr_spoof))
    if fitted_map.scale > 0:  # PAV's maps only rise: a reversing affine map may beat it
        assert res["val/min_cllr"] <= res["val/cllr_calibrated"] + 1e-9
    assert {"val/act_dcf_calibrated", "val/cllr", "val/min_cllr"} <= set(trainer.callback_metrics)
    if res["val/eer"] == lit.val_eer_best:  # the map belongs to the best epoch
        assert lit.calibration == fitted_map


def test_validation_runs_on_the_fast_path_with_the_plain_numbers(fitted) -> None:
    """Validation runs on the auto path (ONNX Runtime on a CPU) built from the current weights; its scores
    match the plain fp32 path's, which model.inference forces."""
    lit, trainer, _, _ = fitted
    assert lit.hparams.get("inference") is None  # the default: auto
    _, val = loaders()
    fast = {"backend": "auto", "precision": "auto"}
    plain = {"backend": "eager", "precision": "fp32"}
    scores = {}
    for name, inference in (("fast", fast), ("plain", plain)):
        lit.hparams["inference"] = inference
        used: list[str] = []
        original = lit._start_eval_epoch

        def spy(original=original, used=used) -> None:
            original()
            used.append(lit._runner.backend)

        lit._start_eval_epoch = spy
        try:
            trainer.validate(lit, val, verbose=False)
        finally:
            del lit._start_eval_epoch
        assert lit._runner is None  # released at the epoch's end
        scores[name] = (used, np.array(lit.last_eval.scores))
    lit.hparams["inference"] = None
    assert scores["plain"][0] == ["eager"]
    assert scores["fast"][0] == ["onnx"]
    np.testing.assert_allclose(scores["fast"][1], scores["plain"][1], atol=1e-4)


def test_training_loss_is_class_weighted_cross_entropy() -> None:
    torch.manual_seed(0)
    lit = AASISTLitModule(**TINY, class_weights=[0.1, 0.9], optimizer=ADAM, scheduler=None)
    logits = torch.randn(6, 2)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    expected = F.cross_entropy(logits, y, weight=torch.tensor([0.1, 0.9]))
    assert torch.allclose(lit._loss(logits, y), expected)
    plain = AASISTLitModule(**TINY, optimizer=ADAM)
    assert torch.allclose(plain._loss(logits, y), F.cross_entropy(logits, y))


def test_test_metrics_and_per_attack_eer(fitted, tmp_path: Path) -> None:
    lit, trainer, _, _ = fitted
    _, val = loaders()
    trainer.test(lit, val, verbose=False)
    res = lit.test_results
    assert {"test/eer", "test/min_dcf", "test/act_dcf", "test/cllr", "test/loss", "test/acc"} <= set(res)
    assert "test/min_tdcf" not in res  # no ASV scores without a datamodule that has them
    assert {"test/eer_A01", "test/eer_A02", "test/eer_A03"} <= set(res)
    rows = lit.last_eval
    assert res["test/eer"] == pytest.approx(100 * compute_eer(*rows.split(rows.scores))[0])
    # Test trials are judged with the dev-fitted map, never refitted.
    llr_bona, llr_spoof = rows.split(rows.llrs)
    calibrated = lit.calibration(llr_bona), lit.calibration(llr_spoof)
    assert res["test/cllr_calibrated"] == pytest.approx(cllr(*calibrated))
    assert res["test/act_dcf_calibrated"] == pytest.approx(act_dcf(*calibrated))
    assert res["test/min_cllr"] == pytest.approx(min_cllr(llr_bona, llr_spoof))


def test_no_scheduler_and_other_optimizers() -> None:
    sgd = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.01, "momentum": 0.9, "nesterov": True}
    lit = AASISTLitModule(**TINY, optimizer=sgd, scheduler={"_target_": None})
    opt = lit.configure_optimizers()
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"] is True


def test_eval_scores_unique_and_score_lines() -> None:
    rows = EvalScores(
        utt_ids=["LA_E_2", "LA_E_1", "LA_E_2"],
        attacks=["A07", "-", "A07"],
        labels=[0, 1, 0],
        scores=[-1.5, 2.25, -1.5],
        llrs=[-3.0, 4.0, -3.0],
        losses=[0.1, 0.2, 0.1],
        weights=[1.0, 1.0, 1.0],
        correct=[True, True, True],
    )
    unique = rows.unique()
    assert unique.utt_ids == ["LA_E_2", "LA_E_1"]
    assert unique.lines() == ["LA_E_2 A07 spoof -1.5", "LA_E_1 - bonafide 2.25"]


def test_pretrained_official_weights_with_another_first_conv(shared_dir: Path) -> None:
    """The paper's sweep: AASIST-L weights with first_conv 64 (the sinc filters are fixed, not learnt)."""
    arch = OFFICIAL_ARCHS["AASIST-L"]
    lit = AASISTLitModule(pretrained="AASIST-L", **{**arch, "first_conv": 64}, optimizer=ADAM)
    official = torch.load(shared_dir / "weights" / "AASIST-L.pth", weights_only=True, map_location="cpu")
    mine = lit.model.state_dict()
    assert set(official) <= set(mine)
    for key, value in official.items():
        assert torch.equal(mine[key], value), key
    assert lit.model.kernel_size == 65
    # Fine-tuning starts in train mode (dropout, frequency masking, batch statistics).
    assert all(module.training for module in lit.modules())


def test_one_class_test_set_warns_instead_of_failing(fitted) -> None:
    """E.g. trainer.limit_test_batches cutting a bona-fide-first protocol: loss and accuracy, no EER."""
    lit, trainer, _, _ = fitted
    only_bonafide = DataLoader(Subset(Trials(12, False, seed=1), [1, 3, 5]), batch_size=4)
    with pytest.warns(UserWarning, match="3 bona fide and 0 spoof"):
        trainer.test(lit, only_bonafide, verbose=False)
    assert set(lit.test_results) == {"test/loss", "test/acc"}


# Every hyper-parameter an AASISTLitModule checkpoint holds, as training runs have saved them since the model
# config group existed (the `model` keys of a composed config, minus Hydra's underscore keys).
SAVED_LAYOUT = {
    "arch": "AASIST-L",
    "pretrained": "AASIST-L",
    "nb_samp": 4000,
    "first_conv": 3,
    "filts": [8, [1, 4], [4, 4], [4, 4], [4, 4]],
    "gat_dims": [4, 4],
    "pool_ratios": [0.4, 0.5, 0.7, 0.5],
    "temperatures": [2.0, 2.0, 100.0, 100.0],
    "freq_mask_width": 4,
    "class_weights": None,
    "optimizer": {**ADAM, "amsgrad": False},
    "scheduler": COSINE,
    "inference": {"backend": "auto", "precision": "auto"},
}


def test_checkpoint_of_the_saved_layout_loads(tmp_path: Path) -> None:
    """A checkpoint written with the hparams layout above (0.1's, built here without the module) loads with
    load_from_checkpoint(weights_only=True) and through the scorer; the module saves that layout plus
    memory_format (added since, "auto" when a checkpoint lacks it)."""
    from aasist_lightning.models import AASIST, ARCH_KEYS
    from aasist_lightning.runtime.scorer import load_detector

    torch.manual_seed(0)
    net = AASIST(**{k: SAVED_LAYOUT[k] for k in ARCH_KEYS}).eval()
    path = tmp_path / "saved.ckpt"
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
            "hyper_parameters": SAVED_LAYOUT,
            "dev_eer_threshold": 0.5,
            "dev_eer_threshold_logit": 0.25,
            "val_eer_best": 12.5,
            "pytorch-lightning_version": L.__version__,
        },
        path,
    )
    lit = AASISTLitModule.load_from_checkpoint(path, map_location="cpu", weights_only=True).eval()
    # The checkpoint has every weight: no pretrained lookup.
    assert dict(lit.hparams) == {**SAVED_LAYOUT, "pretrained": None, "memory_format": "auto"}
    assert (lit.dev_eer_threshold, lit.dev_eer_threshold_logit, lit.val_eer_best) == (0.5, 0.25, 12.5)
    x = torch.randn(2, SAVED_LAYOUT["nb_samp"])
    with torch.no_grad():
        expected = net(x)
        assert torch.equal(lit(x), expected)
        detector = load_detector(ckpt_path=path)
        assert torch.equal(detector.model(x), expected) and detector.threshold == 0.5
    fresh = AASISTLitModule(**{**SAVED_LAYOUT, "pretrained": None})
    assert list(fresh.hparams) == [*SAVED_LAYOUT, "memory_format"]


def test_channels_last_training_matches_contiguous_training(tmp_path: Path) -> None:
    """model.memory_format lays the weights (and so the activations) out before training; channels-last
    training gives the contiguous run's weights up to summation order, and its checkpoint loads strictly into
    a plain network (validation's ONNX copy ran from those weights)."""
    from aasist_lightning.models import AASIST, ARCH_KEYS

    train, val = loaders()
    weights = {}
    for layout in ("channels_last", "contiguous"):
        L.seed_everything(0)
        # SGD, not Adam: Adam scales the rounding noise of the convolutions' biases (whose true gradient is 0:
        # batch norm follows) to full-size steps, so the layouts would differ there by ~lr.
        lit = AASISTLitModule(**TINY, optimizer=SGD, memory_format=layout)
        tiny_trainer(tmp_path, epochs=1, limit_train_batches=2).fit(lit, train, val)
        conv = lit.model.encoder[1][0].conv1.weight  # 4 -> 4 channels: the two layouts differ
        assert conv.is_contiguous(memory_format=torch.channels_last) == (layout == "channels_last")
        assert conv.is_contiguous() == (layout == "contiguous")
        weights[layout] = {k: v.clone() for k, v in lit.model.state_dict().items()}
    for key, value in weights["contiguous"].items():
        torch.testing.assert_close(weights["channels_last"][key], value, rtol=1e-4, atol=1e-4, msg=key)
    plain = AASIST(**{k: TINY.get(k) for k in ARCH_KEYS if TINY.get(k) is not None})
    plain.load_state_dict(weights["channels_last"], strict=True)
    with pytest.raises(ValueError, match="memory_format='nhwc'"):
        AASISTLitModule(**TINY, memory_format="nhwc")


def test_example_input_is_one_trial_and_the_summary_counts_flops() -> None:
    from lightning.pytorch.utilities.model_summary import ModelSummary

    lit = AASISTLitModule(**TINY)
    assert lit.example_input_array.shape == (1, TINY["nb_samp"])
    summary = ModelSummary(lit, max_depth=1)
    assert summary.total_flops > 0
    assert lit.training and all(m.training for m in lit.modules())  # the summary's eval forward is undone
