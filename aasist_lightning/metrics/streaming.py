"""EER as a torchmetrics Metric: scores accumulate over the epoch and the official EER is computed once.

Not built on ``torchmetrics.classification.BinaryEER``: that works on an ROC curve whose points are the
*distinct* scores (tied scores collapse into one point, where the official DET curve steps through them one
trial at a time), computes in float32, and squashes scores outside [0, 1] with a sigmoid (which saturates,
tying large logits). On the goldens in shared/goldens/metrics it is off by ~1e-8 on untied data and by about
1 percentage point on the case with ties (44.43 % official vs 43.46 %).
"""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric
from torchmetrics.utilities import rank_zero_warn
from torchmetrics.utilities.data import dim_zero_cat

from aasist_lightning.metrics.eer import compute_eer


class EERMetric(Metric):
    """Equal error rate in percent of scores (higher = more bona fide) against labels (1 bona fide, 0 spoof).

    Under DDP every rank's scores are gathered once at ``compute()`` (``dist_reduce_fx="cat"``), so all ranks
    return the EER of the whole set. Trials that a DistributedSampler duplicates to even out the ranks are
    counted twice; evaluate without padding for exact numbers. With one class missing the EER is NaN (with a
    warning) rather than an error, so a sanity-check pass cannot crash a run.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, scores: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch: ``scores`` (B,), e.g. ``logits[:, 1]``; ``labels`` (B,): 1 bona fide, 0 spoof."""
        if scores.numel() != labels.numel():
            raise ValueError(f"EERMetric.update: {scores.numel()} scores but {labels.numel()} labels")
        scores = scores.detach().reshape(-1)
        if scores.dtype in (torch.float16, torch.bfloat16):
            scores = scores.float()  # numpy has no bfloat16; float32 holds both exactly
        self.scores.append(scores)
        self.labels.append(labels.detach().reshape(-1))

    def compute(self) -> torch.Tensor:
        """The official ASVspoof 2019 EER of all accumulated trials, in percent (a scalar tensor)."""
        # float64 keeps the value identical to compute_eer; MPS has no float64.
        dtype = torch.float32 if self.device.type == "mps" else torch.float64
        # After a DDP sync the list states are already concatenated tensors.
        if isinstance(self.scores, list) and not self.scores:
            return torch.tensor(math.nan, dtype=dtype, device=self.device)
        scores = dim_zero_cat(self.scores).cpu().double().numpy()
        labels = dim_zero_cat(self.labels).cpu().numpy()
        bad = set(labels.tolist()) - {0, 1}
        if bad:
            raise ValueError(f"EERMetric: labels must be 1 (bona fide) or 0 (spoof), got {sorted(bad)}")
        bona, spoof = scores[labels == 1], scores[labels == 0]
        if not bona.size or not spoof.size:
            rank_zero_warn(f"EERMetric: {bona.size} bona fide and {spoof.size} spoof trials; the EER is NaN")
            return torch.tensor(math.nan, dtype=dtype, device=self.device)
        return torch.tensor(100.0 * compute_eer(bona, spoof)[0], dtype=dtype, device=self.device)
