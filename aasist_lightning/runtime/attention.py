"""Graph-attention maps of one utterance (the paper's future work), and a picture of them over its
spectrogram.

:func:`explain` runs AASIST on one waveform and returns an :class:`AttentionMaps`:

- ``gat_s`` (S, S) and ``gat_t`` (T, T): the attention of the spectral (GAT-S) and temporal (GAT-T) graph
  layers, row ``i`` = how node ``i`` spreads its attention over the nodes ``j`` (each row sums to 1: the
  softmax axis);
- ``hetero`` / ``master``: the four heterogeneous layers' attention over [temporal nodes, spectral nodes] and
  their master node's attention over the same nodes;
- ``pools``: for every graph-pooling step, the score ``sigmoid(proj(h))`` of each input node, which nodes it
  keeps (best first) and which *encoder* nodes those are (``kept_nodes``), so survival can be followed through
  the GAT-S/T pools and the two heterogeneous branches;
- where the nodes are in the signal: spectral node ``i`` is the max over sinc channels ``3i .. 3i+2`` (the
  encoder's first (3, 3) max-pool), i.e. the mel-spaced band ``band_edges_hz[i] .. band_edges_hz[i + 1]``;
  temporal node ``j`` is the max over ``3**7 = 2187`` sinc output frames (the max-pools of the stem and the
  six residual blocks), i.e. ``node_edges_s[j] .. node_edges_s[j + 1]`` (frame times at the centre of the sinc
  filter).

:func:`plot_attention` draws the spectrogram with the attention each (band, time) cell receives laid over it
(the outer product of the attention GAT-S and GAT-T nodes receive, i.e. the mean of their attention columns),
the pooling scores of the spectral and temporal nodes beside and below it (nodes kept by the first pooling in
colour, nodes still alive after the heterogeneous pooling marked), and the GAT-S and GAT-T attention matrices.
``aasist-predict --explain DIR`` saves one such PNG per file (:func:`explain_file`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aasist_lightning.data.audio import SAMPLE_RATE, load_audio, pad_or_crop
from aasist_lightning.models.aasist import (
    AASIST,
    TIME_POOL,
    GraphAttentionLayer,
    GraphPool,
    HtrgGraphAttentionLayer,
)
from aasist_lightning.models.sinc import hz_to_mel, mel_to_hz

#: Graph pools in forward order: (name, node type, the pool whose kept indices its input nodes are).
_POOLS = (
    ("pool_S", "spectral", None),
    ("pool_T", "temporal", None),
    ("pool_hS1", "spectral", "pool_S"),
    ("pool_hT1", "temporal", "pool_T"),
    ("pool_hS2", "spectral", "pool_S"),
    ("pool_hT2", "temporal", "pool_T"),
)
_HETERO = ("HtrgGAT_layer_ST11", "HtrgGAT_layer_ST12", "HtrgGAT_layer_ST21", "HtrgGAT_layer_ST22")


@dataclass
class PoolStep:
    """One graph-pooling step: node scores of its input nodes, kept indices (into its input, best first) and
    the same nodes as indices of the encoder's spectral / temporal nodes."""

    name: str
    node_type: str
    scores: np.ndarray
    kept: np.ndarray
    kept_nodes: np.ndarray


@dataclass
class AttentionMaps:
    """Everything :func:`explain` finds for one utterance (see the module docstring). Arrays are NumPy, batch
    axis removed."""

    logits: np.ndarray
    score: float
    gat_s: np.ndarray
    gat_t: np.ndarray
    hetero: dict[str, np.ndarray]
    master: dict[str, np.ndarray]
    pools: dict[str, PoolStep]
    band_edges_hz: np.ndarray
    node_edges_s: np.ndarray
    duration_s: float
    sample_rate: int = SAMPLE_RATE
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_spectral(self) -> int:
        return self.gat_s.shape[0]

    @property
    def n_temporal(self) -> int:
        return self.gat_t.shape[0]

    def received(self, which: str) -> np.ndarray:
        """Mean attention each node receives in GAT-S (``"spectral"``) or GAT-T (``"temporal"``); sums to
        1."""
        att = self.gat_s if which == "spectral" else self.gat_t
        return att.mean(axis=0)


def sinc_band_edges(model: AASIST, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Frequency range (Hz) of each spectral node: (S + 1,) edges; node i = sinc channels 3i .. 3i + 2, whose
    bands are mel-spaced from 0 Hz to Nyquist exactly as the SincConv builds them."""
    channels = model.conv_time.out_channels
    edges = np.asarray(
        mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(float(sample_rate // 2)), channels + 1))
    )
    n_nodes = channels // 3
    return np.asarray(edges[: 3 * n_nodes + 1 : 3], dtype=np.float64)


def temporal_node_edges(model: AASIST, n_nodes: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Time range (s) of each temporal node: (T + 1,) edges of its 2187 sinc frames, each frame placed at the
    centre of the sinc filter that made it."""
    offset = (model.kernel_size - 1) / 2
    return (np.arange(n_nodes + 1) * TIME_POOL + offset) / sample_rate


def _as_wave(wave: np.ndarray | torch.Tensor, nb_samp: int | None) -> torch.Tensor:
    x = wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if nb_samp is not None:
        x = pad_or_crop(x, nb_samp)
    return torch.from_numpy(np.ascontiguousarray(x))[None, :]


def explain(model: AASIST, wave: np.ndarray | torch.Tensor, nb_samp: int | None = -1) -> AttentionMaps:
    """Attention maps of ``model`` (put in eval mode) for one waveform (16 kHz, 1-D).

    ``nb_samp``: the waveform is first brought to this length by the official rule (repeat padding / head
    crop); the default -1 uses the model's ``nb_samp``, None keeps the waveform as it is.
    """
    if not isinstance(model, AASIST):
        raise TypeError(f"explain() needs an AASIST module (PyTorch), got {type(model).__name__}")
    length = model.nb_samp if nb_samp == -1 else nb_samp
    x = _as_wave(wave, length)
    device = model.conv_time.filters.device
    layers = [m for m in model.modules() if isinstance(m, GraphAttentionLayer | HtrgGraphAttentionLayer)]
    pools = [m for m in model.modules() if isinstance(m, GraphPool)]
    before = [m.keep_attention for m in layers] + [m.keep_indices for m in pools]
    pool_scores: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Any:
        def capture(module: GraphPool, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            pool_scores[name] = torch.sigmoid(module.proj(module.drop(inputs[0])))[0, :, 0]

        return capture

    handles = [getattr(model, name).register_forward_hook(hook(name)) for name, _, _ in _POOLS]
    was_training = model.training
    model.eval()
    model.set_keep_attention(True)
    try:
        with torch.inference_mode():
            logits = model(x.to(device))[0].float().cpu().numpy()
    finally:
        for h in handles:
            h.remove()
        for m, keep in zip([*layers, *pools], before, strict=True):
            if isinstance(m, GraphPool):
                m.keep_indices = keep
            else:
                m.keep_attention = keep
        model.train(was_training)

    def arr(t: torch.Tensor | None) -> np.ndarray:
        assert t is not None
        return t[0].float().cpu().numpy()

    steps: dict[str, PoolStep] = {}
    for name, node_type, parent in _POOLS:
        kept = arr(getattr(model, name).last_indices).astype(np.int64)
        nodes = kept if parent is None else steps[parent].kept_nodes[kept]
        steps[name] = PoolStep(name, node_type, pool_scores[name].float().cpu().numpy(), kept, nodes)
    gat_t = arr(model.GAT_layer_T.last_attention)
    return AttentionMaps(
        logits=logits,
        score=float(logits[1] - logits[0]),
        gat_s=arr(model.GAT_layer_S.last_attention),
        gat_t=gat_t,
        hetero={name: arr(getattr(model, name).last_attention) for name in _HETERO},
        master={name: arr(getattr(model, name).last_master_attention) for name in _HETERO},
        pools=steps,
        band_edges_hz=sinc_band_edges(model),
        node_edges_s=temporal_node_edges(model, gat_t.shape[0]),
        duration_s=x.shape[1] / SAMPLE_RATE,
    )


def _spectrogram(x: np.ndarray, sr: int = SAMPLE_RATE, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Log-power STFT (freq, frames), Hann window, in dB relative to the maximum."""
    if x.shape[0] < n_fft:
        x = np.pad(x, (0, n_fft - x.shape[0]))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)).T ** 2
    db = 10 * np.log10(power + 1e-12)
    return np.maximum(db - db.max(), -80.0)


def plot_attention(
    maps: AttentionMaps,
    wave: np.ndarray,
    path: str | os.PathLike[str],
    title: str | None = None,
    threshold: float = 0.0,
) -> Path:
    """Save the attention picture of ``maps`` (from :func:`explain` on ``wave``, the same fixed-length input)
    as a PNG; returns the path. See the module docstring for what it shows."""
    # The Figure API with the Agg canvas (no pyplot): no global state, no display needed, safe in threads.
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from aasist_lightning.metrics.plots import save_figure

    path = Path(path)
    sr = maps.sample_rate
    x = np.asarray(wave, dtype=np.float32).reshape(-1)
    mel = (lambda f: hz_to_mel(np.maximum(f, 0.0)), mel_to_hz)
    bands, times = maps.band_edges_hz, maps.node_edges_s
    s_recv, t_recv = maps.received("spectral"), maps.received("temporal")
    kept_s = set(maps.pools["pool_S"].kept.tolist())
    kept_t = set(maps.pools["pool_T"].kept.tolist())
    final_s = set(maps.pools["pool_hS1"].kept_nodes.tolist()) | set(
        maps.pools["pool_hS2"].kept_nodes.tolist()
    )
    final_t = set(maps.pools["pool_hT1"].kept_nodes.tolist()) | set(
        maps.pools["pool_hT2"].kept_nodes.tolist()
    )

    fig = Figure(figsize=(13, 9.5), dpi=110, layout="constrained")
    grid = fig.add_gridspec(3, 3, width_ratios=[4, 1.1, 0.08], height_ratios=[3, 1.1, 2.6])
    ax_spec = fig.add_subplot(grid[0, 0])
    ax_band = fig.add_subplot(grid[0, 1], sharey=ax_spec)
    ax_time = fig.add_subplot(grid[1, 0], sharex=ax_spec)
    ax_cbar = fig.add_subplot(grid[0, 2])
    bottom = grid[2, :].subgridspec(1, 2)
    ax_gs, ax_gt = fig.add_subplot(bottom[0, 0]), fig.add_subplot(bottom[0, 1])

    # Spectrogram, mel-scaled frequency axis: every spectral node is a band of equal height.
    spec = _spectrogram(x, sr)
    f = np.linspace(0, sr / 2, spec.shape[0])
    t = (np.arange(spec.shape[1]) * 128 + 256) / sr
    ax_spec.pcolormesh(t, f, spec, shading="nearest", cmap="gray_r", rasterized=True)
    ax_spec.set_yscale("function", functions=mel)
    cell = np.outer(s_recv, t_recv)
    mesh = ax_spec.pcolormesh(
        times, bands, cell / cell.max(), cmap="inferno", alpha=0.45, shading="flat", vmin=0, vmax=1
    )
    fig.colorbar(mesh, cax=ax_cbar, label="attention received (GAT-S x GAT-T, max = 1)")
    for edge in bands:
        ax_spec.axhline(edge, color="white", lw=0.3, alpha=0.5)
    ax_spec.set_xlim(0, maps.duration_s)
    ax_spec.set_ylim(0, sr / 2)
    ax_spec.set_yticks([100, 250, 500, 1000, 2000, 4000, 8000])
    ax_spec.set_yticklabels(["100", "250", "500", "1k", "2k", "4k", "8k"])
    ax_spec.set_ylabel("frequency (Hz, mel scale) / spectral nodes = sinc sub-bands")
    ax_spec.tick_params(labelbottom=False)
    verdict = "bona fide" if maps.score >= threshold else "spoof"
    prob = 1.0 / (1.0 + np.exp(-maps.score))
    head = f"{title}: " if title else ""
    ax_spec.set_title(
        f"{head}score {maps.score:+.3f} -> {verdict} (threshold {threshold:g}), P(bona fide) = {prob:.3f}",
        loc="left",
    )

    kept_colour, dropped_colour = "tab:red", "0.75"
    spectral_scores = maps.pools["pool_S"].scores
    ax_band.barh(
        bands[:-1],
        spectral_scores,
        height=np.diff(bands),
        align="edge",
        color=[kept_colour if i in kept_s else dropped_colour for i in range(len(spectral_scores))],
        edgecolor="white",
        linewidth=0.3,
    )
    centres_s = np.sqrt(np.maximum(bands[:-1], 1.0) * bands[1:])
    marks = sorted(final_s)
    ax_band.plot(spectral_scores[marks], centres_s[marks], "k.", ms=5)
    ax_band.set_xlim(0, 1.05)
    ax_band.set_xlabel("pool_S node score")
    ax_band.tick_params(labelleft=False)

    temporal_scores = maps.pools["pool_T"].scores
    ax_time.bar(
        times[:-1],
        temporal_scores,
        width=np.diff(times),
        align="edge",
        color=[kept_colour if j in kept_t else dropped_colour for j in range(len(temporal_scores))],
        edgecolor="white",
        linewidth=0.3,
    )
    marks = sorted(final_t)
    ax_time.plot((times[:-1] + times[1:])[marks] / 2, temporal_scores[marks], "k.", ms=5)
    ax_time.set_ylim(0, 1.05)
    ax_time.set_ylabel("pool_T node score")
    ax_time.set_xlabel("time (s) / temporal nodes = frames of 2187 sinc outputs")
    ax_time.legend(
        handles=[
            Patch(color=kept_colour, label="kept by the GAT pool"),
            Patch(color=dropped_colour, label="dropped"),
            Line2D([], [], color="k", marker=".", ls="", label="alive after heterogeneous pooling"),
        ],
        loc="upper right",
        fontsize="small",
        ncol=3,
    )

    centres_khz = (bands[:-1] + bands[1:]) / 2000
    _matrix_panel(fig, ax_gs, maps.gat_s, centres_khz, "{:.1f}", "GAT-S", "spectral node", "band centre, kHz")
    centres_t = (times[:-1] + times[1:]) / 2
    _matrix_panel(fig, ax_gt, maps.gat_t, centres_t, "{:.2f}", "GAT-T", "temporal node", "centre, s")

    return save_figure(fig, path)


def _matrix_panel(
    fig: Any, ax: Any, matrix: np.ndarray, centres: np.ndarray, fmt: str, name: str, node: str, unit: str
) -> None:
    """One attention matrix (rows: attending nodes, each summing to 1), its axes labelled by node centre."""
    n = matrix.shape[0]
    ticks = np.linspace(0, n - 1, min(n, 8)).round().astype(int)
    labels = [fmt.format(centres[i]) for i in ticks]
    im = ax.imshow(matrix, cmap="viridis", aspect="auto", origin="upper")
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel(f"attended {node} ({unit})")
    ax.set_ylabel(f"{node} ({unit.rpartition(', ')[2]})")
    ax.set_title(f"{name} attention ({n} x {n}, rows sum to 1)", fontsize="medium")
    fig.colorbar(im, ax=ax, fraction=0.046)


def explain_file(
    model: nn.Module,
    audio_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    threshold: float = 0.0,
) -> Path:
    """Load ``audio_path`` (any format / rate), explain its head crop (official length rule) and save the
    PNG."""
    if not isinstance(model, AASIST):
        raise TypeError(f"attention maps need an AASIST module, got {type(model).__name__}")
    x = pad_or_crop(load_audio(Path(audio_path), SAMPLE_RATE), model.nb_samp)
    maps = explain(model, x)
    return plot_attention(maps, x, png_path, title=Path(audio_path).name, threshold=threshold)


__all__ = [
    "AttentionMaps",
    "PoolStep",
    "explain",
    "explain_file",
    "plot_attention",
    "sinc_band_edges",
    "temporal_node_edges",
]
