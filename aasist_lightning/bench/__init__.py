"""``python -m aasist_lightning.bench`` (``make bench``): speed, memory and accuracy of every fast path.

For each model (AASIST-L, AASIST) it measures, in one run and on the same inputs:

- inference utterances / s at each batch size for every inference path (``eager`` = plain fp32 eager, the
  reference; ``channels_last``; ``compile``; ``onnx``; ``bf16`` / ``compile+bf16`` where asked or where the
  hardware makes bf16 fast), the max abs logit error of each against ``eager``, the process's peak RSS
  during the call, and the one-off setup time (export / compile);
- training utterances / s at the training batch size (forward + backward + Adam step, frequency masking on)
  for ``eager`` fp32, ``channels_last``, ``compile`` and ``bf16`` (autocast, as Lightning's ``bf16-mixed``);
- optionally (``--loss-curve N``) the losses of a seeded N-step run of each training path next to fp32's,
  and (``--memory-epochs N``) the RSS after each of N epochs of the real Lightning training loop
  (``AASISTLitModule`` + ``Trainer``, validation included) on an in-memory batch set: flat means no leak.

Every figure is a median over ``--repeats`` timed calls after a warm-up; the paths are interleaved (the order
rotates every repeat), so load from other processes hits them alike, and each is reported as a ratio to
``eager`` measured in the same run. The machine's load average before and after is recorded: on a shared
machine the absolute numbers move, the ratios much less.

    python -m aasist_lightning.bench --quick                  # AASIST-L, batch 1 and 16, a few repeats
    python -m aasist_lightning.bench --json bench.json        # the full table
    python -m aasist_lightning.bench --archs AASIST-L --batch-sizes 16 --paths eager onnx --no-train
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from aasist_lightning.runtime.allocator import allocator
from aasist_lightning.runtime.fast import (
    FastInference,
    Fp32Head,
    detect_hardware,
    device_of,
    emulated_bf16,
    max_abs_error,
    memory_mib,
    prepare_inference,
    prepare_training,
    reset_peak_memory,
    resolve,
)

#: A narrow encoder with the full graph: for smoke tests (``--archs tiny --length 4000``).
TINY = {"filts": [70, [1, 8], [8, 8], [8, 8], [8, 8]], "gat_dims": [8, 8]}
#: Inference paths: name -> (backend, precision).
INFERENCE_PATHS: dict[str, tuple[str, str]] = {
    "eager": ("eager", "fp32"),
    "channels_last": ("channels_last", "fp32"),
    "compile": ("compile", "fp32"),
    "onnx": ("onnx", "fp32"),
    "bf16": ("eager", "bf16"),
    "compile+bf16": ("compile", "bf16"),
}
#: Training paths: name -> (channels_last, compile, bf16 autocast).
TRAINING_PATHS: dict[str, tuple[bool, bool, bool]] = {
    "eager": (False, False, False),
    "channels_last": (True, False, False),
    "compile": (False, True, False),
    "bf16": (False, False, True),
    "compile+bf16": (False, True, True),
}
#: A path name ending in this runs with the retained-heap allocator (``runtime.allocator``), the
#: setting of train.py / eval.py / aasist-predict; every other path runs with glibc's default, like plain
#: PyTorch (and the official code).
RETAIN = "+retain"
#: Batches of this size or more get half the repeats (a call takes a minute on a small CPU).
BIG_BATCH = 64
#: Activation memory per utterance assumed before a path has been measured (AASIST-L, 64600 samples:
#: ~540 MiB in fp32 eager inference, ~530 MiB in training).
DEFAULT_MIB_PER_UTT = 700.0
#: A run is skipped when its estimated memory exceeds this share of the available memory (a shared machine
#: must not be pushed into the OOM killer).
MEMORY_HEADROOM = 0.7


# ---------------------------------------------------------------------------------------------- helpers
def build_model(arch: str, seed: int = 0) -> tuple[nn.Module, str]:
    """(model in eval mode, where its weights came from): official weights when they can be found, else a
    seeded random initialisation (speed does not depend on the weights)."""
    from aasist_lightning.models import AASIST, OFFICIAL_ARCHS

    if arch == "tiny":
        torch.manual_seed(seed)
        return AASIST(**TINY).eval(), "random (tiny)"
    if arch not in OFFICIAL_ARCHS:
        raise ValueError(f"unknown model {arch!r} for the benchmark: use one of {[*OFFICIAL_ARCHS, 'tiny']}")
    try:
        return AASIST.from_pretrained(arch).eval(), f"official {arch} weights"
    except FileNotFoundError:
        torch.manual_seed(seed)
        return AASIST(**OFFICIAL_ARCHS[arch]).eval(), "random (official weights not found)"


def example(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    """Speech-level random waveforms (uniform in ±0.1)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, length, generator=g) - 0.5) * 0.2


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return memory_mib()["peak"]


def _held_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return memory_mib()["rss"]


class Timed(NamedTuple):
    seconds: float
    peak_mib: float  # peak memory during the call: RSS on CPU, allocated memory on CUDA
    growth_mib: float  # how far that peak rose above the memory held before the call
    value: Any  # what the call returned


def _timed(fn: Callable[[], Any], device: torch.device) -> Timed:
    gc.collect()
    reset_peak_memory()
    _sync(device)
    held = _held_mib(device)
    start = time.perf_counter()
    value = fn()
    _sync(device)
    seconds = time.perf_counter() - start
    peak = _peak_mib(device)
    return Timed(seconds, peak, max(peak - held, 0.0), value)


def available_mib(device: torch.device) -> float:
    """Memory a new allocation can still get: CUDA free memory, or Linux MemAvailable (inf when unknown)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] / 2**20
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.inf


def _too_big(need_mib: float, device: torch.device) -> str | None:
    """Why a run needing ``need_mib`` more MiB must be skipped (it would exhaust the machine), or None."""
    free = available_mib(device)
    if need_mib > MEMORY_HEADROOM * free:
        return f"needs ~{need_mib / 1024:.1f} GiB, {free / 1024:.1f} GiB available"
    return None


def _extrapolate(points: Sequence[tuple[int, float]], batch: int) -> float:
    """Memory (MiB) at ``batch`` on the line through the last two (batch, MiB) points; NaN with fewer than
    two (activation memory grows linearly with the batch; one point holds one-off setup costs too)."""
    if len(points) < 2 or points[-1][0] == points[-2][0]:
        return math.nan
    (b0, m0), (b1, m1) = points[-2], points[-1]
    slope = max((m1 - m0) / (b1 - b0), 0.0)
    return m1 + slope * (batch - b1)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def split_path(name: str, kind: str) -> tuple[str, str]:
    """``(base path, allocator mode)`` of a path name such as ``onnx+retain``; ValueError if unknown."""
    base, mode = (name[: -len(RETAIN)], "retain") if name.endswith(RETAIN) else (name, "system")
    known = INFERENCE_PATHS if kind == "inference" else TRAINING_PATHS
    if base not in known:
        raise ValueError(
            f"unknown {kind} path {name!r}: use some of {', '.join(known)}, each optionally with {RETAIN}"
        )
    return base, mode


def _grouped_by_allocator(names: Sequence[str], kind: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(split_path(name, kind)[1], []).append(name)
    return groups


def default_paths(device: str, kind: str) -> list[str]:
    """Every exact path the machine can run, plus the bf16 ones where bf16 is fast, plus the retained-heap
    variants of the paths train.py and eval.py run by default (eager; ONNX for inference)."""
    hw = detect_hardware(device)
    is_cuda = device.startswith("cuda")
    can_compile = hw.triton if is_cuda else hw.cxx_compiler
    paths = ["eager", "channels_last"]
    if can_compile:
        paths.append("compile")
    if kind == "inference" and hw.onnxruntime and not is_cuda:
        paths.append("onnx")
    if hw.bf16_fast:
        paths += ["bf16", "compile+bf16"] if can_compile else ["bf16"]
    if not is_cuda and platform.libc_ver()[0] == "glibc":
        paths += [p + RETAIN for p in ("eager", "onnx") if p in paths]
    return paths


def _interleaved(
    calls: dict[str, Callable[[], Any]],
    kind: str,
    repeats: int,
    device: torch.device,
    done: Callable[[str], None],
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(seconds, peak MiB) of ``repeats`` calls of each path. The paths of one allocator mode are timed
    together (the mode is process-wide), interleaved with the order rotating every repeat; a retained-heap
    group first makes one untimed call per path, so its timed calls reuse memory as a running job's do."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    peaks: dict[str, list[float]] = {name: [] for name in calls}
    for mode, names in _grouped_by_allocator(list(calls), kind).items():
        with allocator(mode):
            if mode == "retain":
                for name in names:
                    calls[name]()
            for r in range(repeats):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    timed = _timed(calls[name], device)
                    times[name].append(timed.seconds)
                    peaks[name].append(timed.peak_mib)
                done(f"{mode} allocator, repeat {r + 1}/{repeats}")
    return times, peaks


def work_per_utt(model: nn.Module, length: int) -> dict[str, float]:
    """GFLOP per utterance of an inference forward pass and of a training step (forward + backward), as
    torch's ``FlopCounterMode`` counts them (convolutions and matrix products; the element-wise passes and
    the optimizer add memory traffic, not many FLOPs). Dividing them into a path's utt/s shows how far the
    hardware is from its arithmetic peak."""
    from torch.utils.flop_counter import FlopCounterMode

    m = copy.deepcopy(model).eval()  # the caller's model keeps its mode and batch-norm statistics
    x = example(2, length).to(device_of(m))  # training batch norms need two utterances
    with torch.no_grad(), FlopCounterMode(display=False) as forward:
        m(x)
    step = _training_copy(m, "eager")
    with FlopCounterMode(display=False) as training:
        _train_step(*step, x, torch.tensor([0, 1], device=x.device))
    return {"inference": forward.get_total_flops() / 2e9, "training": training.get_total_flops() / 2e9}


# ---------------------------------------------------------------------------------------------- inference
def bench_inference(
    model: nn.Module,
    arch: str,
    batch: int,
    length: int,
    paths: Sequence[str],
    repeats: int,
    log: Callable[[str], None] = print,
    growth_seen: dict[str, list[tuple[int, float]]] | None = None,
    eager_seen: dict[int, float] | None = None,
) -> list[dict[str, Any]]:
    """One row per path: utt/s (median), ratio to eager, max abs logit error vs eager, peak memory.

    ``growth_seen``: (batch, MiB the memory rose in the warm-up call above what the process held) of each
    path at the batch sizes measured so far (appended to here; warm-ups run with glibc's default allocator,
    so a ``+retain`` path counts as its plain path); a path whose need, extrapolated from them, would not fit
    in the available memory is skipped (a row with ``skipped`` and the extrapolated ``peak_mib_estimate``).
    ``eager_seen``: eager utt/s by batch size so far (appended to here). Where eager itself does not fit, the
    other paths are compared with eager at the largest batch it ran at (``eager_batch`` of the row), and their
    logits with eager's computed in chunks of that size. Paths are timed together (interleaved) when they
    fit in memory together, else one at a time (rows with ``together`` False)."""
    device = next(model.parameters()).device
    x = example(batch, length).to(device)
    growth_seen = {} if growth_seen is None else growth_seen
    eager_seen = {} if eager_seen is None else eager_seen
    names = ["eager", *[p for p in paths if p != "eager"]]
    needs = {n: _extrapolate(growth_seen.get(split_path(n, "inference")[0], []), batch) for n in names}
    keepers = {n for n in names if _keeps_memory(n)}
    free, unknown = available_mib(device), DEFAULT_MIB_PER_UTT * batch
    verdicts = _admit(needs, keepers, free, unknown)
    alone = {n: _admit({n: needs[n]}, keepers & {n}, free, unknown)[n] for n in names}
    if any(verdicts[n] and not alone[n] for n in names):
        # Not all fit together, but some that were left out fit alone: time each path on its own, releasing
        # it (ONNX Runtime's arena with it) before the next, rather than drop them.
        groups, verdicts = [[n] for n in names if not alone[n]], alone
        log(f"  {arch} batch {batch}: the paths do not fit in memory together: timing them one at a time")
    else:
        groups = [[n for n in names if not verdicts[n]]]
    skipped = []
    for name in names:
        if verdicts[name]:
            log(f"  {arch} batch {batch}: skipping {name} ({verdicts[name]})")
            estimate = _held_mib(device) + needs[name]  # NaN: not measured
            skipped.append(
                {"model": arch, "mode": "inference", "batch": batch, "path": name}
                | {"skipped": verdicts[name], "peak_mib_estimate": estimate}
            )
    measured: dict[str, dict[str, Any]] = {}
    reference: torch.Tensor | None = None
    for group in groups:
        if reference is None and eager_seen and "eager" not in group:
            reference = _chunked_eager(model, x, max(eager_seen))
        reference = _measure_group(
            model, x, group, repeats, device, growth_seen, reference, measured, log, f"{arch} batch {batch}"
        )
    if "eager" in measured:
        eager_seen[batch] = batch / _median(measured["eager"]["times_s"])
    eager_batch = batch if batch in eager_seen else max(eager_seen, default=0)
    base = eager_seen.get(eager_batch, math.nan)
    rows = []
    for name, m in measured.items():
        speed = batch / _median(m["times_s"])
        rows.append(
            {"model": arch, "mode": "inference", "batch": batch, "path": name}
            | {"backend": m["backend"], "precision": m["precision"], "utt_per_s": speed}
            | {"ratio": speed / base, "eager_batch": eager_batch, "together": len(groups) == 1}
            | {k: m[k] for k in ("max_abs_err", "peak_mib", "setup_s", "times_s")}
        )
    return rows + skipped


def _measure_group(
    model: nn.Module,
    x: torch.Tensor,
    group: Sequence[str],
    repeats: int,
    device: torch.device,
    growth_seen: dict[str, list[tuple[int, float]]],
    reference: torch.Tensor | None,
    measured: dict[str, dict[str, Any]],
    log: Callable[[str], None],
    what: str,
) -> torch.Tensor | None:
    """Prepare, warm up and time the inference paths of ``group`` together (into ``measured``); returns the
    reference logits (eager's, when it is in the group). Its runners die on return, ONNX Runtime's arenas with
    them, so the next group has the memory."""
    batch = x.size(0)
    runners: dict[str, FastInference] = {}
    for name in group:
        base_path, _ = split_path(name, "inference")
        log(f"  {what}: preparing {name}")
        runners[name] = prepare_inference(model, *INFERENCE_PATHS[base_path])
        warm = _timed(partial(runners[name], x), device)  # warm-up: exports / compiles here
        seen = growth_seen.setdefault(base_path, [])
        if seen and seen[-1][0] == batch:
            seen[-1] = (batch, max(seen[-1][1], warm.growth_mib))
        else:
            seen.append((batch, warm.growth_mib))
        if name == "eager":
            reference = warm.value
        error = math.nan if reference is None else max_abs_error(warm.value, reference)
        measured[name] = {"max_abs_err": error}
    times, peaks = _interleaved(
        {name: partial(runner, x) for name, runner in runners.items()},
        "inference",
        repeats,
        device,
        lambda done: log(f"  {what}: {'+'.join(group)}: {done} done"),
    )
    for name, runner in runners.items():
        measured[name] |= {
            "backend": runner.backend,
            "precision": runner.precision,
            "peak_mib": max(peaks[name]),
            "setup_s": runner.setup_seconds,
            "times_s": times[name],
        }
    return reference


def _keeps_memory(name: str) -> bool:
    """Whether a path holds its working memory between calls: ONNX Runtime's arena, a retained heap."""
    base, mode = split_path(name, "inference")
    return INFERENCE_PATHS[base][0] == "onnx" or mode == "retain"


def _admit(
    needs: dict[str, float], keepers: set[str], free_mib: float, unknown_need: float
) -> dict[str, str | None]:
    """Which paths fit at one batch size: name -> None (run it) or why not. Smallest need first, a path is
    admitted while the memory the admitted paths keep between calls (``keepers``) plus the largest need of
    the others stays within ``MEMORY_HEADROOM`` of the free memory, since all of them are alive while each
    is timed. The eager reference competes like the others: without it, results fall back to eager at a
    smaller batch. A path not yet measured at two batch sizes (need NaN) is checked alone, against
    ``unknown_need``."""
    budget = MEMORY_HEADROOM * free_mib
    kept = transient = 0.0
    verdicts: dict[str, str | None] = {}
    for name in [n for n in needs if math.isnan(needs[n])]:
        fits = unknown_need <= budget
        verdicts[name] = (
            None if fits else f"needs ~{unknown_need / 1024:.1f} GiB, {free_mib / 1024:.1f} GiB available"
        )
    for name in sorted([n for n in needs if not math.isnan(needs[n])], key=lambda n: needs[n]):
        now_kept = kept + needs[name] if name in keepers else kept
        now_transient = transient if name in keepers else max(transient, needs[name])
        if now_kept + now_transient > budget:
            verdicts[name] = (
                f"needs ~{needs[name] / 1024:.1f} GiB beside the ~{(kept + transient) / 1024:.1f} GiB of the "
                f"paths that fit, {free_mib / 1024:.1f} GiB available"
            )
        else:
            kept, transient, verdicts[name] = now_kept, now_transient, None
    return verdicts


def _chunked_eager(model: nn.Module, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """Plain fp32 eager logits of ``x`` computed ``chunk`` rows at a time (eval-mode rows are independent)."""
    eager = prepare_inference(model, "eager", "fp32")
    return torch.cat([eager(part) for part in x.split(chunk)])


# ---------------------------------------------------------------------------------------------- training
def _training_copy(model: nn.Module, name: str) -> tuple[nn.Module, torch.optim.Optimizer, bool]:
    channels_last, compiled, bf16 = TRAINING_PATHS[split_path(name, "training")[0]]
    m = prepare_training(copy.deepcopy(model).train(), channels_last=channels_last, compile=compiled)
    for p in m.parameters():
        p.requires_grad_(True)
    return m, torch.optim.Adam(m.parameters(), lr=1e-4, weight_decay=1e-4), bf16


def _train_step(
    model: nn.Module, opt: torch.optim.Optimizer, bf16: bool, x: torch.Tensor, y: torch.Tensor
) -> float:
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
    x = example(batch, length, seed=1).to(device)
    y = (torch.arange(batch, device=device) % 2).long()
    runs: dict[str, tuple[nn.Module, torch.optim.Optimizer, bool]] = {}
    setup: dict[str, float] = {}
    skipped: list[dict[str, Any]] = []
    for name in ["eager", *[p for p in paths if p != "eager"]]:
        why = _too_big(DEFAULT_MIB_PER_UTT * batch, device)
        if why:
            log(f"  {arch} training batch {batch}: skipping {name} ({why})")
            skipped.append({"model": arch, "mode": "training", "batch": batch, "path": name, "skipped": why})
            continue
        log(f"  {arch} training batch {batch}: preparing {name}")
        runs[name] = _training_copy(model, name)
        start = time.perf_counter()
        _train_step(*runs[name], x, y)  # warm-up (compiles forward and backward)
        setup[name] = time.perf_counter() - start
    if not runs:
        return skipped
    times, peaks = _interleaved(
        {name: lambda name=name: _train_step(*runs[name], x, y) for name in runs},
        "training",
        repeats,
        device,
        lambda what: log(f"  {arch} training batch {batch}: {what} done"),
    )
    base = batch / _median(times["eager"]) if "eager" in times else math.nan
    rows = []
    for name in runs:
        speed = batch / _median(times[name])
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


def loss_curves(
    model: nn.Module, paths: Sequence[str], steps: int, batch: int, length: int, seed: int = 0
) -> dict[str, Any]:
    """Losses of a seeded ``steps``-step run of each training path from the same initial weights on the same
    batches (a learnable task: bona fide = noise with a 1 kHz tone, spoof = plain noise), and each path's max
    abs difference to fp32 eager's curve. Frequency masks follow the global seed, so exact paths draw the same
    bands as eager; dropout inside a compiled graph uses inductor's own generator."""
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    t = torch.arange(length) / 16000
    batches = []
    for _ in range(steps):
        y = torch.randint(0, 2, (batch,), generator=g)
        x = 0.05 * torch.randn(batch, length, generator=g) + 0.05 * y[:, None] * torch.sin(
            2 * math.pi * 1000 * t
        )
        batches.append((x.to(device), y.to(device)))
    curves: dict[str, list[float]] = {}
    for name in ["eager", *[p for p in paths if p != "eager"]]:
        run = _training_copy(model, name)
        torch.manual_seed(seed)
        curves[name] = [_train_step(*run, x, y) for x, y in batches]
    return {
        "steps": steps,
        "batch": batch,
        "curves": curves,
        "max_abs_diff": {
            n: max(abs(a - b) for a, b in zip(c, curves["eager"], strict=True)) for n, c in curves.items()
        },
    }


# ------------------------------------------------------------------------------------ memory across epochs
def memory_across_epochs(
    epochs: int = 3,
    steps: int = 6,
    batch: int = 8,
    length: int = 16000,
    arch_kwargs: dict[str, Any] | None = None,
    allocator_mode: str = "retain",
) -> dict[str, Any]:
    """RSS (MiB) after each of ``epochs`` epochs of the real training loop (``AASISTLitModule`` in a Lightning
    ``Trainer``, training then validation every epoch) on in-memory batches, with train.py's default
    allocator mode; ``growth_mib``: last - first."""
    import lightning as L
    from torch.utils.data import DataLoader, Dataset

    from aasist_lightning.lit.module import AASISTLitModule

    class Waves(Dataset):
        def __init__(self, n: int, eval_batches: bool) -> None:
            g = torch.Generator().manual_seed(n)
            self.x = (torch.rand(n, length, generator=g) - 0.5) * 0.2
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


# ---------------------------------------------------------------------------------------------- bf16 and EER
def eer_check(
    root: str | os.PathLike[str],
    model: str | nn.Module = "AASIST-L",
    paths: Sequence[str] = ("eager", "bf16-emulated"),
    limit: int | None = None,
    batch: int = 16,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """EER (percent) of each inference path on the eval split of the corpus at ``root`` (official layout,
    e.g. the embedded synthetic corpus), head-cropped as the official evaluation. ``model``: an AASIST, or
    what ``aasist_lightning.runtime.scorer.load_detector`` loads (official name, .pth, training .ckpt).
    ``paths``: names of ``INFERENCE_PATHS`` plus ``bf16-emulated`` (``accel.emulated_bf16``). ``limit``: score
    a seeded random subset of that many trials. Reports each path's EER, its difference to the first path's,
    the max abs score difference and how many trials change side of the first path's EER threshold."""
    import numpy as np

    from aasist_lightning.data import load_audio, pad_or_crop, read_protocol
    from aasist_lightning.data.datamodule import audio_dir, protocol_path
    from aasist_lightning.metrics import compute_eer
    from aasist_lightning.runtime.scorer import load_detector

    for name in paths:
        if name not in INFERENCE_PATHS and name != "bf16-emulated":
            raise ValueError(
                f"unknown EER-check path {name!r}: use some of {[*INFERENCE_PATHS, 'bf16-emulated']}"
            )
    if isinstance(model, nn.Module):
        net, nb_samp, origin = model.eval(), int(model.nb_samp), type(model).__name__
    else:
        is_file = Path(model).is_file()
        detector = load_detector(ckpt_path=model) if is_file else load_detector(pretrained=model)
        net, nb_samp, origin = detector.model, detector.nb_samp, detector.source
    trials = read_protocol(protocol_path(root, "eval"), audio_dir(root, "eval"))
    if limit is not None and limit < len(trials):
        pick = np.random.default_rng(0).choice(len(trials), size=limit, replace=False)
        trials = [trials[i] for i in sorted(pick)]
    labels = np.array([t.label for t in trials])
    log(f"  EER check: {len(trials)} trials from {root}")
    waves = torch.from_numpy(np.stack([pad_or_crop(load_audio(t.path), nb_samp) for t in trials]))
    scores: dict[str, np.ndarray] = {}
    for name in paths:
        backend, precision = INFERENCE_PATHS.get(name, ("eager", "fp32"))  # bf16-emulated: rounded fp32 eager
        runner = prepare_inference(net, backend, precision)
        if name == "bf16-emulated":  # the real bf16 path's fp32 output layer
            runner.model.out_layer = Fp32Head(runner.model.out_layer)
        out = []
        for i in range(0, len(trials), batch):
            mode = emulated_bf16() if name == "bf16-emulated" else contextlib.nullcontext()
            with mode:
                out.append(runner(waves[i : i + batch])[:, 1].numpy())
            log(f"  EER check {name}: {min(i + batch, len(trials))}/{len(trials)}")
        scores[name] = np.concatenate(out).astype(np.float64)
    first = paths[0]
    eer0, threshold = compute_eer(scores[first][labels == 1], scores[first][labels == 0])
    rows = {}
    for name, sc in scores.items():
        eer = compute_eer(sc[labels == 1], sc[labels == 0])[0] * 100
        rows[name] = {
            "eer": eer,
            "eer_diff_pp": eer - eer0 * 100,
            "max_abs_score_diff": float(np.abs(sc - scores[first]).max()),
            "decisions_changed": int(((sc >= threshold) != (scores[first] >= threshold)).sum()),
        }
    return {
        "root": str(root),
        "model": origin,
        "trials": len(trials),
        "reference": first,
        "paths": rows,
    }


# ---------------------------------------------------------------------------------------------- report
def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    if args.threads:
        torch.set_num_threads(args.threads)
    inference_paths = args.paths or default_paths(device, "inference")
    training_paths = args.train_paths or default_paths(device, "training")
    for name in inference_paths:
        split_path(name, "inference")
    for name in training_paths:
        split_path(name, "training")
    auto = resolve("auto", "auto", device)
    result: dict[str, Any] = {
        "hardware": detect_hardware(device).as_dict(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "default_inference": {"backend": auto[0], "precision": auto[1]},
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "load_avg_start": _load(),
        "inference": [],
        "training": [],
    }
    started = time.perf_counter()
    if args.eer_root:
        with allocator("retain"):  # speed only: the scores do not depend on it
            result["eer_check"] = eer_check(
                args.eer_root, args.eer_model, args.eer_paths, args.eer_limit, log=log
            )
        result["load_avg_end"] = _load()
        result["wall_s"] = time.perf_counter() - started
        return result
    for arch in args.archs:
        model, weights = build_model(arch)
        model.to(device)
        result.setdefault("weights", {})[arch] = weights
        result.setdefault("gflop_per_utt", {})[arch] = work_per_utt(model, args.length)
        growth_seen: dict[str, list[tuple[int, float]]] = {}
        eager_seen: dict[int, float] = {}
        for batch in sorted(args.batch_sizes):
            repeats = max(1, args.repeats // 2) if batch >= BIG_BATCH else args.repeats
            result["inference"] += bench_inference(
                model, arch, batch, args.length, inference_paths, repeats, log, growth_seen, eager_seen
            )
        if args.train_batch:
            result["training"] += bench_training(
                model, arch, args.train_batch, args.length, training_paths, args.train_repeats, log
            )
        if args.loss_curve and arch == args.archs[0]:
            log(f"  {arch}: loss curves over {args.loss_curve} steps")
            result["loss_curve"] = loss_curves(
                model, training_paths, args.loss_curve, args.loss_curve_batch, args.length
            )
    if args.memory_epochs:
        log(f"  memory across {args.memory_epochs} training epochs")
        tiny = args.archs == ["tiny"]
        result["memory_epochs"] = memory_across_epochs(
            args.memory_epochs,
            steps=2 if tiny else 6,
            batch=4 if tiny else 8,
            length=args.length if tiny else 16000,
            arch_kwargs=TINY if tiny else None,
        )
    for row in result["inference"] + result["training"]:
        if "utt_per_s" in row:
            row["gflop_per_s"] = row["utt_per_s"] * result["gflop_per_utt"][row["model"]][row["mode"]]
    result["load_avg_end"] = _load()
    result["wall_s"] = time.perf_counter() - started
    return result


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    if "eer_check" in result:
        check = result["eer_check"]
        table = Table(title=f"EER on {check['trials']} eval trials of {check['root']} ({check['model']})")
        for col in ("path", "EER %", "Δ pp", "max |Δscore|", "decisions changed"):
            table.add_column(col, justify="left" if col == "path" else "right")
        for name, row in check["paths"].items():
            table.add_row(
                name,
                f"{row['eer']:.3f}",
                f"{row['eer_diff_pp']:+.3f}",
                f"{row['max_abs_score_diff']:.1e}",
                str(row["decisions_changed"]),
            )
        Console().print(table)
        return
    hw = result["hardware"]
    title = (
        f"AASIST speed on {hw['name'] or hw['device']} ({hw['threads']} threads, {hw['cpu_capability']}, "
        f"AMX {'yes' if hw['amx'] else 'no'}); "
        f"load average {result['load_avg_start']} -> {result['load_avg_end']}"
    )
    table = Table(title=title)
    columns = (
        "model",
        "mode",
        "batch",
        "path",
        "utt/s",
        "x eager",
        "GFLOP/s",
        "max |Δlogit|",
        "peak MiB",
        "setup s",
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "mode", "path") else "right")
    for row in result["inference"] + result["training"]:
        if "skipped" in row:
            estimate = row.get("peak_mib_estimate", math.nan)
            shown = "-" if math.isnan(estimate) else f"~{estimate:.0f}"
            table.add_row(
                row["model"],
                row["mode"],
                str(row["batch"]),
                row["path"],
                "skipped",
                "-",
                "-",
                "-",
                shown,
                "-",
            )
            continue
        err = row.get("max_abs_err")
        other_batch = row.get("eager_batch", row["batch"]) != row["batch"]
        table.add_row(
            row["model"],
            row["mode"],
            str(row["batch"]),
            row["path"],
            f"{row['utt_per_s']:.2f}",
            "-" if math.isnan(row["ratio"]) else f"{row['ratio']:.2f}" + ("*" if other_batch else ""),
            f"{row['gflop_per_s']:.0f}",
            "-" if err is None or math.isnan(err) else f"{err:.1e}",
            f"{row['peak_mib']:.0f}",
            f"{row['setup_s']:.1f}",
        )
    console = Console()
    console.print(table)
    for arch, work in result["gflop_per_utt"].items():
        console.print(
            f"{arch}: {work['inference']:.1f} GFLOP per utterance forward, "
            f"{work['training']:.1f} per training step (forward + backward)"
        )
    default = result["default_inference"]
    console.print(
        f"default inference path here: backend={default['backend']} precision={default['precision']}"
    )
    for row in result["inference"] + result["training"]:
        if "skipped" in row:
            console.print(
                f"skipped {row['model']} {row['mode']} batch {row['batch']} {row['path']}: {row['skipped']}"
            )
    elsewhere = sorted(
        {(r["model"], r["batch"], r["eager_batch"]) for r in result["inference"] if "skipped" not in r}
    )
    for arch, batch, eager_batch in elsewhere:
        if eager_batch != batch:
            console.print(
                f"* {arch} batch {batch}: against eager at batch {eager_batch} (eager at {batch} would not "
                f"fit); logit errors against eager run in chunks of {eager_batch}"
            )
    if "loss_curve" in result:
        lc = result["loss_curve"]
        console.print(f"loss curves ({lc['steps']} seeded steps, batch {lc['batch']}):")
        for name, curve in lc["curves"].items():
            shown = " ".join(f"{v:.4f}" for v in curve)
            console.print(f"  {name:>13}: {shown}  (max |Δ| vs eager {lc['max_abs_diff'][name]:.2e})")
    if "memory_epochs" in result:
        me = result["memory_epochs"]
        shown = ", ".join(f"{v:.0f}" for v in me["rss_mib"])
        console.print(
            f"RSS after each of {me['epochs']} training epochs (MiB): {shown}; "
            f"growth {me['growth_mib']:+.1f} MiB"
        )


def _json_safe(value: Any) -> Any:
    """NaN / inf -> None (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(result: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``result`` atomically (a temporary file in the same folder, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_json_safe(result), f, indent=2)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m aasist_lightning.bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    p.add_argument("--archs", nargs="+", default=["AASIST-L", "AASIST"], help="AASIST-L, AASIST and/or tiny")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16, 64], help="inference batch sizes")
    p.add_argument(
        "--paths",
        nargs="+",
        help=f"inference paths (default: all the machine runs): {list(INFERENCE_PATHS)}, each also with "
        f"{RETAIN} (retained-heap allocator)",
    )
    p.add_argument(
        "--train-paths",
        nargs="+",
        help=f"training paths (default: all): {list(TRAINING_PATHS)}, each also with {RETAIN}",
    )
    p.add_argument("--train-batch", type=int, default=16, help="training batch size; 0 skips training")
    p.add_argument("--no-train", dest="train_batch", action="store_const", const=0, help="skip training")
    p.add_argument(
        "--repeats", type=int, default=5, help=f"timed calls per path (half at batch >= {BIG_BATCH})"
    )
    p.add_argument("--train-repeats", type=int, default=3, help="timed training steps per path")
    p.add_argument("--length", type=int, default=64600, help="input length in samples")
    p.add_argument(
        "--loss-curve", type=int, default=0, metavar="STEPS", help="seeded loss curves of each training path"
    )
    p.add_argument(
        "--loss-curve-batch", type=int, default=8, metavar="N", help="batch size of the loss-curve runs"
    )
    p.add_argument(
        "--memory-epochs", type=int, default=3, help="epochs of the RSS flatness check; 0 skips it"
    )
    p.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda, cuda:<i>")
    p.add_argument(
        "--threads", type=int, default=0, help="torch / ONNX Runtime threads (default: one per core)"
    )
    p.add_argument(
        "--quick", action="store_true", help="AASIST-L, batch 1 and 16, 3 repeats, 2 training steps"
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    eer = p.add_argument_group(
        "EER check (replaces the speed benchmark): fp32 vs bf16 on a corpus's eval split"
    )
    eer.add_argument(
        "--eer-root", metavar="DIR", help="corpus root (LA folder), e.g. the embedded synthetic one"
    )
    eer.add_argument("--eer-model", default="AASIST-L", help="AASIST-L / AASIST / a .pth / a training .ckpt")
    eer.add_argument(
        "--eer-paths", nargs="+", default=["eager", "bf16-emulated"], help="reference path first"
    )
    eer.add_argument("--eer-limit", type=int, help="score a seeded random subset of this many trials")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.archs, args.batch_sizes, args.repeats, args.train_repeats = ["AASIST-L"], [1, 16], 3, 2
        args.memory_epochs = 0
    for key in ("repeats", "length"):
        if getattr(args, key) < 1:
            parser().error(f"--{key} must be >= 1, got {getattr(args, key)}")
    if any(b < 1 for b in args.batch_sizes) or args.train_batch < 0:
        parser().error("batch sizes must be >= 1")
    try:
        result = run(args, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_table(result)
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
