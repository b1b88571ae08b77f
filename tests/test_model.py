"""The AASIST network: golden equivalence with the official implementation, shapes, masking, input errors."""

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from aasist_lightning import config_dir
from aasist_lightning.models import AASIST, ARCH_KEYS, OFFICIAL_ARCHS, HyperParameterError
from aasist_lightning.models.aasist import (
    TIME_POOL,
    GraphAttentionLayer,
    HtrgGraphAttentionLayer,
    ResidualBlock,
)
from aasist_lightning.models.sinc import SincConv, sinc_filterbank

# A narrow encoder: same graph, a fraction of the compute, for tests about shapes and masking.
TINY = dict(filts=[70, [1, 8], [8, 8], [8, 8], [8, 8]], gat_dims=[8, 8], nb_samp=4000)
GOLDENS = ["AASIST-L_fc64_len64600", "AASIST-L_fc128_len64600", "AASIST_fc128_len64600"]


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------- faithfulness


@pytest.mark.parametrize("golden", GOLDENS)
def test_golden_equivalence(shared_dir: Path, golden: str) -> None:
    data = np.load(shared_dir / "goldens" / "model" / f"{golden}.npz")
    model = AASIST.from_pretrained(str(data["arch"]), first_conv=int(data["first_conv"]))
    assert not model.training
    with torch.no_grad():
        logits, hidden = model(torch.from_numpy(data["x"]), return_hidden=True)
    err_logits = np.abs(logits.numpy() - data["logits"]).max()
    err_hidden = np.abs(hidden.numpy() - data["hidden"]).max()
    print(f"{golden}: max abs error logits {err_logits:.2e}, hidden {err_hidden:.2e}")
    assert err_logits < 1e-4 and err_hidden < 1e-4


@pytest.mark.parametrize(("arch", "count"), [("AASIST-L", 85_306), ("AASIST", 297_866)])
def test_strict_loading_and_parameter_count(shared_dir: Path, arch: str, count: int) -> None:
    model = AASIST.from_pretrained(arch)
    assert trainable(model) == count
    assert trainable(AASIST(**OFFICIAL_ARCHS[arch])) == count
    official = torch.load(shared_dir / "weights" / f"{arch}.pth", map_location="cpu", weights_only=True)
    # Same names, and nothing extra: the sinc filterbank is a non-persistent buffer.
    assert list(model.state_dict()) == list(official)
    assert "conv_time.filters" not in model.state_dict()
    model.load_state_dict(official, strict=True)


@pytest.mark.parametrize(("option", "arch"), [("aasist_l", "AASIST-L"), ("aasist", "AASIST")])
def test_model_configs_agree_with_the_official_archs(option: str, arch: str) -> None:
    """conf/model/<option>.yaml, composed as `python train.py model=<option>` does, repeats the table."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={option}"])
    model = OmegaConf.to_container(cfg.model, resolve=True)
    assert model["arch"] == model["pretrained"] == arch
    assert {k: model[k] for k in ARCH_KEYS} == OFFICIAL_ARCHS[arch]
    assert set(OFFICIAL_ARCHS[arch]) == set(ARCH_KEYS)


def test_models_need_no_config_library() -> None:
    """The network and its weights are plain PyTorch: importing them loads neither OmegaConf nor Hydra."""
    code = (
        "import sys, aasist_lightning.models; "
        "print([m for m in sys.modules if m.split('.')[0] in ('omegaconf', 'hydra')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_network_takes_plain_sequences_and_list_nodes() -> None:
    """Tuples, lists and config list nodes all give the same plain-Python config."""
    plain = AASIST(**TINY).config
    tuples = (TINY["filts"][0], *(tuple(pair) for pair in TINY["filts"][1:]))
    assert AASIST(**{**TINY, "filts": tuples, "gat_dims": (8, 8)}).config == plain
    node = AASIST(**{**TINY, "filts": OmegaConf.create({"f": TINY["filts"]}).f}).config
    assert node == plain and type(node["filts"][1]) is list


def test_pos_s_is_sized_from_the_sinc_channels() -> None:
    assert AASIST().pos_S.shape == (1, 23, 24)  # the official hard-coded 23 for filts[0] = 70
    for channels in (3, 20, 71, 100):
        model = AASIST(**{**TINY, "filts": [channels, *TINY["filts"][1:]]})
        assert model.pos_S.shape[1] == channels // 3 == model.num_nodes(16000)[0]


def test_sinc_filterbank() -> None:
    conv = SincConv(out_channels=70, kernel_size=128)
    assert conv.kernel_size == 129 and conv.filters.shape == (70, 1, 129)  # even -> odd, as official
    bank = sinc_filterbank(70, 129).double()
    assert torch.allclose(bank, bank.flip(-1))  # symmetric (linear phase)
    # Each filter passes its own mel band: the gain at the band centre beats the gain elsewhere.
    spectrum = torch.fft.rfft(bank, n=4096).abs()
    peaks = spectrum.argmax(dim=1)
    assert (peaks[1:] >= peaks[:-1]).all()  # bands go up in frequency
    assert SincConv(3, 1).filters.shape == (3, 1, 1)


def _official_block_forward(self: ResidualBlock, x: torch.Tensor) -> torch.Tensor:
    """The official Residual_block.forward out of place (bn1's discarded statistics update as in ours)."""
    if not self.first:
        with torch.no_grad():
            self.bn1(x)
    out = self.conv2(F.selu(self.bn2(self.conv1(x))))
    out = out + (self.conv_downsample(x) if self.downsample else x)
    return F.max_pool2d(out, (1, 3))


def test_training_in_place_gives_the_out_of_place_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    """The residual blocks train in place (memory); loss, gradients and BN statistics are those of the
    official block."""

    def step(model: AASIST) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        torch.manual_seed(0)  # the same frequency mask and dropout
        loss = F.cross_entropy(model(torch.randn(3, TINY["nb_samp"])), torch.tensor([0, 1, 1]))
        loss.backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        return loss.detach(), grads | {n: b.clone() for n, b in model.named_buffers()}

    torch.manual_seed(1)
    model = AASIST(**TINY).train()
    reference = copy.deepcopy(model)
    loss, state = step(model)
    monkeypatch.setattr(ResidualBlock, "forward", _official_block_forward)
    want_loss, want = step(reference)
    assert torch.equal(loss, want_loss) and state.keys() == want.keys() and len(state) > 40
    for name, value in want.items():
        torch.testing.assert_close(state[name], value, rtol=1e-4, atol=1e-6)  # fp32 summation order


# ---------------------------------------------------------------- configurable shapes


def _forward_backward(model: AASIST, batch: int, length: int) -> None:
    model.train()
    model.set_keep_attention(True)
    logits, hidden = model(torch.randn(batch, length), return_hidden=True)
    assert logits.shape == (batch, 2)
    assert hidden.shape == (batch, 5 * model.config["gat_dims"][1])
    spectral, temporal = model.num_nodes(length)
    assert model.GAT_layer_S.last_attention.shape == (batch, spectral, spectral)
    assert model.GAT_layer_T.last_attention.shape == (batch, temporal, temporal)
    logits.sum().backward()
    grads = [p.grad for name, p in model.named_parameters() if ".bn1." not in name]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("first_conv", [3, 64, 128, 129, 256, 512])
def test_first_conv(first_conv: int) -> None:
    model = AASIST(first_conv=first_conv)
    assert model.kernel_size == first_conv + (first_conv % 2 == 0)
    _forward_backward(model, batch=1, length=16000)


@pytest.mark.parametrize("channels", [20, 70, 100])
def test_sinc_channels(channels: int) -> None:
    _forward_backward(AASIST(filts=[channels, [1, 32], [32, 32], [32, 24], [24, 24]]), batch=1, length=16000)


@pytest.mark.parametrize("length", [16000, 64600, 96000])
def test_lengths(length: int) -> None:
    # Length only changes the time axis: the narrow encoder checks it at a fraction of the cost.
    _forward_backward(AASIST(**TINY), batch=1, length=length)


def test_minimum_length_and_smallest_filterbank() -> None:
    model = AASIST(first_conv=3, filts=[3, *TINY["filts"][1:]], gat_dims=[8, 8], nb_samp=4000)
    assert model.min_length == TIME_POOL + 3 - 1
    assert model.num_nodes(model.min_length) == (1, 1)
    _forward_backward(model, batch=2, length=model.min_length)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, model.min_length)).shape == (1, 2)


def test_batch_one_waveform_is_a_batch_of_one() -> None:
    model = AASIST(**TINY).eval()
    x = torch.randn(4000)
    with torch.no_grad():
        assert torch.equal(model(x), model(x.unsqueeze(0)))
        assert model(x.double()).dtype == torch.float32


def test_keep_attention() -> None:
    model = AASIST(**TINY).eval()
    with torch.no_grad():
        model(torch.randn(2, 8000))
    assert model.GAT_layer_S.last_attention is None  # off by default
    model.set_keep_attention(True)
    with torch.no_grad():
        model(torch.randn(2, 8000))
    layers = [m for m in model.modules() if isinstance(m, GraphAttentionLayer | HtrgGraphAttentionLayer)]
    assert len(layers) == 6
    for layer in layers:
        att = layer.last_attention
        assert att is not None and not att.requires_grad
        assert torch.allclose(att.sum(-1), torch.ones(att.shape[:-1]), atol=1e-5)
    n_t = model.pool_hT1.last_indices.shape[1]
    n_s = model.pool_hS1.last_indices.shape[1]
    assert model.HtrgGAT_layer_ST12.last_attention.shape == (2, n_t + n_s, n_t + n_s)
    assert model.HtrgGAT_layer_ST12.last_master_attention.shape == (2, n_t + n_s)


# ---------------------------------------------------------------- frequency masking


def _sinc_output(model: AASIST, x: torch.Tensor) -> torch.Tensor:
    captured = []
    handle = model.conv_time.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        model(x)
    finally:
        handle.remove()
    return captured[0]


def _zero_channels(sinc_out: torch.Tensor) -> list[int]:
    return torch.nonzero((sinc_out == 0).all(dim=2).all(dim=0)).flatten().tolist()


def test_freq_mask_zeroes_exactly_the_drawn_band() -> None:
    model = AASIST(**TINY).train()
    x = torch.randn(2, 4000)
    for seed in range(5):
        torch.manual_seed(seed)
        start, width = model._draw_freq_mask()
        torch.manual_seed(seed)
        assert _zero_channels(_sinc_output(model, x)) == list(range(start, start + width))


def test_freq_mask_width_bounded() -> None:
    model = AASIST(**TINY, freq_mask_width=20)
    torch.manual_seed(0)
    draws = [model._draw_freq_mask() for _ in range(3000)]
    widths = {w for _, w in draws}
    assert widths == set(range(20))  # official int(uniform(0, 20)): 0 .. 19
    assert all(s >= 0 and s + w <= 70 for s, w in draws)
    narrow = AASIST(**{**TINY, "filts": [6, *TINY["filts"][1:]]}, freq_mask_width=20)
    assert all(s + w <= 6 for s, w in (narrow._draw_freq_mask() for _ in range(500)))


def test_freq_mask_only_in_training() -> None:
    x = torch.randn(2, 4000)
    model = AASIST(**TINY).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        assert _zero_channels(_sinc_output(model, x)) == []
        assert torch.equal(model(x), model(x))
    off = AASIST(**TINY, freq_mask_width=0).train()
    for seed in range(3):
        torch.manual_seed(seed)
        assert _zero_channels(_sinc_output(off, x)) == []


def test_freq_mask_is_reproducible_under_a_seed() -> None:
    model = AASIST(**TINY).train()
    x = torch.randn(2, 4000)
    runs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        runs.append(_zero_channels(_sinc_output(model, x)))
    assert runs[0] == runs[1]
    torch.manual_seed(7)
    a = model(x)
    torch.manual_seed(7)
    assert torch.equal(a, model(x))
    bands = set()
    for seed in range(20):
        torch.manual_seed(seed)
        bands.add(model._draw_freq_mask())
    assert len(bands) > 10


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.zeros(()), r"shape \(batch, samples\), got shape \(\)"),
        (torch.zeros(2, 1, 4000), r"got shape \(2, 1, 4000\) \(a channel axis\? use x.squeeze\(1\)\)"),
        (torch.zeros(2, 4000, dtype=torch.int16), r"float waveform.*dtype torch.int16.*x.float\(\) / 32768"),
        (torch.zeros(0, 4000), "empty batch"),
        (torch.zeros(2, 2300), r"2300 samples is too short: with first_conv=128 AASIST needs at least 2315"),
    ],
)
def test_bad_input(x: torch.Tensor, message: str) -> None:
    model = AASIST(**TINY).eval()
    with pytest.raises(ValueError, match=message):
        model(x)


def test_numpy_input_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"got ndarray; use torch.from_numpy"):
        AASIST(**TINY)(np.zeros((1, 4000), dtype=np.float32))


def test_batch_of_one_in_training_with_a_single_graph_node() -> None:
    model = AASIST(**TINY).train()
    with pytest.raises(ValueError, match=r"batch size 1 .* 1 temporal nodes.* >= 4502 samples"):
        model(torch.randn(1, 3000))
    model(torch.randn(1, 4502))  # two temporal nodes: fine


@pytest.mark.parametrize(
    ("hp", "message"),
    [
        ({"first_conv": 0}, r"first_conv=0: must be an integer >= 1"),
        ({"filts": [2, [1, 32], [32, 32], [32, 24], [24, 24]]}, r"filts\[0\] .* must be an integer >= 3"),
        ({"filts": [70, [1, 32], [16, 32], [32, 24], [24, 24]]}, r"filts\[2\]\[0\] must equal filts\[1\]"),
        ({"filts": [70, [1, 32], [32, 32], [32, 24], [24, 16]]}, r"filts\[4\] must have in == out"),
        ({"gat_dims": [24]}, r"gat_dims=\[24\]: must be a list of 2"),
        ({"pool_ratios": [0.4, 0.5, 1.5, 0.5]}, r"pool_ratios.*in \(0, 1\]"),
        ({"temperatures": [2.0, 2.0, 0.0, 100.0]}, "temperatures.*positive"),
        ({"freq_mask_width": -1}, "freq_mask_width=-1"),
        ({"nb_samp": 1000}, r"nb_samp=1000: is shorter than the minimum input length 2315"),
    ],
)
def test_bad_hyperparameters(hp: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AASIST(**hp)


def test_every_bad_hyperparameter_is_listed() -> None:
    bad = {"first_conv": -3, "filts": [70, [1, 32], [16, 32], [32, 16], [24, 24]], "gat_dims": [24]}
    with pytest.raises(HyperParameterError) as err:
        AASIST(**bad)
    assert [(key, value) for key, value, _ in err.value.problems] == [
        ("first_conv", -3),
        ("filts", bad["filts"]),
        ("filts", bad["filts"]),
        ("gat_dims", [24]),
    ]
    assert "block 2 takes 16 channels but block 1 outputs 32" in str(err.value)
    assert "block 4 takes 24 channels but block 3 outputs 16" in str(err.value)


# ---------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_cuda(shared_dir: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data = np.load(shared_dir / "goldens" / "model" / "AASIST-L_fc128_len64600.npz")
    model = AASIST.from_pretrained("AASIST-L").cuda()
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # TF32 convolutions are ~1e-3 off: compare in true fp32
    try:
        with torch.no_grad():
            logits, hidden = model(torch.from_numpy(data["x"]).cuda(), return_hidden=True)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert np.abs(logits.cpu().numpy() - data["logits"]).max() < 1e-4
    assert np.abs(hidden.cpu().numpy() - data["hidden"]).max() < 1e-4
    model.train()
    torch.manual_seed(0)
    model(torch.randn(4, 64600, device="cuda")).sum().backward()
    assert model.conv_time.filters.device.type == "cuda"
    with pytest.raises(ValueError, match="input is on cpu but the model is on cuda"):
        model(torch.randn(2, 64600))
