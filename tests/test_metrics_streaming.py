"""EERMetric (torchmetrics) equals the plain official EER, alone and gathered across 2 DDP processes."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from aasist_lightning.metrics import EERMetric, compute_eer


def _trials(shared_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Golden case with tied scores, shuffled so each batch mixes classes."""
    with np.load(shared_dir / "goldens" / "metrics" / "metrics_03.npz") as d:
        scores = np.concatenate((d["bonafide"], d["spoof"]))
        labels = np.r_[np.ones(d["bonafide"].size), np.zeros(d["spoof"].size)].astype(np.int64)
    order = np.random.default_rng(0).permutation(scores.size)
    return scores[order], labels[order]


def _expected(scores: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * compute_eer(scores[labels == 1], scores[labels == 0])[0]


def test_single_process_equals_plain_function(shared_dir):
    scores, labels = _trials(shared_dir)
    metric = EERMetric()
    for chunk in np.array_split(np.arange(scores.size), 7):
        metric.update(torch.tensor(scores[chunk], dtype=torch.float64), torch.tensor(labels[chunk]))
    assert metric.compute().item() == _expected(scores, labels)
    metric.reset()
    metric.update(torch.tensor(scores, dtype=torch.float32), torch.tensor(labels))
    as_float32 = scores.astype(np.float32).astype(np.float64)
    assert metric.compute().item() == _expected(as_float32, labels)


def test_one_class_gives_nan_with_warning():
    metric = EERMetric()
    metric.update(torch.tensor([0.1, 0.2]), torch.tensor([1, 1]))
    with pytest.warns(UserWarning, match="2 bona fide and 0 spoof"):
        assert math.isnan(metric.compute().item())


def test_bad_input_messages():
    metric = EERMetric()
    with pytest.raises(ValueError, match="3 scores but 2 labels"):
        metric.update(torch.zeros(3), torch.zeros(2))
    metric.update(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([1, 0, 5]))
    with pytest.raises(ValueError, match=r"got \[5\]"):
        metric.compute()


def _ddp_worker(rank: int, world_size: int, init_file: str, out_dir: str, scores, labels) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        # Uneven shards (rank 0 gets one more trial), fed in several batches.
        shard = np.array_split(np.arange(len(scores)), world_size)[rank]
        metric = EERMetric()
        for batch in np.array_split(shard, 5):
            metric.update(torch.tensor(scores[batch]), torch.tensor(labels[batch]))
        value = metric.compute().item()
        Path(out_dir, f"rank{rank}.txt").write_text(repr(value))
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_equal_plain_function(shared_dir, tmp_path):
    scores, labels = _trials(shared_dir)
    scores, labels = scores[:-1], labels[:-1]  # odd count: uneven shards
    # forkserver: torch and torchmetrics are imported once, in the server, instead of once per process (the
    # imports are most of this test's time); unlike plain fork it is safe after the parent ran OpenMP code.
    mp.get_context("forkserver").set_forkserver_preload(
        ["torch", "torchmetrics", "aasist_lightning.metrics.streaming"]
    )
    mp.start_processes(
        _ddp_worker,
        args=(2, str(tmp_path / "rendezvous"), str(tmp_path), scores, labels),
        nprocs=2,
        join=True,
        start_method="forkserver",
    )
    expected = _expected(scores, labels)
    assert [float((tmp_path / f"rank{r}.txt").read_text()) for r in range(2)] == [expected, expected]
