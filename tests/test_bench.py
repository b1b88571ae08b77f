"""The benchmark command (python -m aasist_lightning.bench) on a tiny model: structure of its table / JSON."""

import json
from pathlib import Path

import pytest

from aasist_lightning import bench

TINY_ARGS = ["--archs", "tiny", "--length", "4000", "--repeats", "2", "--train-repeats", "1"]


def test_bench_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res" / "bench.json"
    args = [
        *TINY_ARGS,
        "--batch-sizes", "2",
        "--paths", "eager", "onnx", "eager+retain",
        "--train-batch", "2",
        "--train-paths", "eager", "channels_last", "eager+retain",
        "--loss-curve", "2",
        "--loss-curve-batch", "2",
        "--memory-epochs", "0",
        "--json", str(out),
    ]  # fmt: skip
    assert bench.main(args) == 0
    result = json.loads(out.read_text())
    rows = result["inference"]
    assert [(r["batch"], r["path"]) for r in rows] == [(2, "eager"), (2, "onnx"), (2, "eager+retain")]
    for row in rows:
        assert row["utt_per_s"] > 0 and len(row["times_s"]) == 2 and row["peak_mib"] > 0
        assert row["max_abs_err"] < 1e-4  # exact paths only
    assert all(r["ratio"] == 1.0 for r in rows if r["path"] == "eager")
    assert [r["path"] for r in result["training"]] == ["eager", "channels_last", "eager+retain"]
    assert all(len(r["times_s"]) == 1 for r in result["training"])
    curves = result["loss_curve"]
    assert len(curves["curves"]["eager"]) == 2 and curves["max_abs_diff"]["channels_last"] < 1e-3
    assert result["default_inference"]["precision"] in ("fp32", "bf16")
    assert len(result["load_avg_start"]) == 3
    printed = capsys.readouterr().out
    assert "utt/s" in printed and "load average" in printed and "loss curves" in printed


def test_runs_that_would_exhaust_memory_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from aasist_lightning.models import AASIST

    assert bench._extrapolate([(1, 1000.0), (16, 8500.0)], 64) == pytest.approx(8500 + 500 * 48)
    assert bench._extrapolate([(1, 1000.0)], 64) != bench._extrapolate([(1, 1000.0)], 64)  # NaN: one point
    monkeypatch.setattr(bench, "available_mib", lambda device: 100.0)
    torch.manual_seed(0)
    model = AASIST(**bench.TINY).eval()
    peaks = {"eager": [(1, 500.0), (2, 1000.0)]}
    rows = bench.bench_inference(model, "tiny", 8, 4000, ["eager"], 1, lambda _: None, peaks)
    assert len(rows) == 1 and "GiB available" in rows[0]["skipped"]
    assert rows[0]["peak_mib_estimate"] == pytest.approx(4000.0)
    assert "skipped" in bench.bench_training(model, "tiny", 2, 4000, ["eager"], 1, lambda _: None)[0]


def test_memory_across_epochs_runs_the_training_loop() -> None:
    res = bench.memory_across_epochs(epochs=2, steps=1, batch=2, length=4000, arch_kwargs=bench.TINY)
    assert len(res["rss_mib"]) == 2 and res["growth_mib"] == res["rss_mib"][1] - res["rss_mib"][0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--paths", "tensorrt"], "unknown inference path 'tensorrt'"),
        (["--archs", "ResNet"], "unknown model 'ResNet'"),
        (["--paths", "onnx+jemalloc"], "each optionally with +retain"),
    ],
)
def test_bad_arguments_are_reported(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main([*TINY_ARGS, "--no-train", "--memory-epochs", "0", *extra]) == 2
    assert message in capsys.readouterr().err


def test_eer_check_compares_paths_on_an_eval_split(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf
    import torch

    from aasist_lightning.data.datamodule import audio_dir, protocol_path
    from aasist_lightning.models import AASIST

    root = tmp_path / "LA"
    flac = audio_dir(root, "eval")
    flac.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(6):
        utt, bona = f"LA_E_{i:07d}", i % 2 == 0
        sf.write(flac / f"{utt}.flac", (0.1 * rng.standard_normal(3200)).astype(np.float32), 16000)
        lines.append(f"LA_0001 {utt} - {'-' if bona else 'A07'} {'bonafide' if bona else 'spoof'}")
    protocol_path(root, "eval").parent.mkdir(parents=True)
    protocol_path(root, "eval").write_text("\n".join(lines) + "\n")
    torch.manual_seed(0)
    model = AASIST(**bench.TINY, nb_samp=4000)
    res = bench.eer_check(root, model, ["eager", "bf16-emulated"], limit=5, batch=4, log=lambda _: None)
    assert res["trials"] == 5 and res["reference"] == "eager"
    eager, emulated = res["paths"]["eager"], res["paths"]["bf16-emulated"]
    assert eager["eer_diff_pp"] == 0 and eager["decisions_changed"] == 0 and eager["max_abs_score_diff"] == 0
    assert 0 < emulated["max_abs_score_diff"] < 0.5
    assert 0 <= emulated["eer"] <= 100
