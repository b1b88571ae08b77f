"""Inference speed of each inference path at one batch size, its logits against plain fp32 eager's, and
its memory; paths that would not fit in the free memory are skipped or timed one at a time."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from aasist_lightning.bench import measure
from aasist_lightning.bench.measure import (
    DEFAULT_MIB_PER_UTT,
    admit,
    extrapolate,
    held_mib,
    interleaved,
    max_abs_error,
    median,
    timed,
)
from aasist_lightning.bench.workload import INFERENCE_PATHS, eager_first, split_path
from aasist_lightning.runtime.exported import example_waves
from aasist_lightning.runtime.fast import FastInference, prepare_inference


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
    so a ``+pool`` or ``+retain`` path counts as its plain path); a path whose need, extrapolated from them,
    would not fit in the available memory is skipped (a row with ``skipped`` and the extrapolated
    ``peak_mib_estimate``). ``eager_seen``: eager utt/s by batch size so far (appended to here). Where eager
    itself does not fit, the other paths are compared with eager at the largest batch it ran at
    (``eager_batch`` of the row), and their logits with eager's computed in chunks of that size. Paths are
    timed together (interleaved) when they fit in memory together, else one at a time (rows with
    ``together`` False)."""
    device = next(model.parameters()).device
    x = example_waves(length, batch).to(device)
    growth_seen = {} if growth_seen is None else growth_seen
    eager_seen = {} if eager_seen is None else eager_seen
    names = eager_first(paths)
    needs = {n: extrapolate(growth_seen.get(split_path(n, "inference")[0], []), batch) for n in names}
    keepers = {n for n in names if _keeps_memory(n)}
    # Looked up on the module, where tests stand in for the machine's free memory.
    free, unknown = measure.available_mib(device), DEFAULT_MIB_PER_UTT * batch
    verdicts = admit(needs, keepers, free, unknown)
    alone = {n: admit({n: needs[n]}, keepers & {n}, free, unknown)[n] for n in names}
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
            estimate = held_mib(device) + needs[name]  # NaN: not measured
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
        eager_seen[batch] = batch / median(measured["eager"]["times_s"])
    eager_batch = batch if batch in eager_seen else max(eager_seen, default=0)
    base = eager_seen.get(eager_batch, math.nan)
    rows = []
    for name, m in measured.items():
        speed = batch / median(m["times_s"])
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
        warm = timed(partial(runners[name], x), device)  # warm-up: exports / compiles here
        seen = growth_seen.setdefault(base_path, [])
        if seen and seen[-1][0] == batch:
            seen[-1] = (batch, max(seen[-1][1], warm.growth_mib))
        else:
            seen.append((batch, warm.growth_mib))
        if name == "eager":
            reference = warm.value
        error = math.nan if reference is None else max_abs_error(warm.value, reference)
        measured[name] = {"max_abs_err": error}
    times, peaks = interleaved(
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
    """Whether a path holds its working memory between calls: ONNX Runtime's arena, the page pool, a
    retained heap."""
    base, mode = split_path(name, "inference")
    return INFERENCE_PATHS[base][0] == "onnx" or mode != "system"


def _chunked_eager(model: nn.Module, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """Plain fp32 eager logits of ``x`` computed ``chunk`` rows at a time (eval-mode rows are independent)."""
    eager = prepare_inference(model, "eager", "fp32")
    return torch.cat([eager(part) for part in x.split(chunk)])
