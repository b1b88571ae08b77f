"""The benchmark command (python -m aasist_lightning.bench) on a tiny model: structure of its table / JSON."""

import json
from pathlib import Path

import pytest

from aasist_lightning.bench import inference, measure
from aasist_lightning.bench.accuracy import eer_check
from aasist_lightning.bench.cli import main
from aasist_lightning.bench.flops import work_per_utt
from aasist_lightning.bench.report import print_table, write_json
from aasist_lightning.bench.training import bench_training, memory_across_epochs
from aasist_lightning.bench.workload import TINY, TRAINING_PATHS, train_default_path
from aasist_lightning.runtime.hardware import Hardware

TINY_ARGS = ["--archs", "tiny", "--length", "4000", "--repeats", "2", "--train-repeats", "1"]


def test_bench_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res" / "bench.json"
    args = [
        *TINY_ARGS,
        "--batch-sizes", "2",
        "--paths", "eager", "onnx", "eager+pool",
        "--train-batch", "2",
        "--train-paths", "eager", "channels_last", "eager+pool", "eager+retain",
        "--loss-curve", "2",
        "--loss-curve-batch", "2",
        "--memory-epochs", "0",
        "--recipe-clips", "12", "--recipe-overrides", "debug=tiny",  # the default recipe: a slow test below
        "--json", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    result = json.loads(out.read_text())
    rows = result["inference"]
    assert [(r["batch"], r["path"]) for r in rows] == [(2, "eager"), (2, "onnx"), (2, "eager+pool")]
    for row in rows:
        assert row["utt_per_s"] > 0 and len(row["times_s"]) == 2 and row["peak_mib"] > 0
        assert row["max_abs_err"] < 1e-4  # exact paths only
    assert all(r["ratio"] == 1.0 for r in rows if r["path"] == "eager")
    assert [r["path"] for r in result["training"]] == ["eager", "channels_last", "eager+pool", "eager+retain"]
    assert all(len(r["times_s"]) == 1 for r in result["training"])
    curves = result["loss_curve"]
    assert len(curves["curves"]["eager"]) == 2 and curves["max_abs_diff"]["channels_last"] < 1e-3
    assert result["default_inference"]["precision"] in ("fp32", "bf16")
    work = result["gflop_per_utt"]["tiny"]
    assert 0 < work["inference"] < work["training"]
    assert rows[0]["gflop_per_s"] == pytest.approx(rows[0]["utt_per_s"] * work["inference"])
    assert all(r["eager_batch"] == 2 for r in rows)
    assert len(result["load_avg_start"]) == 3
    recipe = result["recipe"]
    assert (
        recipe["train_clips"] == 12
        and recipe["seconds"]["training"] > 0
        and recipe["full_run_estimate_min"] > 0
    )
    printed = capsys.readouterr().out
    assert "utt/s" in printed and "load average" in printed and "loss curves" in printed


@pytest.mark.slow  # the full AASIST-L on the smallest profile of the default recipe: ~1 min on 2 cores
def test_bench_profiles_the_default_recipe(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = [
        *TINY_ARGS, "--batch-sizes", "2", "--paths", "eager", "--train-batch", "2", "--train-paths", "eager",
        "--memory-epochs", "0", "--recipe-clips", "36", "--json", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    recipe = json.loads(out.read_text())["recipe"]
    assert (
        recipe["train_clips"] == 36
        and recipe["seconds"]["training"] > 0
        and recipe["full_run_estimate_min"] > 0
    )


def test_the_default_training_path_is_the_one_train_py_takes_on_each_machine() -> None:
    avx2 = Hardware("cpu", "x", "AVX2", False, False, True, True, False, 2)
    zen4 = Hardware("cpu", "x", "AVX512", False, False, True, True, False, 2, avx512_bf16=True)
    skylake = Hardware("cpu", "x", "AVX512", False, False, True, True, False, 2)
    gpu = Hardware("cuda", "x", "AVX2", False, True, True, True, True, 2)
    assert train_default_path(avx2) == "eager"
    assert train_default_path(zen4) == "channels_last+bf16"
    assert train_default_path(skylake) == "channels_last"
    assert train_default_path(gpu) == "bf16"
    assert TRAINING_PATHS["channels_last+bf16"] == (True, False, True)


def test_runs_that_would_exhaust_memory_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from aasist_lightning.models import AASIST

    assert measure.extrapolate([(1, 1000.0), (16, 8500.0)], 64) == pytest.approx(8500 + 500 * 48)
    assert measure.extrapolate([(1, 1000.0)], 64) != measure.extrapolate([(1, 1000.0)], 64)  # NaN: one point
    monkeypatch.setattr(measure, "available_mib", lambda device: 100.0)
    torch.manual_seed(0)
    model = AASIST(**TINY).eval()
    growth = {"eager": [(1, 500.0), (2, 1000.0)]}  # MiB above what the process holds: 4000 at batch 8
    rows = inference.bench_inference(model, "tiny", 8, 4000, ["eager"], 1, lambda _: None, growth)
    assert len(rows) == 1 and "GiB available" in rows[0]["skipped"]
    assert rows[0]["peak_mib_estimate"] > 4000.0  # the process's own memory on top
    assert "skipped" in bench_training(model, "tiny", 2, 4000, ["eager"], 1, lambda _: None)[0]


def test_paths_are_admitted_while_what_they_keep_fits() -> None:
    # AASIST-L at batch 64 on 24 GiB: ONNX keeps its arena, so eager's transient does not fit beside it.
    needs = {"eager": 12_000.0, "channels_last": 12_000.0, "onnx": 8_000.0, "onnx+retain": 8_000.0}
    verdicts = measure.admit(needs, {"onnx", "onnx+retain"}, 22_000.0, 700.0)
    assert [n for n, why in verdicts.items() if why is None] == ["onnx"]
    assert "GiB available" in str(verdicts["eager"])
    # Batch 16: everything fits (kept 2 x 2 GiB, transient 3.5 GiB).
    small = {"eager": 3_500.0, "channels_last": 3_500.0, "onnx": 2_000.0, "onnx+retain": 2_000.0}
    assert all(why is None for why in measure.admit(small, {"onnx", "onnx+retain"}, 22_000.0, 700.0).values())
    # Not measured at two batch sizes yet: each path alone against the default need.
    unknown = {"eager": float("nan"), "onnx": float("nan")}
    assert measure.admit(unknown, {"onnx"}, 22_000.0, 11_000.0) == {"eager": None, "onnx": None}
    assert "GiB available" in str(measure.admit(unknown, {"onnx"}, 22_000.0, 16_000.0)["onnx"])


def test_a_batch_eager_cannot_run_is_compared_with_eager_at_a_smaller_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from aasist_lightning.models import AASIST

    monkeypatch.setattr(measure, "available_mib", lambda device: 10_000.0)
    torch.manual_seed(0)
    model = AASIST(**TINY).eval()
    growth = {"eager": [(1, 5_000.0), (2, 10_000.0)], "onnx": [(1, 1.0), (2, 2.0)]}
    rows = inference.bench_inference(
        model, "tiny", 4, 4000, ["eager", "onnx+retain"], 1, lambda _: None, growth, {2: 5.0}
    )
    eager, onnx = rows[1], rows[0]
    assert eager["path"] == "eager" and "skipped" in eager
    assert (onnx["path"], onnx["eager_batch"]) == ("onnx+retain", 2)
    assert onnx["ratio"] == pytest.approx(onnx["utt_per_s"] / 5.0)
    assert onnx["max_abs_err"] < 1e-4  # against eager run in chunks of 2
    assert growth["onnx"][-1][0] == 4  # the +retain path's warm-up counts for onnx


def test_work_per_utterance_of_aasist_l() -> None:
    """The FLOP counts the GFLOP/s column rests on: 13.2 GFLOP per 4-s utterance forward (the figure
    profilers give for AASIST-L), and a training step's backward about twice its forward (no gradient through
    the fixed sinc filters)."""
    import torch

    from aasist_lightning.models import AASIST, OFFICIAL_ARCHS

    torch.manual_seed(0)
    work = work_per_utt(AASIST(**OFFICIAL_ARCHS["AASIST-L"]), 64600)
    assert work["inference"] == pytest.approx(13.21, abs=0.05)
    assert work["training"] == pytest.approx(37.29, abs=0.1)


def test_paths_that_only_fit_alone_are_timed_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from aasist_lightning.models import AASIST

    monkeypatch.setattr(measure, "available_mib", lambda device: 15_000.0)
    torch.manual_seed(0)
    model = AASIST(**TINY).eval()
    growth = {"eager": [(1, 2_000.0), (2, 4_000.0)], "onnx": [(1, 2_000.0), (2, 4_000.0)]}  # 8 GiB each at 4
    logs: list[str] = []
    rows = inference.bench_inference(model, "tiny", 4, 4000, ["eager", "onnx"], 1, logs.append, growth)
    assert [(r["path"], r["together"], r["eager_batch"]) for r in rows] == [
        ("eager", False, 4),
        ("onnx", False, 4),
    ]
    assert rows[1]["max_abs_err"] < 1e-4
    assert any("one at a time" in line for line in logs)


def test_memory_across_epochs_runs_the_training_loop() -> None:
    res = memory_across_epochs(epochs=2, steps=1, batch=2, length=4000, arch_kwargs=TINY)
    assert len(res["rss_mib"]) == 2 and res["growth_mib"] == res["rss_mib"][1] - res["rss_mib"][0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--paths", "tensorrt"], "unknown inference path 'tensorrt'"),
        (["--archs", "ResNet"], "unknown model 'ResNet'"),
        (["--paths", "onnx+jemalloc"], "each optionally with +pool or +retain"),
    ],
)
def test_bad_arguments_are_reported(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*TINY_ARGS, "--no-train", "--memory-epochs", "0", *extra]) == 2
    assert message in capsys.readouterr().err


def _eval_split(root: Path, bonafide: list[bool], audio: bool = True) -> Path:
    """An eval split in the official LA layout under ``root``, a trial per entry (its class), with noise clips
    when ``audio``; returns its protocol file."""
    import numpy as np
    import soundfile as sf

    from aasist_lightning.data.protocols import audio_dir, protocol_path

    flac = audio_dir(root, "eval")
    flac.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i, bona in enumerate(bonafide):
        utt = f"LA_E_{i:07d}"
        if audio:
            sf.write(flac / f"{utt}.flac", (0.1 * rng.standard_normal(3200)).astype(np.float32), 16000)
        lines.append(f"LA_0001 {utt} - {'-' if bona else 'A07'} {'bonafide' if bona else 'spoof'}")
    protocol = protocol_path(root, "eval")
    protocol.parent.mkdir(parents=True)
    protocol.write_text("\n".join(lines) + "\n")
    return protocol


def test_eer_check_compares_paths_on_an_eval_split(tmp_path: Path) -> None:
    import torch

    from aasist_lightning.models import AASIST

    root = tmp_path / "LA"
    _eval_split(root, [i % 2 == 0 for i in range(6)])
    torch.manual_seed(0)
    model = AASIST(**TINY, nb_samp=4000)
    res = eer_check(root, model, ["eager", "bf16-emulated"], limit=5, batch=4, log=lambda _: None)
    assert res["trials"] == 5 and res["reference"] == "eager"
    eager, emulated = res["paths"]["eager"], res["paths"]["bf16-emulated"]
    assert eager["eer_diff_pp"] == 0 and eager["decisions_changed"] == 0 and eager["max_abs_score_diff"] == 0
    assert 0 < emulated["max_abs_score_diff"] < 0.5
    assert 0 <= emulated["eer"] <= 100


def test_json_has_no_nan(tmp_path: Path) -> None:
    result = {"a": float("nan"), "b": [1.0, float("inf")], "c": (2, "x")}
    out = write_json(result, tmp_path / "new" / "r.json")
    assert json.loads(out.read_text()) == {"a": None, "b": [1.0, None], "c": [2, "x"]}


def test_the_recipe_profile_extrapolates_to_the_shipped_default_run() -> None:
    """make bench's recipe profile scales each phase by what the default config processes: the embedded
    corpus (2,830 clips), 5 epochs of the 1,000-clip subset in whole batches of 16 less the first (warm-up)
    step, 5 validations of 720 dev clips and one test of 1,050 clips, each less its first batch (counted in
    its overhead); overrides change the full run too."""
    from aasist_lightning.bench.recipe import _compose, _full_counts

    counts = _full_counts(_compose([]), checkpoints_per_epoch=3)
    assert counts == {
        "generated_clips": 2830,
        "training_clips": 5 * 62 * 16 - 16,
        "validation_runs": 5,
        "validation_clips": 5 * (720 - 16),
        "test_runs": 1,
        "test_clips": 1050 - 16,
        "checkpoints": 15,
    }
    other = ["trainer.max_epochs=10", "data.batch_size=8", "data.eval_batch_size=64"]
    other += ["trainer.check_val_every_n_epoch=2"]
    longer = _full_counts(_compose(other), checkpoints_per_epoch=3)
    assert longer["training_clips"] == 10 * 125 * 8 - 8
    assert longer["validation_runs"] == 5 and longer["validation_clips"] == 5 * (720 - 64)
    assert longer["test_clips"] == 1050 - 64
    small = _full_counts(_compose(["data.train_subset=10", "data.batch_size=16"]), checkpoints_per_epoch=3)
    assert small["training_clips"] == 5 * 10 - 10  # one partial batch per epoch, the first the warm-up


def test_the_extrapolation_scales_each_phase_by_its_own_count() -> None:
    from aasist_lightning.bench.recipe import _extrapolate

    seconds = {"warm_up": 9.0, "training": 30.0, "validation_overhead": 4.0, "validation": 6.4}
    counts = {"training_clips": 144, "validation_runs": 1, "validation_clips": 64}
    full_counts = {"training_clips": 4944, "validation_runs": 5, "validation_clips": 3520}
    assert _extrapolate(seconds, counts, full_counts) == pytest.approx(
        {"warm_up": 9.0, "training": 30.0 / 144 * 4944, "validation_overhead": 20.0, "validation": 352.0}
    )
    with pytest.raises(ValueError, match="no validation_clips to scale its validation time by"):
        _extrapolate(seconds, {**counts, "validation_clips": 0}, full_counts)
    without = {k: v for k, v in seconds.items() if k != "training"}  # a phase never timed is not left out
    with pytest.raises(ValueError, match="no training_clips to scale its loading time by"):
        _extrapolate(without, {**counts, "training_clips": 0}, full_counts)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--recipe-overrides", "trainer.precison=32-true"], "trainer.precison"),
        (["--recipe-overrides", "trainer.max_epochs=0"], "trainer.max_epochs=0: must be an integer >= 1"),
        (["--recipe-overrides", "trainer.devices=2"], "trainer.devices=2 is not modelled"),
        (["--recipe-overrides", "trainer.limit_train_batches=1"], "trainer.limit_train_batches=1 is not"),
        (["--recipe-overrides", "debug=fdr"], "trainer.fast_dev_run=True is not modelled"),
        (["--recipe-overrides", "callbacks=[default]"], "runs with its own callbacks and logger"),
        (
            ["--recipe-overrides", "trainer.check_val_every_n_epoch=0"],
            "check_val_every_n_epoch=0: must be an",
        ),
        (["--recipe-overrides", "trainer.check_val_every_n_epoch=null"], "use an integer >= 1"),
        (["--recipe-overrides", "data=folder", "data.root=/x"], "keep data's default group"),
        (["--recipe-clips", "16"], "use --recipe-clips 36 or more"),
    ],
)
def test_bad_recipe_arguments_fail_before_the_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the benchmark ran")

    monkeypatch.setattr("aasist_lightning.bench.cli.run", no_run)
    assert main(["--archs", "tiny", "--no-train", *arguments]) == 2
    assert message in capsys.readouterr().err


def _refusal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """What ``main(argv)`` says on stderr, asserting it refused the arguments (exit status 2, one line and its
    hint, no traceback) before the benchmark ran."""

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the benchmark ran")

    monkeypatch.setattr("aasist_lightning.bench.cli.run", no_run)
    try:
        status = main(argv)
    except SystemExit as stop:  # argparse's refusal of an option's value
        status = stop.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 2 and "Traceback" not in err, err
    return err.splitlines()[0]


#: The cheapest run: nothing but the inference of the tiny model at batch 1.
CHEAP = ["--archs", "tiny", "--length", "4000", "--repeats", "1", "--batch-sizes", "1", "--paths", "eager"]
CHEAP += ["--no-train", "--memory-epochs", "0", "--recipe-clips", "0"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--threads", "-3"], "argument --threads: -3 is out of range (accepted: >= 0)"),
        (["--memory-epochs", "-2"], "argument --memory-epochs: -2 is out of range (accepted: >= 0)"),
        (["--loss-curve", "-1"], "argument --loss-curve: -1 is out of range (accepted: >= 0)"),
        (["--train-repeats", "0", "--train-batch", "2"], "argument --train-repeats: 0 is out of range"),
        (["--batch-sizes", "1", "0"], "argument --batch-sizes: 0 is out of range (accepted: >= 1)"),
        (["--repeats", "0"], "argument --repeats: 0 is out of range (accepted: >= 1)"),
        (["--length", "-1"], "argument --length: -1 is out of range"),
        (["--train-batch", "-2"], "argument --train-batch: -2 is out of range (accepted: >= 0)"),
        (["--loss-curve-batch", "0"], "argument --loss-curve-batch: 0 is out of range"),
        (["--recipe-clips", "-4"], "argument --recipe-clips: -4 is out of range"),
        (["--eer-limit", "0"], "argument --eer-limit: 0 is out of range (accepted: >= 2)"),
        (["--eer-limit", "-5"], "argument --eer-limit: -5 is out of range"),
        (["--repeats", "two"], "argument --repeats: 'two' is not an integer"),
        (["--device", "banana"], "--device: unknown device 'banana'"),
        (["--length", "100"], "--length 100 is shorter than tiny takes: use --length 2315 or more"),
        (["--archs", "tiny", "ResNet"], "--archs: unknown model 'ResNet'"),  # refused before tiny runs
        (["--eer-paths", "eager", "fp8"], "--eer-paths: unknown EER-check path 'fp8'"),
        (["--eer-root", "/nonexistent"], "--eer-root /nonexistent does not exist: give a corpus root"),
        (["--json", "."], "--json: output . is a folder"),
        # --quick's presets fill in the options not given; an explicit one wins and is checked.
        (["--quick", "--archs", "foo"], "--archs: unknown model 'foo'"),
        (["--quick", "--batch-sizes", "0"], "argument --batch-sizes: 0 is out of range"),
    ],
)
def test_nonsense_options_are_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert message in _refusal(monkeypatch, capsys, [*CHEAP, *arguments])


def test_the_eer_check_refuses_a_wrong_root_and_a_json_that_is_an_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "LA"
    protocol = _eval_split(root, [i == 0 for i in range(10)], audio=False)
    model = tmp_path / "model.ckpt"
    eer = [*CHEAP, "--eer-model", str(model), "--eer-root"]

    def refusal(*argv: str) -> str:
        return _refusal(monkeypatch, capsys, [*eer, *argv])

    wrong = root / "ASVspoof2019_LA_eval"  # the eval split's folder instead of the corpus root
    assert f"--eer-root {wrong} has no eval protocol" in refusal(str(wrong), "--eer-limit", "6")
    assert f"did you mean --eer-root {root}?" in refusal(str(wrong))
    # The seeded subset of 2 holds spoofs only: no EER, so nothing is scored.
    assert "trials scored are all spoof" in refusal(str(root), "--eer-limit", "2")
    audio = root / "ASVspoof2019_LA_eval" / "flac" / "LA_E_0000003.flac"
    for output in (protocol, model, audio):
        message = refusal(str(root), "--json", str(output))
        assert f"--json: output {output} is also an input" in message
    assert protocol.read_text().startswith("LA_0001 LA_E_0000000 - - bonafide")


def test_a_gpu_the_machine_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from aasist_lightning.bench.cli import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert (check_device("auto"), check_device("cuda:1"), check_device("GPU")) == ("cuda", "cuda:1", "cuda")
    for name in ("cuda:2", "cuda:x", "cudax"):
        with pytest.raises(ValueError, match=f"--device {name}: this machine has 2 GPU.* cuda:0 to cuda:1"):
            check_device(name)


def test_explicit_options_win_over_quick_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, object]] = []

    def record(args: object, log: object = None, trials: object = None) -> dict[str, object]:
        seen.append(dict(vars(args)))
        return {"hardware": {"name": "x", "device": "cpu"}, "inference": [], "training": []}

    monkeypatch.setattr("aasist_lightning.bench.cli.run", record)
    monkeypatch.setattr("aasist_lightning.bench.cli.print_table", lambda result: None)
    assert (
        main(["--quick", "--archs", "tiny", "--batch-sizes", "2", "--repeats", "1", "--memory-epochs", "1"])
        == 0
    )
    assert main(["--quick", "--archs", "tiny"]) == 0
    assert main(["--archs", "tiny", "--recipe-clips", "0"]) == 0
    explicit, quick, full = seen
    assert (explicit["archs"], explicit["batch_sizes"], explicit["repeats"]) == (["tiny"], [2], 1)
    assert (explicit["train_repeats"], explicit["memory_epochs"], explicit["recipe_clips"]) == (2, 1, 0)
    assert (quick["batch_sizes"], quick["repeats"], quick["memory_epochs"]) == ([1, 16], 3, 0)
    assert (full["batch_sizes"], full["repeats"], full["memory_epochs"]) == ([1, 16, 64], 5, 3)


def test_report_keeps_prose_lines_whole_whatever_the_cpu_name(capsys: pytest.CaptureFixture[str]) -> None:
    """Printed to a pipe or a file (80 columns for rich), the table is not squeezed and the machine line and
    the notes are not wrapped (a long CPU name split 'load average' over two lines on an Intel Xeon)."""
    name = "Intel(R) Xeon(R) Platinum 8480+ Processor with a long model name"
    result = {
        "hardware": {"name": name, "device": "cpu", "threads": 2, "cpu_capability": "AVX512", "amx": True},
        "load_avg_start": [1.51, 0.63, 0.25],
        "load_avg_end": [1.98, 0.81, 0.32],
        "inference": [],
        "training": [],
        "gflop_per_utt": {"tiny": {"inference": 0.1, "training": 0.3}},
        "default_inference": {"backend": "onnx", "precision": "fp32"},
    }
    print_table(result)
    printed = capsys.readouterr().out
    assert "GFLOP/s" in printed and "max |Δlogit|" in printed  # headers not cut to fit 80 columns
    lines = printed.splitlines()
    assert any(
        name in line and "load average [1.51, 0.63, 0.25] -> [1.98, 0.81, 0.32]" in line for line in lines
    )
    assert any(
        line.startswith("tiny: 0.1 GFLOP per utterance forward, 0.3 per training step") for line in lines
    )
