"""Timing and memory: timed calls, process / GPU memory, and which runs the free memory admits."""

from __future__ import annotations

import contextlib
import gc
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from aasist_lightning.bench.workload import grouped_by_allocator
from aasist_lightning.runtime.allocator import allocator

#: Activation memory per utterance assumed before a path has been measured (AASIST-L, 64600 samples:
#: ~540 MiB in fp32 eager inference, ~530 MiB in training).
DEFAULT_MIB_PER_UTT = 700.0
#: A run is skipped when its estimated memory exceeds this share of the available memory (a shared machine
#: must not be pushed into the OOM killer).
MEMORY_HEADROOM = 0.7


def memory_mib() -> dict[str, float]:
    """Resident memory of this process in MiB: current ``rss`` and ``peak`` (since the last
    :func:`reset_peak_memory`); Linux /proc, NaN elsewhere."""
    out = {"rss": float("nan"), "peak": float("nan")}
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                out["peak"] = int(line.split()[1]) / 1024
    return out


def reset_peak_memory() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs``) and CUDA's peak statistics; False when the RSS
    peak cannot be reset (it then covers the whole process life)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def max_abs_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute element-wise difference of two tensors, compared in fp32 on the CPU."""
    return float((a.float().cpu() - b.float().cpu()).abs().max())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return memory_mib()["peak"]


def held_mib(device: torch.device) -> float:
    """Memory held now: allocated memory on CUDA, the process's RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return memory_mib()["rss"]


class Timed(NamedTuple):
    seconds: float
    peak_mib: float  # peak memory during the call: RSS on CPU, allocated memory on CUDA
    growth_mib: float  # how far that peak rose above the memory held before the call
    value: Any  # what the call returned


def timed(fn: Callable[[], Any], device: torch.device) -> Timed:
    """Call ``fn`` once, timing it (GPU work included) and recording its peak memory."""
    gc.collect()
    reset_peak_memory()
    _sync(device)
    held = held_mib(device)
    start = time.perf_counter()
    value = fn()
    _sync(device)
    seconds = time.perf_counter() - start
    peak = _peak_mib(device)
    return Timed(seconds, peak, max(peak - held, 0.0), value)


def interleaved(
    calls: dict[str, Callable[[], Any]],
    kind: str,
    repeats: int,
    device: torch.device,
    done: Callable[[str], None],
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(seconds, peak MiB) of ``repeats`` calls of each path. The paths of one allocator mode are timed
    together (the mode is process-wide), interleaved with the order rotating every repeat; a pool or
    retained-heap group first makes one untimed call per path, so its timed calls reuse memory as a running
    job's do."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    peaks: dict[str, list[float]] = {name: [] for name in calls}
    for mode, names in grouped_by_allocator(list(calls), kind).items():
        with allocator(mode):
            if mode != "system":
                for name in names:
                    calls[name]()
            for r in range(repeats):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    result = timed(calls[name], device)
                    times[name].append(result.seconds)
                    peaks[name].append(result.peak_mib)
                done(f"{mode} allocator, repeat {r + 1}/{repeats}")
    return times, peaks


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else math.nan


def load_average() -> list[float] | None:
    """The machine's 1 / 5 / 15-minute load averages (None where the system has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# ------------------------------------------------------------------------------- admission by free memory
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


def _short_of(need_mib: float, free_mib: float) -> str:
    return f"needs ~{need_mib / 1024:.1f} GiB, {free_mib / 1024:.1f} GiB available"


def too_big(need_mib: float, device: torch.device) -> str | None:
    """Why a run needing ``need_mib`` more MiB must be skipped (it would exhaust the machine), or None."""
    free = available_mib(device)
    return _short_of(need_mib, free) if need_mib > MEMORY_HEADROOM * free else None


def extrapolate(points: Sequence[tuple[int, float]], batch: int) -> float:
    """Memory (MiB) at ``batch`` on the line through the last two (batch, MiB) points; NaN with fewer than
    two (activation memory grows linearly with the batch; one point holds one-off setup costs too)."""
    if len(points) < 2 or points[-1][0] == points[-2][0]:
        return math.nan
    (b0, m0), (b1, m1) = points[-2], points[-1]
    slope = max((m1 - m0) / (b1 - b0), 0.0)
    return m1 + slope * (batch - b1)


def admit(
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
        verdicts[name] = None if unknown_need <= budget else _short_of(unknown_need, free_mib)
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
