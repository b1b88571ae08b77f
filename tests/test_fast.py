"""Fast inference paths (runtime.fast): parity with plain fp32 eager; the choice by hardware
(runtime.hardware), tested for every kind of machine on every machine."""

import platform
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from aasist_lightning.models import AASIST
from aasist_lightning.runtime.fast import Fp32Head, emulated_bf16, fold_batchnorm, prepare_inference
from aasist_lightning.runtime.hardware import (
    Hardware,
    auto_backend,
    choose,
    detect_hardware,
    resolve,
    training_memory_format,
    training_precision,
)

TINY = dict(filts=[70, [1, 8], [8, 8], [8, 8], [8, 8]], gat_dims=[8, 8], nb_samp=4000)
LENGTH = 4000


def tiny_model(seed: int = 0) -> AASIST:
    """A tiny AASIST with non-trivial batch-norm statistics (fresh ones are the identity)."""
    torch.manual_seed(seed)
    model = AASIST(**TINY)
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def waves(batch: int, length: int = LENGTH, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, length, generator=g) - 0.5) * 0.2


@pytest.fixture(scope="module")
def aasist_l(shared_dir: Path) -> AASIST:
    return AASIST.from_pretrained("AASIST-L")


# One of each kind of machine the runs meet, as detect_hardware would describe it.
CPU = Hardware("cpu", "x", "AVX2", False, False, True, True, False, 2)  # e.g. AMD Zen 3: AVX2 only
ZEN4 = replace(CPU, name="AMD Zen 4", cpu_capability="AVX512", avx512_bf16=True)  # AVX-512 + BF16, no AMX
AMX = replace(CPU, name="Intel Sapphire Rapids", cpu_capability="AVX512", amx=True, avx512_bf16=True)
GPU = replace(CPU, device="cuda", name="NVIDIA H100", cuda_bf16=True, triton=True)
MACHINES = {"avx2": CPU, "avx512_bf16": ZEN4, "amx": AMX, "cuda": GPU}
HW = detect_hardware("cpu")
HAS_CXX = HW.cxx_compiler


# ---------------------------------------------------------------- choice by hardware


def test_auto_choice_follows_the_hardware() -> None:
    assert auto_backend(CPU) == "onnx"
    assert auto_backend(replace(CPU, onnxruntime=False)) == "compile"
    assert auto_backend(replace(CPU, onnxruntime=False, cxx_compiler=False)) == "channels_last"
    assert auto_backend(AMX, "bf16") == "compile"
    assert auto_backend(GPU, "bf16") == "compile"
    assert auto_backend(replace(GPU, triton=False), "fp32") == "eager"
    assert auto_backend(GPU, "bf16", allow_compile=False) == "eager"  # e.g. rebuilt every validation epoch


@pytest.mark.parametrize(
    ("machine", "auto", "bf16"),
    [
        ("avx2", ("onnx", "fp32"), ("compile", "bf16")),
        ("avx512_bf16", ("onnx", "fp32"), ("compile", "bf16")),
        ("amx", ("onnx", "fp32"), ("compile", "bf16")),
        ("cuda", ("compile", "fp32"), ("compile", "bf16")),
    ],
)
def test_choice_on_each_kind_of_machine(machine: str, auto: tuple[str, str], bf16: tuple[str, str]) -> None:
    hw = MACHINES[machine]
    assert hw.native_bf16 == (machine != "avx2")
    # auto precision is fp32 everywhere, even where bf16 is fast: bf16 moves EER by more than 0.1 pp.
    assert choose(hw, "auto", "auto") == auto
    assert choose(hw, "auto", "bf16") == bf16  # bf16 is opt-in
    assert choose(hw, "eager", "fp32") == ("eager", "fp32")  # the switch to force plain fp32
    assert choose(hw, "onnx", "auto") == ("onnx", "fp32")
    assert choose(hw, "auto", "fp32", allow_compile=False)[0] == ("eager" if machine == "cuda" else "onnx")
    with pytest.raises(ValueError, match="onnx backend runs in fp32 only"):
        choose(hw, "onnx", "bf16")
    with pytest.raises(ValueError, match="backend=onnx needs onnxruntime"):
        choose(replace(hw, onnxruntime=False), "onnx", "fp32")


@pytest.mark.parametrize("machine", list(MACHINES))
def test_training_precision_auto_is_bf16_only_where_it_is_native(machine: str) -> None:
    hw = MACHINES[machine]
    assert training_precision("auto", hw) == ("32-true" if machine == "avx2" else "bf16-mixed")
    assert training_precision("32-true", hw) == "32-true"  # an explicit choice is kept
    assert training_precision("bf16-mixed", CPU) == "bf16-mixed"


@pytest.mark.parametrize("machine", list(MACHINES))
def test_training_memory_format_auto_is_channels_last_on_avx512_cpus_only(machine: str) -> None:
    hw = MACHINES[machine]
    expected = "channels_last" if machine in ("avx512_bf16", "amx") else "contiguous"
    assert training_memory_format("auto", hw) == expected
    assert training_memory_format("contiguous", hw) == "contiguous"  # an explicit choice is kept
    assert training_memory_format("channels_last", hw) == "channels_last"
    # AVX-512 without bf16 (e.g. Intel Skylake-X): fp32 training gains there too.
    assert training_memory_format("auto", replace(CPU, cpu_capability="AVX512")) == "channels_last"
    with pytest.raises(ValueError, match="memory_format='nhwc': use one of auto, channels_last, contiguous"):
        training_memory_format("nhwc", hw)


def test_this_machine_defaults() -> None:
    hw = detect_hardware("cpu")
    assert hw.device == "cpu" and hw.threads >= 1
    assert resolve("auto", "auto", "cpu") == choose(hw, "auto", "auto") == (auto_backend(hw), "fp32")
    assert resolve("eager", "fp32") == ("eager", "fp32")
    assert resolve("onnx", "auto") == ("onnx", "fp32")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_this_gpu_defaults() -> None:
    hw = detect_hardware("cuda")
    assert hw.native_bf16 == hw.cuda_bf16
    assert resolve("auto", "auto", "cuda") == ("compile" if hw.triton else "eager", "fp32")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without a CUDA GPU")
def test_cuda_is_refused_without_a_gpu() -> None:
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        detect_hardware("cuda")


@pytest.mark.parametrize(
    ("backend", "precision", "message"),
    [
        ("tensorrt", "auto", "unknown inference backend 'tensorrt'"),
        ("auto", "fp16", "unknown inference precision 'fp16'"),
        ("onnx", "bf16", "onnx backend runs in fp32 only"),
    ],
)
def test_bad_choices_are_refused(backend: str, precision: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_inference(tiny_model(), backend, precision)


# ---------------------------------------------------------------- exact paths


def test_fold_batchnorm_is_exact_and_eval_only() -> None:
    model = tiny_model()
    x = waves(3)
    with torch.no_grad():
        ref = model(x)
        folded = fold_batchnorm(tiny_model())  # same seed: the same weights as `model`
        assert isinstance(folded.encoder[0][0].bn2, torch.nn.Identity)
        assert (folded(x) - ref).abs().max() < 1e-5
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(tiny_model().train())


@pytest.mark.parametrize("backend", ["eager", "channels_last", "onnx"])
def test_exact_paths_match_eager_on_a_tiny_model(backend: str) -> None:
    model = tiny_model()
    x = waves(3)
    with torch.no_grad():
        ref = model(x)
    fast = prepare_inference(model, backend, "fp32")
    assert (fast.backend, fast.precision) == (backend, "fp32")
    out = fast(x)
    assert out.dtype == torch.float32 and out.shape == (3, 2)
    assert (out - ref).abs().max() < 1e-4
    # Another batch size through the same runner (ONNX: dynamic batch axis), numpy input too.
    assert (fast(x[:1].numpy()) - ref[:1]).abs().max() < 1e-4
    if backend == "onnx":  # no per-shape memory pattern on CPU: it doubled the peak memory
        assert [s.get_session_options().enable_mem_pattern for s in fast._sessions.values()] == [False]


def test_onnx_sessions_of_the_last_input_lengths_only_are_kept() -> None:
    """Each input length gets its own ONNX Runtime session (GBs for long inputs): a runner fed clips of many
    lengths (eval.py crop=full) keeps only the most recent ones, and scores a dropped length again exactly."""
    model = tiny_model()
    fast = prepare_inference(model, "onnx", "fp32")
    lengths = (LENGTH, LENGTH + 800, LENGTH + 1600, LENGTH)
    for length in lengths:
        x = waves(2, length)
        with torch.no_grad():
            assert (fast(x) - model(x)).abs().max() < 1e-4
    assert list(fast._sessions) == [LENGTH + 1600, LENGTH]
    # Sessions after the first input length run without ONNX Runtime's arena, whose buffers outlived them.
    assert [s.get_session_options().enable_cpu_mem_arena for s in fast._sessions.values()] == [False, False]


def test_the_onnx_graph_is_fp32_even_when_exported_under_bf16_autocast() -> None:
    """bf16-mixed training validates inside Lightning's CPU autocast: the runner exported there must be the
    fp32 graph (autocast's bf16 casts made ONNX Runtime reject it)."""
    from aasist_lightning.runtime.onnx import export_onnx, ort_session

    model = tiny_model()
    x = waves(2)
    with torch.no_grad():
        ref = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        graph = export_onnx(model, x.shape[1])
    out = ort_session(graph, "cpu", 1, x.shape[1]).run(None, {"waveform": x.numpy()})[0]
    assert out.dtype.name == "float32"
    assert abs(out - ref.numpy()).max() < 1e-4


def test_selu_reorder_pairs_are_dropped() -> None:
    from onnx import helper

    from aasist_lightning.runtime.onnx import _drop_selu_reorders

    nodes = [
        helper.make_node("ReorderOutput", ["blocked"], ["nchw"], domain="com.microsoft"),
        helper.make_node("Selu", ["nchw"], ["act"]),
        helper.make_node("ReorderInput", ["act"], ["blocked2"], domain="com.microsoft"),
        helper.make_node("Relu", ["blocked2"], ["out"]),
        helper.make_node("ReorderOutput", ["blocked"], ["nchw_b"], domain="com.microsoft"),  # not to a Selu
        helper.make_node("Abs", ["nchw_b"], ["out2"]),
    ]
    graph = helper.make_graph(nodes, "g", [], [])
    assert _drop_selu_reorders(graph) == 1
    assert [n.op_type for n in graph.node] == ["Selu", "Relu", "ReorderOutput", "Abs"]
    assert list(graph.node[0].input) == ["blocked"] and list(graph.node[1].input) == ["act"]


@pytest.mark.parametrize("backend", ["channels_last", "onnx"])
def test_exact_paths_match_eager_on_official_aasist_l(aasist_l: AASIST, backend: str) -> None:
    x = waves(2, 16000, seed=1)
    with torch.no_grad():
        ref = aasist_l(x)
    err = (prepare_inference(aasist_l, backend, "fp32", example_length=16000)(x) - ref).abs().max()
    print(f"AASIST-L {backend}: max abs logit error {err:.2e}")
    assert err < 1e-4


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64") or not HW.cpu_capability.startswith("AVX"),
    reason="ONNX Runtime's blocked (NCHWc) layout, whose SELU reorders the rewrite drops, needs x86 AVX2+",
)
def test_selu_rewrite_applies_to_the_exported_aasist_l(aasist_l: AASIST) -> None:
    import onnxruntime as ort

    fast = prepare_inference(aasist_l, "onnx", "fp32", example_length=16000)
    (session,) = fast._sessions.values()
    # The rewritten graph is loaded with optimisations off (they already ran); the fallback keeps them on.
    level = session.get_session_options().graph_optimization_level
    assert level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def test_bf16_path_is_close_but_not_exact() -> None:
    model = tiny_model()
    x = waves(2)
    with torch.no_grad():
        ref = model(x)
    fast = prepare_inference(model, "eager", "bf16")
    out = fast(x)
    assert out.dtype == torch.float32
    assert 0 < (out - ref).abs().max() < 0.5
    assert isinstance(fast.model.out_layer, Fp32Head)  # logits not rounded to bf16's coarse steps
    with emulated_bf16():  # the same numerics at fp32 speed
        emulated = prepare_inference(model, "eager", "fp32")(x)
    assert 0 < (emulated - ref).abs().max() < 0.5


def test_the_callers_model_is_left_alone() -> None:
    model = tiny_model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = prepare_inference(model, "channels_last", "fp32")
    fast(waves(2))
    assert model.training
    assert model.encoder[0][0].conv1.weight.is_contiguous()  # not converted to channels-last
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert isinstance(model.encoder[0][0].bn2, torch.nn.BatchNorm2d)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CXX, reason="torch.compile on a CPU needs a C++ compiler")
def test_compile_matches_eager_and_pads_short_batches() -> None:
    model = tiny_model()
    x = waves(4)
    with torch.no_grad():
        ref = model(x)
    fast = prepare_inference(model, "compile", "fp32")
    assert (fast(x) - ref).abs().max() < 1e-4
    assert (fast(x[:3]) - ref[:3]).abs().max() < 1e-4  # padded to the compiled batch of 4
    assert (fast(torch.cat([x, x[:2]])) - torch.cat([ref, ref[:2]])).abs().max() < 1e-4  # split
    assert fast.setup_seconds > 0


def test_a_new_runner_reuses_the_exported_graph_with_its_own_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation builds a runner every epoch: the graph exported the first time must run the new weights."""
    import aasist_lightning.runtime.fast as fast

    torch.manual_seed(0)
    model = AASIST(**TINY).eval()
    x = torch.randn(3, 8000)
    first = prepare_inference(model, "onnx", "fp32")
    with torch.no_grad():
        assert (first(x) - model(x)).abs().max() < 1e-4
        for p in model.parameters():  # "the next epoch": every weight and batch-norm statistic moves
            p.add_(0.05 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                b.mul_(1.5)
        exports: list[int] = []

        def counting_export(*args: object, **kwargs: object) -> bytes:
            exports.append(1)
            raise RuntimeError("exported again")

        monkeypatch.setattr(fast, "export_onnx", counting_export)
        second = prepare_inference(model, "onnx", "fp32")
        assert (second(x) - model(x)).abs().max() < 1e-4
        assert (first(x) - second(x)).abs().max() > 1e-3  # the first runner still has the old weights
    assert exports == []
    with pytest.raises(RuntimeError, match="exported again"):  # another architecture is exported anew
        prepare_inference(AASIST(**{**TINY, "gat_dims": [8, 4]}).eval(), "onnx", "fp32")(x)
    assert exports == [1]
