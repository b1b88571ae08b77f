"""aasist-export: ONNX (dynamic batch), torch.export programs and (deprecated) TorchScript reproduce the
PyTorch logits; aasist-predict --onnx runs without Lightning (and without torch) and gives the PyTorch scores,
as does aasist-predict --program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from inference_fixtures import random_checkpoint, tone

from aasist_lightning.cli.export import main
from aasist_lightning.cli.predict import main as predict_main
from aasist_lightning.data import load_audio, pad_or_crop
from aasist_lightning.models.weights import WeightsError
from aasist_lightning.runtime.exported import load_program, load_torchscript, write_onnx
from aasist_lightning.runtime.scorer import Scorer, load_detector

TOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny checkpoint (threshold 0.25) exported through the CLI to the three formats."""
    folder = tmp_path_factory.mktemp("export")
    ckpt = random_checkpoint(folder / "tiny.ckpt", threshold=0.25)
    out = folder / "out"
    paths = {"ckpt": ckpt, "onnx": out / "tiny.onnx", "pt2": out / "tiny.pt2", "ts": out / "tiny.pt"}
    args = ["--onnx", str(paths["onnx"]), "--program", str(paths["pt2"]), "--torchscript", str(paths["ts"])]
    assert main(["--ckpt", str(ckpt), *args]) == 0
    return paths


def test_parity_any_batch(tiny: dict[str, Path]) -> None:
    detector = load_detector(ckpt_path=tiny["ckpt"])
    reference = Scorer.from_detector(detector, batch_size=64)
    onnx = Scorer.from_onnx(tiny["onnx"], batch_size=64)
    script = Scorer.from_torchscript(tiny["ts"], batch_size=64)
    program = Scorer.from_program(tiny["pt2"], batch_size=64)
    assert onnx.nb_samp == script.nb_samp == program.nb_samp == detector.nb_samp == 16000
    assert (onnx.backend, program.backend, script.backend) == ("onnx", "program", "torchscript")
    rng = np.random.default_rng(0)
    for batch in (1, 2, 5):  # exported with 2: the batch axis is dynamic in every format
        x = (0.1 * rng.standard_normal((batch, 16000))).astype(np.float32)
        ref = reference(x)
        assert ref.shape == (batch, 2)
        np.testing.assert_allclose(onnx(x), ref, atol=TOL, rtol=0)
        np.testing.assert_allclose(script(x), ref, atol=TOL, rtol=0)
        np.testing.assert_allclose(program(x), ref, atol=TOL, rtol=0)


def test_metadata_travels(tiny: dict[str, Path]) -> None:
    import onnx

    meta = json.loads({p.key: p.value for p in onnx.load(str(tiny["onnx"])).metadata_props}["aasist"])
    assert meta["nb_samp"] == 16000 and meta["dev_eer_threshold"] == 0.25 and meta["sample_rate"] == 16000
    assert meta["source"] == f"checkpoint {tiny['ckpt']}" and meta["config"]["gat_dims"] == [4, 4]
    module, ts_meta = load_torchscript(tiny["ts"])
    assert ts_meta == meta and isinstance(module, torch.jit.ScriptModule)
    _, program_meta = load_program(tiny["pt2"])
    assert program_meta == meta
    assert Scorer.from_onnx(tiny["onnx"]).threshold == Scorer.from_program(tiny["pt2"]).threshold == 0.25
    assert not list(tiny["onnx"].parent.glob(".*tmp"))


def test_predict_onnx_matches_pytorch(tiny: dict[str, Path], tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for i, n in enumerate((100, 16000, 50000)):
        sf.write(clips / f"a{i}.wav", tone(n, 16000, seed=i), 16000)
    out_pt, out_onnx, out_pt2 = tmp_path / "pt.json", tmp_path / "onnx.json", tmp_path / "pt2.json"
    common = [str(clips), "--threshold", "dev-eer", "--format", "json"]
    assert predict_main([*common, "--ckpt", str(tiny["ckpt"]), "-o", str(out_pt)]) == 0
    assert predict_main([*common, "--onnx", str(tiny["onnx"]), "-o", str(out_onnx)]) == 0
    assert predict_main([*common, "--program", str(tiny["pt2"]), "-o", str(out_pt2)]) == 0
    pt, ox, p2 = (json.loads(p.read_text()) for p in (out_pt, out_onnx, out_pt2))
    for exported in (ox, p2):
        assert pt["threshold"] == exported["threshold"] == 0.25
        assert [r["path"] for r in pt["results"]] == [r["path"] for r in exported["results"]]
        np.testing.assert_allclose(
            [r["score"] for r in exported["results"]], [r["score"] for r in pt["results"]], atol=TOL
        )
        assert [r["windows"] for r in exported["results"]] == [1, 1, 4]


def _predict_without_torch(
    wav: Path, onnx: Path, stub_data_package: bool, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """aasist-predict --onnx in a fresh interpreter where lightning and torch cannot be imported."""
    stub = (
        # An empty aasist_lightning.data package: only its audio module is loaded, not the package's __init__.
        "import types, aasist_lightning\n"
        "pkg = types.ModuleType('aasist_lightning.data')\n"
        "pkg.__path__ = [aasist_lightning.__path__[0] + '/data']\n"
        "sys.modules['aasist_lightning.data'] = pkg\n"
        if stub_data_package
        else ""
    )
    code = (
        "import sys\n"
        "sys.modules['lightning'] = sys.modules['torch'] = sys.modules['pytorch_lightning'] = None\n"
        f"{stub}"
        "from aasist_lightning.cli.predict import main\n"
        f"sys.exit(main([{str(wav)!r}, '--onnx', {str(onnx)!r}, '--threshold', 'dev-eer', *{extra!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_predict_onnx_without_lightning_or_torch(tiny: dict[str, Path], tmp_path: Path) -> None:
    """The ONNX path imports neither Lightning nor torch: both are made unimportable in a fresh
    interpreter."""
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(20000, 16000), 16000)
    # The inference modules themselves (with the data package's __init__ bypassed) never need them ...
    proc = _predict_without_torch(wav, tiny["onnx"], stub_data_package=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "path,score,prob_bonafide,decision,duration_s,llr,posterior_bonafide"
    assert len(lines) == 2
    # ... and the real import chain must not pull them in either.
    proc = _predict_without_torch(wav, tiny["onnx"], stub_data_package=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == lines
    # Its bad input is reported without them too.
    proc = _predict_without_torch(wav, tiny["onnx"], stub_data_package=False, extra=("--device", "tpu"))
    assert proc.returncode == 2 and "--device tpu with --onnx" in proc.stderr, proc.stderr


def test_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--pretrained", "AASIST-L"]) == 2
    assert "nothing to export: give --onnx PATH and/or --program PATH" in capsys.readouterr().err
    assert main(["--ckpt", str(tmp_path / "none.ckpt"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "none.ckpt does not exist" in capsys.readouterr().err
    assert predict_main([str(tmp_path), "--onnx", str(tmp_path / "missing.onnx")]) == 2  # no audio first
    sf.write(tmp_path / "a.wav", tone(1600, 16000), 16000)
    assert predict_main([str(tmp_path), "--onnx", str(tmp_path / "missing.onnx")]) == 2
    assert "ONNX model" in capsys.readouterr().err
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    assert predict_main([str(tmp_path / "a.wav"), "--onnx", str(tmp_path / "bad.onnx")]) == 2
    assert f"cannot load ONNX model {tmp_path / 'bad.onnx'}" in capsys.readouterr().err
    assert (
        predict_main([str(tmp_path / "a.wav"), "--onnx", str(tmp_path / "bad.onnx"), "--explain", "x"]) == 2
    )
    assert "--explain needs the PyTorch model" in capsys.readouterr().err
    assert predict_main([str(tmp_path / "a.wav"), "--program", str(tmp_path / "missing.pt2")]) == 2
    assert "torch.export program" in capsys.readouterr().err
    assert predict_main([str(tmp_path / "a.wav"), "--program", str(tmp_path / "bad.onnx")]) == 2
    assert f"cannot load torch.export program {tmp_path / 'bad.onnx'}" in capsys.readouterr().err


def test_torchscript_is_deprecated(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--torchscript still works (it is a public flag) and says to use --program instead."""
    ckpt = random_checkpoint(tmp_path / "tiny.ckpt")
    assert main(["--ckpt", str(ckpt), "--torchscript", str(tmp_path / "t.pt"), "--no-check"]) == 0
    captured = capsys.readouterr()
    assert "--torchscript is deprecated" in captured.err and "use --program PATH" in captured.err
    assert captured.out.strip() == f"torchscript: {tmp_path / 't.pt'}"


def test_official_aasist_l_onnx_parity(shared_dir: Path, tmp_path: Path) -> None:
    """Official AASIST-L exported to ONNX reproduces PyTorch within 1e-4 on real speech (two 64,600-sample
    inputs), and scores it as bona fide."""
    detector = load_detector(pretrained="AASIST-L")
    write_onnx(detector.model, tmp_path / "aasist_l.onnx", 64600, detector.metadata())  # checked just below
    files = sorted((shared_dir / "audio" / "vctk_p225").glob("*mic1.flac"))
    x = np.stack([pad_or_crop(load_audio(f), 64600) for f in files])
    reference = Scorer.from_detector(detector)(x)
    onnx = Scorer.from_onnx(tmp_path / "aasist_l.onnx")(x)
    np.testing.assert_allclose(onnx, reference, atol=TOL, rtol=0)
    assert np.all(reference[:, 1] > reference[:, 0])  # real speech: bona fide


def test_outputs_never_replace_inputs(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Each CLI refuses, before any work and with exit status 2, an output path that is one of its inputs."""
    ckpt_bytes = tiny["ckpt"].read_bytes()
    assert main(["--ckpt", str(tiny["ckpt"]), "--onnx", str(tiny["ckpt"])]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert tiny["ckpt"].read_bytes() == ckpt_bytes
    same = str(tmp_path / "model.out")
    assert main(["--ckpt", str(tiny["ckpt"]), "--onnx", same, "--program", same]) == 2
    assert f"output {same} is given twice" in capsys.readouterr().err and not Path(same).exists()

    wav = tmp_path / "a.wav"
    sf.write(wav, tone(1600, 16000), 16000)
    wav_bytes = wav.read_bytes()
    assert predict_main([str(wav), "--onnx", str(tiny["onnx"]), "-o", str(wav)]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert wav.read_bytes() == wav_bytes


@pytest.mark.parametrize("where", ["AASIST_WEIGHTS_DIR", "AASIST_CACHE_DIR"])
def test_outputs_never_replace_the_official_weights(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The official weights are inputs even when not named (the default model): neither CLI writes over them,
    in $AASIST_WEIGHTS_DIR or in the cache."""
    monkeypatch.setenv(where, str(tmp_path))
    weights = tmp_path / ("AASIST-L.pth" if where == "AASIST_WEIGHTS_DIR" else "weights/AASIST-L.pth")
    weights.parent.mkdir(exist_ok=True)
    weights.write_bytes(b"official weights")
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(1600, 16000), 16000)
    assert predict_main([str(wav), "-o", str(weights)]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert main(["--onnx", str(weights), "--no-check"]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert weights.read_bytes() == b"official weights"


def test_a_failed_check_leaves_every_earlier_file(
    tiny: dict[str, Path], tmp_path: Path, capsys, monkeypatch
) -> None:
    """The ONNX file passes its check, the program fails it: neither replaces its earlier file (the outputs
    are committed together), and no temporary file is left."""
    from aasist_lightning.cli import export as export_cli

    differences = iter([0.0, 1.0])
    monkeypatch.setattr(export_cli, "scorer_difference", lambda *args: next(differences))
    targets = [tmp_path / "m.onnx", tmp_path / "m.pt2"]
    for target in targets:
        target.write_bytes(b"an earlier export")
    args = ["--ckpt", str(tiny["ckpt"]), "--onnx", str(targets[0]), "--program", str(targets[1])]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the program export differs from the PyTorch model by 1" in err and "nothing was written" in err
    assert all(target.read_bytes() == b"an earlier export" for target in targets)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.pt2"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--opset", "5", "argument --opset: 5 is out of range (accepted: >= 18)"),
        ("--tolerance", "-1", "argument --tolerance: -1 is out of range (accepted: >= 0)"),
        ("--tolerance", "nan", "argument --tolerance: nan is out of range (accepted: >= 0)"),
    ],
)
def test_out_of_range_options_are_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture, flag: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["--ckpt", str(tmp_path / "never-read.ckpt"), "--onnx", str(tmp_path / "m.onnx"), flag, value])
    assert usage.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"aasist-export: error: {message}",
        "(see aasist-export --help)",
    ]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=f"cannot read checkpoint {bad}"):
        main(["--ckpt", str(bad), "--onnx", str(tmp_path / "m.onnx"), "--debug"])


def test_an_opset_the_exporter_cannot_write_is_refused(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The exporter falls back to its own opset when it cannot convert to the one asked for: refused, not
    written as another opset."""
    out = tmp_path / "m.onnx"
    assert main(["--ckpt", str(tiny["ckpt"]), "--onnx", str(out), "--opset", "99", "--no-check"]) == 2
    assert "ONNX opset 99 could not be written" in capsys.readouterr().err and not out.exists()


def _with_metadata(source: Path, target: Path, value: str) -> Path:
    import onnx

    proto = onnx.load(source)
    for entry in proto.metadata_props:
        if entry.key == "aasist":
            entry.value = value
    onnx.save(proto, target)
    return target


def test_damaged_or_foreign_onnx_models_and_devices_are_bad_input(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Damaged metadata, a model that does not output 2 logits, a device ONNX Runtime cannot use: one line,
    exit 2 (they were tracebacks, a silent score, a silent CPU run)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    wav = tmp_path / "a.wav"
    sf.write(wav, tone(1600, 16000), 16000)
    bad_threshold = '{"nb_samp": 64600, "dev_eer_threshold": "x"}'
    for value in ("{not json", "[]", "{}", '{"nb_samp": -5}', '{"nb_samp": "abc"}', bad_threshold):
        damaged = _with_metadata(tiny["onnx"], tmp_path / "damaged.onnx", value)
        assert predict_main([str(wav), "--onnx", str(damaged)]) == 2
        assert "metadata is damaged (input length nb_samp" in capsys.readouterr().err
    weight = numpy_helper.from_array(np.ones((100, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 100])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [weight],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), foreign)
    assert predict_main([str(wav), "--onnx", str(foreign)]) == 2
    assert "outputs shape ['batch', 3], not (batch, 2) logits" in capsys.readouterr().err
    assert predict_main([str(wav), "--onnx", str(tmp_path)]) == 2
    assert f"ONNX model {tmp_path} is a folder: give the exported file" in capsys.readouterr().err
    assert predict_main([str(wav), "--onnx", str(tiny["onnx"]), "--device", "tpu"]) == 2
    assert "--device tpu with --onnx" in capsys.readouterr().err
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert predict_main([str(wav), "--onnx", str(tiny["onnx"]), "--device", "cuda"]) == 2
        assert "needs ONNX Runtime's CUDA provider" in capsys.readouterr().err


def test_predict_onnx_imports_no_torch_where_it_is_installed(tiny: dict[str, Path], tmp_path: Path) -> None:
    """The default allocator (pool, built against torch) is not used with --onnx: ONNX Runtime allocates
    outside PyTorch, and importing torch would cost a second of start-up for nothing."""
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(20000, 16000), 16000)
    code = (
        "import sys\n"
        "from aasist_lightning.cli.predict import main\n"
        f"status = main([{str(wav)!r}, '--onnx', {str(tiny['onnx'])!r}, '-o', '-'])\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
        "sys.exit(status)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()  # -o - is the standard output
    assert lines[0].startswith("path,score") and lines[-1] == "torch imported: False"
    assert not (tmp_path / "-").exists() and not Path("-").exists()
