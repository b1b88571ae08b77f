"""The benchmark's own helpers (bench.measure, bench.training): memory readings and training preparation."""

import numpy as np
import pytest
import torch

from aasist_lightning.bench.measure import memory_mib, reset_peak_memory
from aasist_lightning.bench.training import prepare_training
from aasist_lightning.bench.workload import TINY as TINY_ARCH
from aasist_lightning.models import AASIST
from aasist_lightning.runtime.exported import example_waves

TINY = {**TINY_ARCH, "nb_samp": 4000}


def waves(batch: int) -> torch.Tensor:
    return example_waves(4000, batch)


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
