"""Training speed of each training path, and the process's memory across epochs of the real training loop."""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aasist_lightning.bench.measure import DEFAULT_MIB_PER_UTT, interleaved, median, memory_mib, too_big
from aasist_lightning.bench.workload import TRAINING_PATHS, eager_first, split_path
from aasist_lightning.runtime.allocator import allocator
from aasist_lightning.runtime.exported import example_waves


def prepare_training(model: nn.Module, channels_last: bool = False, compile: bool = False) -> nn.Module:
    """Convert ``model`` for training in place (parameter names, state_dict and optimizer state unchanged).

    ``channels_last``: NHWC convolution weights (the activations follow). ``compile``: ``torch.compile``
    (inductor) of its forward and backward; the frequency-mask band is drawn outside the compiled graph, so
    new bands do not recompile it. Both off by default: on a 2-core AVX2 CPU both made a training step slower
    (``python -m aasist_lightning.bench`` measures them on the machine at hand).
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile:
        model.compile()
    return model


def training_copy(model: nn.Module, name: str) -> tuple[nn.Module, torch.optim.Optimizer, bool]:
    """(trainable copy of ``model`` prepared for training path ``name``, its Adam, whether bf16 autocast)."""
    channels_last, compiled, bf16 = TRAINING_PATHS[split_path(name, "training")[0]]
    m = prepare_training(copy.deepcopy(model).train(), channels_last=channels_last, compile=compiled)
    for p in m.parameters():
        p.requires_grad_(True)
    return m, torch.optim.Adam(m.parameters(), lr=1e-4, weight_decay=1e-4), bf16


def train_step(
    model: nn.Module, opt: torch.optim.Optimizer, bf16: bool, x: torch.Tensor, y: torch.Tensor
) -> float:
    """One forward + backward + optimizer step; returns the loss."""
    opt.zero_grad(set_to_none=True)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16)
    with autocast:
        logits = model(x)
    loss = F.cross_entropy(logits.float(), y)
    loss.backward()
    opt.step()
    return float(loss.detach())


def bench_training(
    model: nn.Module,
    arch: str,
    batch: int,
    length: int,
    paths: Sequence[str],
    repeats: int,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Training utt/s (forward + backward + Adam, frequency masking on) per path, interleaved, median."""
    device = next(model.parameters()).device
    x = example_waves(length, batch, seed=1).to(device)
    y = (torch.arange(batch, device=device) % 2).long()
    runs: dict[str, tuple[nn.Module, torch.optim.Optimizer, bool]] = {}
    setup: dict[str, float] = {}
    skipped: list[dict[str, Any]] = []
    for name in eager_first(paths):
        why = too_big(DEFAULT_MIB_PER_UTT * batch, device)
        if why:
            log(f"  {arch} training batch {batch}: skipping {name} ({why})")
            skipped.append({"model": arch, "mode": "training", "batch": batch, "path": name, "skipped": why})
            continue
        log(f"  {arch} training batch {batch}: preparing {name}")
        runs[name] = training_copy(model, name)
        start = time.perf_counter()
        train_step(*runs[name], x, y)  # warm-up (compiles forward and backward)
        setup[name] = time.perf_counter() - start
    if not runs:
        return skipped
    times, peaks = interleaved(
        {name: lambda name=name: train_step(*runs[name], x, y) for name in runs},
        "training",
        repeats,
        device,
        lambda what: log(f"  {arch} training batch {batch}: {what} done"),
    )
    base = batch / median(times["eager"]) if "eager" in times else math.nan
    rows = []
    for name in runs:
        speed = batch / median(times[name])
        rows.append(
            {
                "model": arch,
                "mode": "training",
                "batch": batch,
                "path": name,
                "utt_per_s": speed,
                "ratio": speed / base,
                "peak_mib": max(peaks[name]),
                "setup_s": setup[name],
                "times_s": times[name],
            }
        )
    return rows + skipped


def memory_across_epochs(
    epochs: int = 3,
    steps: int = 6,
    batch: int = 8,
    length: int = 16000,
    arch_kwargs: dict[str, Any] | None = None,
    allocator_mode: str = "pool",
) -> dict[str, Any]:
    """RSS (MiB) after each of ``epochs`` epochs of the real training loop (``AASISTLitModule`` in a Lightning
    ``Trainer``, training then validation every epoch) on in-memory batches, with train.py's default
    allocator mode; ``growth_mib``: last - first."""
    import lightning as L
    from torch.utils.data import DataLoader, Dataset

    from aasist_lightning.lit.module import AASISTLitModule

    class Waves(Dataset):
        def __init__(self, n: int, eval_batches: bool) -> None:
            self.x = example_waves(length, n, seed=n)
            self.eval_batches = eval_batches

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> tuple[Any, ...]:
            label = i % 2
            if self.eval_batches:
                return self.x[i], label, f"utt_{i:05d}", "-" if label else "A01"
            return self.x[i], label

    rss: list[float] = []

    class Recorder(L.Callback):
        def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            if not trainer.sanity_checking:
                rss.append(memory_mib()["rss"])

    module = AASISTLitModule(pretrained=None, nb_samp=length, **(arch_kwargs or {}))
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[Recorder()],
    )
    with warnings.catch_warnings(), allocator(allocator_mode):
        warnings.simplefilter("ignore")  # Lightning's advice about worker counts and small data sets
        trainer.fit(
            module,
            DataLoader(Waves(steps * batch, False), batch_size=batch, shuffle=True),
            DataLoader(Waves(2 * batch, True), batch_size=batch),
        )
    return {
        "epochs": epochs,
        "steps_per_epoch": steps,
        "batch": batch,
        "allocator": allocator_mode,
        "rss_mib": rss,
        "growth_mib": rss[-1] - rss[0],
    }
