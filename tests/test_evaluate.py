"""eval.py / evaluate(cfg): a training checkpoint or pretrained weights on the dev and eval splits of a tiny
synthetic corpus; every output; agreement with the training run's own validation; config errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from inference_fixtures import TINY_ARCH, TINY_OVERRIDES, compose_cfg, tiny_checkpoint, tiny_data_dir
from logging_guard import root_logging_restored

from aasist_lightning.cli.config_checks import ConfigError
from aasist_lightning.cli.evaluate import evaluate
from aasist_lightning.metrics import read_score_file
from aasist_lightning.models import AASIST

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


def eval_cfg(factory: pytest.TempPathFactory, out: Path, *overrides: str):
    return compose_cfg(
        *TINY_OVERRIDES,
        f"paths.data_dir={tiny_data_dir(factory)}",
        "progress=false",
        *overrides,
        output_dir=out,
    )


def test_checkpoint_on_dev_and_eval(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path_factory)
    out = tmp_path / "run"
    # model.first_conv is the model group's: the checkpoint's network (first_conv 3) runs, and is recorded.
    metrics = evaluate(
        eval_cfg(tmp_path_factory, out, f"ckpt_path={ckpt}", "logger=csv", "model.first_conv=128")
    )

    results = json.loads((out / "results.json").read_text())
    stored = torch.load(ckpt, weights_only=True, map_location="cpu")
    # The dev split scored by eval.py is what the training run validated: same EER, same scores.
    assert metrics["dev/eer"] == pytest.approx(stored["val_eer_best"], abs=1e-6)
    ours = read_score_file(out / "scores" / "dev.txt")
    theirs = read_score_file(ckpt.parents[1] / "scores" / "dev.txt")
    order = np.argsort(ours.utt_ids)
    assert sorted(ours.utt_ids) == sorted(theirs.utt_ids)
    np.testing.assert_allclose(ours.scores[order], theirs.scores[np.argsort(theirs.utt_ids)], atol=1e-4)

    for split, n_trials, attacks in (("dev", 14, 6), ("eval", 21, 13)):
        assert (out / "plots" / f"det_{split}.png").stat().st_size > 1000
        assert (out / "plots" / f"score_histogram_{split}.png").stat().st_size > 1000
        scores = read_score_file(out / "scores" / f"{split}.txt")
        assert scores.format == "aasist" and len(scores.utt_ids) == n_trials
        report = results["splits"][split]
        assert report["n_bonafide"] == 8 and report["n_spoof"] == n_trials - 8
        assert len(report["per_attack_eer"]) == attacks and report["min_tdcf"] is not None  # ASV scores exist
        for key in ("eer", "min_tdcf", "min_dcf", "act_dcf", "cllr"):
            assert results[f"{split}/{key}"] == pytest.approx(report[key])
    assert (
        results["model"] == f"checkpoint {ckpt}"
        and results["dev_eer_threshold"] == stored["dev_eer_threshold"]
    )
    assert results["config"]["ckpt_path"] == str(ckpt) and results["config"]["model"]["first_conv"] == 3
    assert "first_conv: 3" in (out / "config.yaml").read_text()

    with (out / "per_attack_eer.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["attack"] for r in rows if r["split"] == "eval"] == [f"A{i:02d}" for i in range(7, 20)] + [
        "pooled"
    ]
    pooled = next(r for r in rows if r["split"] == "dev" and r["attack"] == "pooled")
    assert float(pooled["eer_percent"]) == pytest.approx(metrics["dev/eer"], abs=1e-3)
    assert "| eval | A07 |" in (out / "per_attack_eer.md").read_text()
    logged = (out / "csv" / "metrics.csv").read_text()
    assert "dev/eer" in logged and "eval/min_tdcf" in logged


def test_an_interrupted_run_leaves_no_output(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the eval split is scored: the dev split's scores and plots are not left behind."""
    import aasist_lightning.cli.evaluate as evaluate_module

    score_split = evaluate_module.score_split

    def interrupted_on_eval(datamodule, split, *args):
        if split == "eval":
            raise KeyboardInterrupt
        return score_split(datamodule, split, *args)

    monkeypatch.setattr(evaluate_module, "score_split", interrupted_on_eval)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        evaluate(eval_cfg(tmp_path_factory, out, f"ckpt_path={tiny_checkpoint(tmp_path_factory)}"))
    assert sorted(p.name for p in out.rglob("*")) == ["config.yaml", "config_tree.log"]


def test_ctrl_c_ends_a_run_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from aasist_lightning.cli.errors import EXIT_INTERRUPTED, bad_input_exits

    with pytest.raises(SystemExit) as stop, bad_input_exits("aasist-eval"):
        raise KeyboardInterrupt
    assert (
        stop.value.code == EXIT_INTERRUPTED
        and capsys.readouterr().err == "aasist-eval: interrupted (Ctrl-C)\n"
    )


def test_own_audio_needs_only_an_eval_manifest(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """data=manifest with only data.eval_manifest (its training manifests stay unset) and splits=[eval]."""
    import soundfile as sf

    rows = []
    for i in range(4):
        sf.write(tmp_path / f"clip{i}.wav", np.random.default_rng(i).standard_normal(8000) * 0.1, 16000)
        rows.append(f"clip{i}.wav,{'bonafide' if i % 2 else 'spoof'}\n")
    (tmp_path / "own.csv").write_text("".join(rows))
    out = tmp_path / "run"
    ckpt = tiny_checkpoint(tmp_path_factory)
    overrides = ("data=manifest", f"data.eval_manifest={tmp_path / 'own.csv'}", "splits=[eval]")
    metrics = evaluate(eval_cfg(tmp_path_factory, out, f"ckpt_path={ckpt}", *overrides))
    assert set(metrics) >= {"eval/eer"}
    results = json.loads((out / "results.json").read_text())
    assert results["corpus"] is None  # a manifest, not the data group's default corpus
    assert results["config"]["data"]["train_manifest"] is None


def test_pretrained_weights_eval_split_only(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """model.pretrained (a .pth here: the architecture comes from the model config), no checkpoint."""
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pth"
    torch.save(AASIST(**TINY_ARCH).state_dict(), weights)
    out = tmp_path / "run"
    metrics = evaluate(eval_cfg(tmp_path_factory, out, f"model.pretrained={weights}", "splits=[eval]"))
    assert set(k.split("/")[0] for k in metrics) == {"eval"}
    assert 0 <= metrics["eval/eer"] <= 100
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == f"weights {weights}" and results["dev_eer_threshold"] is None
    assert not (out / "scores" / "dev.txt").exists() and (out / "scores" / "eval.txt").is_file()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("splits=[test]", "splits=['test']: must be a non-empty list of dev / eval"),
        ("splits=[]", "splits=[]: must be a non-empty list"),
        ("ckpt_path=/nonexistent/best.ckpt", "ckpt_path='/nonexistent/best.ckpt': no such checkpoint file"),
        ("model.pretrained=null", "nothing to evaluate: ckpt_path is null and model.pretrained is null"),
        ("batch_size=0", "batch_size=0: must be a positive integer"),
        ("model.first_conv=-3", "model.first_conv=-3"),
    ],
)
def test_config_errors(tmp_path: Path, override: str, message: str) -> None:
    # Raised before any data is generated or weights loaded (no data dir exists here).
    cfg = compose_cfg(*TINY_OVERRIDES, f"paths.data_dir={tmp_path / 'none'}", override, output_dir=tmp_path)
    if override != "model.pretrained=null":
        cfg.model.pretrained = "AASIST-L"
    with pytest.raises(
        ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
    ):
        evaluate(cfg)
    assert not (tmp_path / "none").exists()


def entry_args(factory: pytest.TempPathFactory, run_dir: Path) -> list[str]:
    return [
        *TINY_OVERRIDES,
        f"paths.data_dir={tiny_data_dir(factory)}",
        f"ckpt_path={tiny_checkpoint(factory)}",
        "splits=[dev]",
        "progress=false",
        f"hydra.run.dir={run_dir}",
    ]


def test_console_script_entry_point(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """aasist-eval (cli.evaluate:main): the same Hydra application as eval.py, run in-process."""
    from aasist_lightning.cli.evaluate import main

    run_dir = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["aasist-eval", *entry_args(tmp_path_factory, run_dir)])
    with root_logging_restored():
        main()
    assert "dev EER" in capsys.readouterr().out
    assert (run_dir / "results.json").is_file() and (run_dir / "scores" / "dev.txt").is_file()
    assert list(run_dir.glob("*.log"))  # Hydra's job log


@pytest.mark.slow
def test_eval_py_entry_point(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """python eval.py, as a user runs it (a fresh interpreter: slow on a loaded 2-core machine)."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "eval.py"), *entry_args(tmp_path_factory, run_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dev EER" in proc.stdout
    assert (run_dir / "results.json").is_file() and (run_dir / "scores" / "dev.txt").is_file()
