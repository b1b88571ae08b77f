"""Attention maps: shapes, attention rows summing to 1 along the softmax axis, graph-pooling survivors, node
<-> signal mapping, and the PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aasist_lightning.data import load_audio, pad_or_crop
from aasist_lightning.models import AASIST
from aasist_lightning.runtime.attention import explain, plot_attention, sinc_band_edges, temporal_node_edges

# filts[0] = 24 sinc channels -> 8 spectral nodes; 16000 samples -> 7 temporal nodes.
SMALL = {"nb_samp": 16000, "first_conv": 3, "filts": [24, [1, 4], [4, 4], [4, 4], [4, 4]], "gat_dims": [4, 4]}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small() -> AASIST:
    torch.manual_seed(0)
    return AASIST(**SMALL).eval()


def wave(n: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def check_maps(maps, model: AASIST, n_spectral: int, n_temporal: int) -> None:
    assert maps.gat_s.shape == (n_spectral, n_spectral) and maps.gat_t.shape == (n_temporal, n_temporal)
    for att in (maps.gat_s, maps.gat_t, *maps.hetero.values()):
        assert np.all(att >= 0)
        np.testing.assert_allclose(att.sum(axis=-1), 1.0, atol=1e-5)  # softmax over the attended nodes
    for master in maps.master.values():
        np.testing.assert_allclose(master.sum(), 1.0, atol=1e-5)  # the master node attends to all nodes
    ratios = model.config["pool_ratios"]
    s_kept = max(int(n_spectral * ratios[0]), 1)
    t_kept = max(int(n_temporal * ratios[1]), 1)
    hs_kept, ht_kept = max(int(s_kept * ratios[2]), 1), max(int(t_kept * ratios[2]), 1)
    expected = {
        "pool_S": (n_spectral, s_kept),
        "pool_T": (n_temporal, t_kept),
        "pool_hS1": (s_kept, hs_kept),
        "pool_hT1": (t_kept, ht_kept),
        "pool_hS2": (s_kept, hs_kept),
        "pool_hT2": (t_kept, ht_kept),
    }
    for name, (n_in, n_out) in expected.items():
        step = maps.pools[name]
        assert step.scores.shape == (n_in,) and step.kept.shape == (n_out,) == step.kept_nodes.shape, name
        assert np.all((step.scores > 0) & (step.scores < 1))
        # The kept nodes are the best-scored ones, best first.
        np.testing.assert_allclose(step.scores[step.kept], np.sort(step.scores)[::-1][:n_out], atol=1e-6)
        limit = n_spectral if step.node_type == "spectral" else n_temporal
        assert (
            np.all((step.kept_nodes >= 0) & (step.kept_nodes < limit)) and len(set(step.kept_nodes)) == n_out
        )
    # Heterogeneous attention runs over [kept temporal nodes, kept spectral nodes].
    assert maps.hetero["HtrgGAT_layer_ST11"].shape == (t_kept + s_kept,) * 2
    assert maps.hetero["HtrgGAT_layer_ST12"].shape == (ht_kept + hs_kept,) * 2
    # Survivors of the second pooling are survivors of the first one.
    assert set(maps.pools["pool_hS1"].kept_nodes) <= set(maps.pools["pool_S"].kept)
    assert set(maps.pools["pool_hT2"].kept_nodes) <= set(maps.pools["pool_T"].kept)
    np.testing.assert_allclose(maps.received("temporal").sum(), 1.0, atol=1e-5)


def test_shapes_and_softmax_rows(small: AASIST) -> None:
    x = wave()
    maps = explain(small, x)
    check_maps(maps, small, n_spectral=8, n_temporal=7)
    with torch.no_grad():
        logits = small(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(maps.logits, logits, atol=1e-6)  # the same forward as plain inference
    assert maps.score == pytest.approx(float(logits[1] - logits[0]), abs=1e-6)
    assert maps.duration_s == 1.0


def test_model_state_is_restored(small: AASIST) -> None:
    small.train()
    explain(small, wave(30000))  # a longer input is head-cropped to nb_samp
    assert small.training
    assert small.GAT_layer_S.keep_attention is False and small.pool_S.keep_indices is False
    small.eval()


def test_node_signal_mapping(small: AASIST) -> None:
    bands = sinc_band_edges(small)
    assert bands.shape == (9,) and bands[0] == 0.0 and np.all(np.diff(bands) > 0)
    # Mel spacing: equal steps on the mel scale, so low bands are narrower than high ones.
    assert np.diff(bands)[0] < np.diff(bands)[-1]
    # 24 channels: the 8 nodes cover every channel, up to Nyquist.
    assert bands[-1] == pytest.approx(8000.0)
    times = temporal_node_edges(small, 7)
    assert times.shape == (8,) and np.allclose(np.diff(times), 2187 / 16000)
    assert times[-1] <= 1.0


def test_official_aasist_l_on_real_speech(shared_dir: Path) -> None:
    model = AASIST.from_pretrained("AASIST-L")
    x = pad_or_crop(load_audio(shared_dir / "audio" / "vctk_p225" / "p225_001_mic1.flac"), 64600)
    maps = explain(model, x)
    check_maps(maps, model, n_spectral=23, n_temporal=29)  # 70 sinc channels // 3; (64600 - 129 + 1) // 2187
    assert maps.score > 0  # bona fide speech
    # 69 of the 70 sinc channels are covered (the 70th is dropped by the (3, 3) max-pool).
    assert maps.band_edges_hz[-1] < 8000 and maps.band_edges_hz[-1] > 7500


def test_png_is_written(small: AASIST, tmp_path: Path) -> None:
    x = wave()
    maps = explain(small, x)
    out = plot_attention(maps, x, tmp_path / "deep" / "maps.png", title="tone")
    assert out == tmp_path / "deep" / "maps.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert not list(out.parent.glob(".*tmp"))


def test_rejects_non_aasist() -> None:
    with pytest.raises(TypeError, match="explain\\(\\) needs an AASIST module"):
        explain(torch.nn.Linear(2, 2), wave())  # type: ignore[arg-type]
