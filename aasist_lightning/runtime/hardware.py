"""What the machine offers, and the training precision and inference path chosen from it.

bf16 is *native* on CUDA GPUs that support it and on CPUs with AMX or AVX512-BF16 (Intel Sapphire Rapids /
Cooper Lake and newer, AMD Zen 4 and newer); elsewhere torch emulates it, ~15x slower than fp32.
``trainer.precision=auto`` (:func:`training_precision`) trains in bf16-mixed where bf16 is native and in fp32
elsewhere, and ``model.memory_format=auto`` (:func:`training_memory_format`) keeps the activations
channels-last on CPUs with AVX-512. Inference ``precision="auto"`` stays fp32 on every device: bf16 inference
is opt-in, because emulated bf16 moved the EER of the official AASIST-L on the embedded eval split by 0.28 pp
(40.76 -> 40.48 %), over the 0.1 pp bound. ``backend="auto"`` picks, in order: bf16 -> ``compile``; else
CPU -> ``onnx`` (when onnxruntime is installed), ``compile`` (when a C++ compiler is found),
``channels_last``; CUDA -> ``compile`` when triton is installed, else ``eager``.

torch is imported inside the functions: ``resolve_device`` serves the torch-free ONNX path too.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from aasist_lightning.runtime.options import BACKENDS, PRECISIONS, InferenceError

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class Hardware:
    """What the fast-path choice depends on."""

    device: str  # "cpu" or "cuda[:i]"
    name: str  # CPU model / GPU name
    cpu_capability: str  # torch's CPU kernel level: DEFAULT / AVX2 / AVX512 / ...
    amx: bool  # AMX tiles with bf16 (fast CPU bf16 matrix work)
    cuda_bf16: bool
    onnxruntime: bool
    cxx_compiler: bool  # inductor needs one on CPU
    triton: bool  # inductor needs it on CUDA
    threads: int
    avx512_bf16: bool = False  # AVX512-BF16 dot products (AMD Zen 4+, Intel Cooper Lake+)

    @property
    def native_bf16(self) -> bool:
        """bf16 arithmetic in hardware: CUDA's, or AMX / AVX512-BF16 on the CPU (elsewhere torch emulates it,
        ~15x slower than fp32)."""
        return self.cuda_bf16 if self.device.startswith("cuda") else (self.amx or self.avx512_bf16)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "native_bf16": self.native_bf16}


@cache  # read once: a training run asks at every validation epoch
def _cpu_flags() -> tuple[str, frozenset[str]]:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:  # not Linux: no flags to read; AMX is then reported as absent
        return "", frozenset()
    name, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not name:
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = frozenset(value.split())
    return name, flags


def cxx_command() -> list[str]:
    """The C++ compiler command: ``$CXX`` (split like a shell) where set, else the first of c++, g++ and
    clang++ on the PATH; empty where there is none."""
    if os.environ.get("CXX"):
        return shlex.split(os.environ["CXX"])
    found = next(filter(None, map(shutil.which, ("c++", "g++", "clang++"))), None)
    return [found] if found else []


@cache
def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def detect_hardware(device: str | torch.device = "cpu") -> Hardware:
    """Describe ``device`` ("cpu", "cuda", "cuda:1", ...) and the fast-path tools installed."""
    import torch

    device = str(device)
    cpu_name, flags = _cpu_flags()
    is_cuda = device.startswith("cuda")
    if is_cuda and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA GPU is visible: use 'cpu'")
    return Hardware(
        device=device,
        name=torch.cuda.get_device_name(torch.device(device)) if is_cuda else cpu_name,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        amx="amx_bf16" in flags and "amx_tile" in flags,
        cuda_bf16=is_cuda and torch.cuda.is_bf16_supported(),
        # The ONNX path exports with torch's torch.export-based exporter, which needs onnxscript.
        onnxruntime=_importable("onnxruntime") and _importable("onnxscript"),
        cxx_compiler=bool((cxx := cxx_command()) and shutil.which(cxx[0])),
        triton=_importable("triton"),
        threads=torch.get_num_threads(),
        avx512_bf16="avx512_bf16" in flags,
    )


def auto_backend(hardware: Hardware, precision: str = "fp32", allow_compile: bool = True) -> str:
    """The fastest backend for ``hardware`` at ``precision`` (see the module docstring). ``allow_compile``:
    False when the runner serves few calls (e.g. one validation epoch): compiling costs minutes on a small
    CPU."""
    is_cuda = hardware.device.startswith("cuda")
    can_compile = allow_compile and (hardware.triton if is_cuda else hardware.cxx_compiler)
    if precision == "bf16" or is_cuda:
        return "compile" if can_compile else "eager"
    if hardware.onnxruntime:
        return "onnx"
    return "compile" if can_compile else "channels_last"


def choose(
    hardware: Hardware, backend: str = "auto", precision: str = "auto", allow_compile: bool = True
) -> tuple[str, str]:
    """(backend, precision) for ``hardware`` with 'auto' replaced by the choice; checks both names. Pure:
    tests give it a constructed :class:`Hardware` for each kind of machine."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown inference backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown inference precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = "fp32"  # bf16 is opt-in everywhere (see the module docstring)
    if backend == "auto":
        backend = auto_backend(hardware, precision, allow_compile)
    if backend == "onnx" and precision == "bf16":
        raise ValueError(
            "the onnx backend runs in fp32 only: use the fp32 precision, or the compile backend for bf16"
        )
    if backend == "onnx" and not hardware.onnxruntime:
        raise ValueError("backend=onnx needs onnxruntime: pip install onnxruntime (or use backend=auto)")
    return backend, precision


def resolve(
    backend: str = "auto",
    precision: str = "auto",
    device: str | torch.device = "cpu",
    allow_compile: bool = True,
) -> tuple[str, str]:
    """(backend, precision) with 'auto' replaced by the choice for ``device``; checks both names."""
    return choose(detect_hardware(device), backend, precision, allow_compile)


def training_precision(requested: Any, hardware: Hardware) -> Any:
    """Lightning's ``Trainer(precision=...)`` for ``requested`` on ``hardware`` (the device the Trainer will
    use): ``"auto"`` becomes ``"bf16-mixed"`` where bf16 is native, else ``"32-true"``; any other value is
    returned as given. bf16-mixed kept the dev and eval EER of the default recipe within the fp32
    seed-to-seed spread (README, "Precision"); emulated bf16 would be ~15x slower."""
    if requested != "auto":
        return requested
    return "bf16-mixed" if hardware.native_bf16 else "32-true"


#: Layouts of the training activations (``model.memory_format``).
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


def check_memory_format(requested: str) -> str:
    """``requested`` if it names a training layout (:data:`MEMORY_FORMATS`), else ValueError."""
    if requested not in MEMORY_FORMATS:
        raise ValueError(f"memory_format={requested!r}: use one of {', '.join(MEMORY_FORMATS)}")
    return requested


def training_memory_format(requested: str, hardware: Hardware) -> str:
    """The layout training keeps its 4-D activations in: ``"auto"`` becomes ``"channels_last"`` (NHWC) on a
    CPU with AVX-512 kernels and ``"contiguous"`` (NCHW) elsewhere; other values are returned as given.

    Measured with AASIST-L at batch 16 and the retained heap: on 2 AMD Zen 4 cores channels_last made a
    bf16-mixed step 1.4x faster (4.7 -> 3.3 s) and an fp32 step 1.2x faster (8.1 -> 6.6 s) with less memory
    (12.9 -> 9.8 GiB); with AVX2 kernels it made fp32 steps ~1.5x slower. GPUs (not measured) keep NCHW."""
    if check_memory_format(requested) != "auto":
        return requested
    avx512 = hardware.cpu_capability.startswith("AVX512") or hardware.native_bf16
    return "channels_last" if avx512 and not hardware.device.startswith("cuda") else "contiguous"


def device_of(model: nn.Module) -> torch.device:
    """The device ``model``'s parameters / buffers live on (CPU for a model without any)."""
    import torch

    tensors = [*model.parameters(), *model.buffers()]
    return tensors[0].device if tensors else torch.device("cpu")


def resolve_device(device: str | None = "auto") -> str:
    """'auto' / None -> 'cuda' when a GPU is visible, else 'cpu'; Lightning's accelerator names are
    accepted."""
    import torch

    name = "auto" if device is None else str(device).lower()
    if name in ("auto", ""):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "gpu":
        name = "cuda"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InferenceError(f"device {device!r} requested but no CUDA GPU is visible: use 'cpu' or 'auto'")
    if name == "mps" and not torch.backends.mps.is_available():
        raise InferenceError(f"device {device!r} requested, but PyTorch cannot use an Apple GPU: use 'cpu'")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise InferenceError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:<index> or gpu")
    return name


__all__ = [
    "MEMORY_FORMATS",
    "Hardware",
    "auto_backend",
    "check_memory_format",
    "choose",
    "detect_hardware",
    "device_of",
    "resolve",
    "resolve_device",
    "training_memory_format",
    "training_precision",
]
