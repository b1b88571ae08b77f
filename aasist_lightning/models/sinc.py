"""The fixed mel-spaced sinc band-pass filterbank that is AASIST's first layer (official ``CONV``).

The official code rebuilds the filters in NumPy when the model is built, keeps them as a plain attribute and
copies them to the input's device on every forward. Here they are computed once and stored as a
*non-persistent* buffer: they follow ``model.to(device)`` and never appear in the state_dict (the official
checkpoints have no such key).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray | float:
    """HTK mel scale, as the official code."""
    return 2595 * np.log10(1 + hz / 700)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray | float:
    return 700 * (10 ** (mel / 2595) - 1)


def odd_kernel_size(first_conv: int) -> int:
    """The filter length the official SincConv really uses: an even ``first_conv`` becomes odd (+1) so that
    the filters are symmetric around their centre tap."""
    return first_conv + 1 if first_conv % 2 == 0 else first_conv


def sinc_filterbank(out_channels: int, kernel_size: int, sample_rate: int = 16000) -> torch.Tensor:
    """Hamming-windowed ideal band-pass filters, (out_channels, kernel_size) float32.

    Band edges are ``out_channels + 1`` points equally spaced on the mel scale from 0 Hz to the Nyquist
    frequency (the official code reaches the same edges through an FFT-bin grid whose only role is its min
    and max). Official quirk, kept: the sinc arguments are computed in float32 (the official filter taps are a
    float32 torch tensor), the band-edge gains in float64. Computing everything in float64 would move the
    filters by ~1e-7 and the official goldens' outputs by ~2e-5 instead of ~2e-6.
    """
    kernel_size = odd_kernel_size(kernel_size)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(float(sample_rate // 2)), out_channels + 1))
    half = (kernel_size - 1) // 2
    taps = np.arange(-half, half + 1, dtype=np.float32)

    def lowpass(cutoff: np.ndarray) -> np.ndarray:
        arg = (2 * cutoff[:, None]).astype(np.float32) * taps / np.float32(sample_rate)
        return (2 * cutoff[:, None] / sample_rate) * np.sinc(arg).astype(np.float64)

    edges = np.asarray(edges)
    ideal = (lowpass(edges[1:]) - lowpass(edges[:-1])).astype(np.float32)
    return torch.from_numpy(np.hamming(kernel_size).astype(np.float32) * ideal)


# Outside torch.compile's graph: traced, the band's values would be baked into the graph, recompiling it for
# every new band.
@torch.compiler.disable
def _zero_band(filters: torch.Tensor, band: tuple[int, int]) -> torch.Tensor:
    start, width = band
    filters = filters.clone()
    filters[start : start + width] = 0
    return filters


class SincConv(nn.Module):
    """Fixed (not trained) sinc filterbank convolution: (B, 1, T) -> (B, out_channels, T - kernel_size + 1).

    No padding, stride 1, no bias, as the official model uses it. ``band=(start, width)`` zeroes the filters
    ``start .. start + width - 1`` for this call, so those output channels are exactly 0 (frequency masking).
    """

    filters: torch.Tensor

    def __init__(self, out_channels: int, kernel_size: int, sample_rate: int = 16000) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = odd_kernel_size(kernel_size)
        self.sample_rate = sample_rate
        filters = sinc_filterbank(out_channels, self.kernel_size, sample_rate).unsqueeze(1)
        self.register_buffer("filters", filters, persistent=False)

    def forward(self, x: torch.Tensor, band: tuple[int, int] | None = None) -> torch.Tensor:
        return F.conv1d(x, self.filters if band is None else _zero_band(self.filters, band))

    def extra_repr(self) -> str:
        return f"{self.out_channels}, kernel_size={self.kernel_size}, sample_rate={self.sample_rate}"
