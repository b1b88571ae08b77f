"""Fast inference / training paths (runtime.fast): parity with plain fp32 eager, hardware choice."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from aasist_lightning.models import AASIST
from aasist_lightning.runtime.fast import (
    Fp32Head,
    Hardware,
    auto_backend,
    auto_precision,
    detect_hardware,
    emulated_bf16,
    fold_batchnorm,
    memory_mib,
    prepare_inference,
    prepare_training,
    reset_peak_memory,
    resolve,
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


CPU = Hardware("cpu", "x", "AVX2", False, False, True, True, False, 2)


# ---------------------------------------------------------------- choice by hardware


def test_auto_choice_follows_the_hardware() -> None:
    assert auto_precision(CPU) == "fp32"
    assert auto_backend(CPU) == "onnx"
    assert auto_backend(replace(CPU, onnxruntime=False)) == "compile"
    assert auto_backend(replace(CPU, onnxruntime=False, cxx_compiler=False)) == "channels_last"
    amx = replace(CPU, amx=True, cpu_capability="AVX512")
    assert auto_precision(amx) == "fp32" and auto_backend(amx, "bf16") == "compile"  # bf16 is opt-in
    gpu = replace(CPU, device="cuda", cuda_bf16=True, triton=True)
    assert auto_precision(gpu) == "fp32" and auto_backend(gpu, "bf16") == "compile"
    assert auto_backend(replace(gpu, triton=False), "fp32") == "eager"
    assert auto_backend(gpu, "bf16", allow_compile=False) == "eager"  # e.g. rebuilt every validation epoch


def test_this_machine_defaults() -> None:
    hw = detect_hardware("cpu")
    backend, precision = resolve("auto", "auto", "cpu")
    # bf16 only where it is fast: never on a CPU without AMX.
    assert precision == ("bf16" if hw.amx else "fp32")
    assert training_precision("cpu") == ("bf16-mixed" if hw.amx else "32-true")
    assert resolve("eager", "fp32") == ("eager", "fp32")  # the switch to force plain fp32
    assert resolve("onnx", "auto") == ("onnx", "fp32")
    assert backend in ("onnx", "compile", "channels_last")


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


def test_selu_reorder_pairs_are_dropped() -> None:
    from onnx import helper

    from aasist_lightning.runtime.fast import _drop_selu_reorders

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


# ---------------------------------------------------------------- training


def test_prepare_training_keeps_names_and_numbers() -> None:
    torch.manual_seed(0)
    base = AASIST(**TINY)
    keys = list(base.state_dict())
    losses = []
    for channels_last in (False, True):
        model = prepare_training(AASIST(**TINY).train(), channels_last=channels_last)
        model.load_state_dict(base.state_dict())
        assert list(model.state_dict()) == keys
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        torch.manual_seed(1)  # same frequency-mask bands and dropout masks for both
        run = []
        for _ in range(2):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(waves(4)), torch.tensor([0, 1, 0, 1]))
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(run)
    assert np.allclose(losses[0], losses[1], atol=1e-4)


def test_memory_helpers() -> None:
    if np.isnan(memory_mib()["rss"]):
        pytest.skip("no /proc/self/status on this system")
    can_reset = reset_peak_memory()
    before = memory_mib()
    assert before["rss"] > 10 and before["peak"] >= before["rss"] - 1
    big = np.ones(200 * 2**20 // 8)  # 200 MiB: above malloc's mmap threshold, so fresh pages
    assert memory_mib()["rss"] >= before["rss"] + 150
    del big
    assert memory_mib()["peak"] >= before["rss"] + 150
    if can_reset:
        reset_peak_memory()
        assert memory_mib()["peak"] < before["rss"] + 150
