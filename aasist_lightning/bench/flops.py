"""Arithmetic work per utterance, the divisor of the GFLOP/s column."""

from __future__ import annotations

import copy

import torch
from torch import nn

from aasist_lightning.bench.training import train_step, training_copy
from aasist_lightning.runtime.exported import example_waves
from aasist_lightning.runtime.hardware import device_of


def work_per_utt(model: nn.Module, length: int) -> dict[str, float]:
    """GFLOP per utterance of an inference forward pass and of a training step (forward + backward), as
    torch's ``FlopCounterMode`` counts them (convolutions and matrix products; the element-wise passes and
    the optimizer add memory traffic, not many FLOPs). Dividing them into a path's utt/s shows how far the
    hardware is from its arithmetic peak."""
    from torch.utils.flop_counter import FlopCounterMode

    m = copy.deepcopy(model).eval()  # the caller's model keeps its mode and batch-norm statistics
    x = example_waves(length, 2).to(device_of(m))  # training batch norms need two utterances
    with torch.no_grad(), FlopCounterMode(display=False) as forward:
        m(x)
    step = training_copy(m, "eager")
    with FlopCounterMode(display=False) as training:
        train_step(*step, x, torch.tensor([0, 1], device=x.device))
    return {"inference": forward.get_total_flops() / 2e9, "training": training.get_total_flops() / 2e9}
