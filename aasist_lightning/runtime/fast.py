"""Fast inference and training paths for AASIST, chosen from what the hardware supports.

Inference: ``prepare_inference(model, backend="auto", precision="auto")`` returns a :class:`FastInference`,
a callable ``waves (B, T) -> logits (B, 2)`` (float32, on the input's device) that never changes ``model``
(it works on a copy, so it can be rebuilt from the training weights at every validation). Backends:

- ``eager``: the model as it is, under ``torch.inference_mode`` (the reference every other path is compared
  with; ``precision="fp32"`` with it is the plain fp32 path).
- ``channels_last``: batch norms folded into the convolutions before them, NHWC activations (exact, ~1e-6).
- ``compile``: ``torch.compile`` (inductor, frozen weights) of the folded model (exact, ~1e-6). The first call
  of each input shape compiles (minutes on a small CPU); a batch smaller than the first one seen is padded to
  it so that the last, short batch of a data set does not compile again.
- ``onnx``: the model exported to ONNX (dynamic batch) and run by ONNX Runtime with one thread per core
  (exact, ~1e-6). Exported again for each new input length.

``precision="bf16"`` runs the torch backends under bf16 autocast, the output layer in fp32 (logits move by
~0.1). It is fast only on CPUs with AMX (Sapphire Rapids and newer) and CUDA GPUs (on other CPUs bf16
convolutions are ~15x slower than fp32), and opt-in: ``"auto"`` means fp32, because emulated bf16 moved the
EER of the official AASIST-L on the embedded eval split by 0.28 pp (40.76 -> 40.48 %), over the 0.1 pp bound.
:func:`emulated_bf16` reproduces bf16 numerics at fp32 speed, to check bf16's effect on EER anywhere
(``python -m aasist_lightning.bench --eer-root``). ``backend="auto"`` picks, in order: bf16 -> ``compile``;
else CPU -> ``onnx`` (when onnxruntime is installed), ``compile`` (when a C++ compiler is found),
``channels_last``; CUDA -> ``compile`` when triton is installed, else ``eager``.

Training: :func:`prepare_training` (channels-last and / or ``torch.compile`` in place, state_dict names
unchanged) and :func:`training_precision` (Lightning's ``bf16-mixed`` where bf16 is fast, else ``32-true``).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aasist_lightning.runtime.scorer import BACKENDS, PRECISIONS

#: Backends whose logits match plain fp32 eager to ~1e-6 (ONNX Runtime / oneDNN / inductor reassociation).
EXACT_BACKENDS = ("eager", "channels_last", "compile", "onnx")


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

    @property
    def bf16_fast(self) -> bool:
        return self.cuda_bf16 if self.device.startswith("cuda") else self.amx

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bf16_fast": self.bf16_fast}


def _cpu_flags() -> tuple[str, set[str]]:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:  # not Linux: no flags to read; AMX is then reported as absent
        return "", set()
    name, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not name:
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return name, flags


@cache
def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def detect_hardware(device: str | torch.device = "cpu") -> Hardware:
    """Describe ``device`` ("cpu", "cuda", "cuda:1", ...) and the fast-path tools installed."""
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
        onnxruntime=_importable("onnxruntime"),
        cxx_compiler=any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++", "c++")),
        triton=_importable("triton"),
        threads=torch.get_num_threads(),
    )


def auto_precision(hardware: Hardware) -> str:
    """'fp32' on every device: bf16 changes EER by more than 0.1 pp (see the module docstring)."""
    return "fp32"


def auto_backend(hardware: Hardware, precision: str = "fp32", allow_compile: bool = True) -> str:
    """The fastest backend for ``hardware`` at ``precision`` (see the module docstring). ``allow_compile``:
    False when the runner serves few calls (e.g. one validation epoch): compiling costs minutes on a small
    CPU."""
    is_cuda = hardware.device.startswith("cuda")
    can_compile = allow_compile and (hardware.triton if is_cuda else hardware.cxx_compiler)
    if precision == "bf16":
        return "compile" if can_compile else "eager"
    if is_cuda:
        return "compile" if can_compile else "eager"
    if hardware.onnxruntime:
        return "onnx"
    return "compile" if can_compile else "channels_last"


def training_precision(device: str | torch.device = "cpu") -> str:
    """Lightning ``trainer.precision`` for ``device``: 'bf16-mixed' where bf16 is fast, else '32-true'."""
    return "bf16-mixed" if detect_hardware(device).bf16_fast else "32-true"


def resolve(
    backend: str = "auto",
    precision: str = "auto",
    device: str | torch.device = "cpu",
    allow_compile: bool = True,
) -> tuple[str, str]:
    """(backend, precision) with 'auto' replaced by the choice for ``device``; checks both names."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown inference backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown inference precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    hardware = detect_hardware(device)
    if precision == "auto":
        # An explicitly chosen ONNX path is fp32 only; auto precision then means fp32.
        precision = "fp32" if backend == "onnx" else auto_precision(hardware)
    if backend == "auto":
        backend = auto_backend(hardware, precision, allow_compile)
    if backend == "onnx" and precision == "bf16":
        raise ValueError(
            "the onnx backend runs in fp32 only: use precision=fp32, or backend=compile for bf16"
        )
    if backend == "onnx" and not hardware.onnxruntime:
        raise ValueError("backend=onnx needs onnxruntime: pip install onnxruntime (or use backend=auto)")
    return backend, precision


def device_of(model: nn.Module) -> torch.device:
    """The device ``model``'s parameters / buffers live on (CPU for a model without any)."""
    tensors = [*model.parameters(), *model.buffers()]
    return tensors[0].device if tensors else torch.device("cpu")


# ------------------------------------------------------------------------------------------ graph rewrites
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d in a residual block (``conv1 -> bn2``)
    into that convolution, in place; the batch norm becomes an Identity. For eval-mode models only."""
    from aasist_lightning.models.aasist import ResidualBlock

    if model.training:
        raise ValueError(
            "fold_batchnorm needs a model in eval mode (training batch norms use batch statistics)"
        )
    for block in model.modules():
        if isinstance(block, ResidualBlock) and isinstance(block.bn2, nn.BatchNorm2d):
            block.conv1 = _fold(block.conv1, block.bn2)
            block.bn2 = nn.Identity()
    return model


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused = copy.deepcopy(conv)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        fused.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
    return fused


class Fp32Head(nn.Module):
    """Runs the wrapped layer in fp32 even under bf16 autocast: bf16 logits would be quantised to steps of
    1/16 at AASIST's typical |logit| of 8-16, tying many scores of a large evaluation."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        global _fp32_regions
        _fp32_regions += 1
        try:
            with torch.autocast(x.device.type, enabled=False):
                return self.layer(x.float())
        finally:
            _fp32_regions -= 1


_fp32_regions = 0  # > 0 while an Fp32Head runs: emulated_bf16 leaves it alone, as autocast does


class _Bf16Rounding(torch.overrides.TorchFunctionMode):
    LOWER = frozenset(
        {torch.conv1d, torch.conv2d, F.linear, torch.matmul, torch.Tensor.__matmul__, torch.bmm}
    )

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if _fp32_regions:
            return func(*args, **kwargs)
        if func in self.LOWER:
            args = tuple(_round_bf16(a) for a in args)
            kwargs = {k: _round_bf16(v) for k, v in kwargs.items()}
        return _round_bf16(func(*args, **kwargs))


def _round_bf16(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
        return value.to(torch.bfloat16).to(torch.float32)
    return value


def emulated_bf16() -> contextlib.AbstractContextManager[Any]:
    """Emulate bf16 autocast numerics at fp32 speed (for CPUs where real bf16 is slow, e.g. to check its
    effect on EER): the float operands of convolutions / linear layers / matmuls and the float output of every
    op are rounded to bf16, arithmetic stays fp32 (what autocast does, up to the fp32 accumulation order).
    Use it around an fp32 ``FastInference`` of backend ``eager``; an :class:`Fp32Head` stays fp32."""
    return _Bf16Rounding()


# ---------------------------------------------------------------------------------------------- inference
class FastInference:
    """``fast(waves)`` -> logits (B, 2) float32 on the input's device; ``waves``: float (B, T) tensor / array.

    ``backend`` / ``precision`` are the resolved choices; ``setup_seconds`` accumulates export / compile time.
    """

    def __init__(self, model: nn.Module, backend: str, precision: str, threads: int | None = None) -> None:
        self.backend = backend
        self.precision = precision
        self.threads = threads or torch.get_num_threads()
        self.setup_seconds = 0.0
        self.device = device_of(model)
        # A copy: the caller's model (e.g. the one being trained) keeps its mode, layout and weights.
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        if backend in ("channels_last", "compile"):
            fold_batchnorm(self.model)
            self.model.to(memory_format=torch.channels_last)
        if precision == "bf16" and isinstance(getattr(self.model, "out_layer", None), nn.Linear):
            self.model.out_layer = Fp32Head(self.model.out_layer)
        self._compiled: Any = None
        self._compiled_batch = 0
        self._sessions: dict[int, Any] = {}  # ONNX Runtime session per input length

    def __repr__(self) -> str:
        return f"FastInference(backend={self.backend!r}, precision={self.precision!r}, device={self.device})"

    def __call__(self, waves: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(waves)
        out_device = x.device
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if self.backend == "onnx":
            return self._run_onnx(x).to(out_device)
        x = x.to(self.device, torch.float32)
        with torch.inference_mode(), self._autocast():
            logits = self._run_compiled(x) if self.backend == "compile" else self.model(x)
        return logits.float().to(out_device)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    # -- compile: one compiled graph per input length; batches padded to the first batch size seen
    def _run_compiled(self, x: torch.Tensor) -> torch.Tensor:
        import time

        if self._compiled is None:
            self._compiled = torch.compile(self.model, dynamic=False, options={"freezing": True})
            self._compiled_batch = x.size(0)
            start = time.perf_counter()
            self._compiled(x[:1].expand(self._compiled_batch, -1).contiguous())
            self.setup_seconds += time.perf_counter() - start
        size = self._compiled_batch
        outs = []
        for chunk in x.split(size):
            n = chunk.size(0)
            if n < size:  # eval-mode AASIST treats rows independently: padding rows change nothing
                chunk = torch.cat([chunk, chunk[:1].expand(size - n, -1)])
            outs.append(self._compiled(chunk)[:n])
        return torch.cat(outs) if len(outs) > 1 else outs[0]

    # -- ONNX Runtime
    def _run_onnx(self, x: torch.Tensor) -> torch.Tensor:
        length = x.size(-1)
        if length not in self._sessions:
            self._sessions[length] = self._onnx_session(length)
        session = self._sessions[length]
        waves = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(session.run(None, {"waveform": waves})[0])

    def _onnx_session(self, length: int) -> Any:
        import time

        import onnxruntime as ort

        start = time.perf_counter()
        cpu_model = copy.deepcopy(self.model).cpu()
        buffer = io.BytesIO()
        with _quiet_export():
            torch.onnx.export(
                cpu_model,
                (torch.zeros(2, length),),
                buffer,
                input_names=["waveform"],
                output_names=["logits"],
                dynamic_axes={"waveform": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=17,
                dynamo=False,  # the dynamo exporter would need onnxscript
            )
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
            session = _ort_session(buffer.getvalue(), self.threads, providers)
        else:
            session = _cpu_session_without_selu_reorders(buffer.getvalue(), self.threads, length)
        self.setup_seconds += time.perf_counter() - start
        return session


def _ort_session(
    model: bytes, threads: int, providers: list[str], optimize: bool = True, save: str = ""
) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # saving an NCHWc-optimised graph logs a "hardware specific" warning
    level = ort.GraphOptimizationLevel
    options.graph_optimization_level = level.ORT_ENABLE_ALL if optimize else level.ORT_DISABLE_ALL
    # A memory pattern pre-plans one buffer per input shape: on CPU it doubled the peak (AASIST-L, batch 16:
    # 4.2 vs 2.1 GiB over the model) for no measurable speed, and batch 64 needs the memory.
    options.enable_mem_pattern = "CUDAExecutionProvider" in providers
    if save:
        options.optimized_model_filepath = save
    return ort.InferenceSession(model, options, providers=providers)


def _cpu_session_without_selu_reorders(model: bytes, threads: int, length: int) -> Any:
    """An ONNX Runtime CPU session whose SELUs run on the blocked (NCHWc) convolution layout.

    ORT's NCHWc layout pass keeps Conv / MaxPool / Add / Relu blocked but not SELU, so every residual block
    pays a reorder to NCHW before its SELU and one back after it (~20 % of the run time). SELU is element-wise
    and maps 0 to 0, so it can run on the blocked tensor as it is: the optimised graph is saved, those reorder
    pairs are dropped, and the result is checked against the unmodified session (falling back to it if the
    graph is not as expected, e.g. another ORT version)."""
    import onnx

    providers = ["CPUExecutionProvider"]
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "optimized.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = _ort_session(model, threads, providers, save=saved)
        try:
            graph = onnx.load(saved)
        except Exception:  # ORT could not serialise its optimised graph: keep the reference session
            return reference
    if _drop_selu_reorders(graph.graph) == 0:
        return reference
    try:
        session = _ort_session(graph.SerializeToString(), threads, providers, optimize=False)
        probe = np.random.default_rng(0).uniform(-0.1, 0.1, (2, length)).astype(np.float32)
        want = reference.run(None, {"waveform": probe})[0]
        got = session.run(None, {"waveform": probe})[0]
    except Exception:  # an ORT that refuses the edited graph: keep the reference session
        return reference
    return session if np.abs(want - got).max() <= 1e-5 else reference


def _drop_selu_reorders(graph: Any) -> int:
    """Rewire ``ReorderOutput -> Selu -> ReorderInput`` chains of an ORT-optimised graph so that the SELU
    reads and writes the blocked layout; returns how many chains were rewired."""
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    rewired = 0
    for reorder_out in [n for n in graph.node if n.op_type == "ReorderOutput"]:
        users = consumers.get(reorder_out.output[0], [])
        if len(users) != 1 or users[0].op_type != "Selu" or reorder_out.output[0] in outputs:
            continue
        selu = users[0]
        after = consumers.get(selu.output[0], [])
        if len(after) != 1 or after[0].op_type != "ReorderInput" or selu.output[0] in outputs:
            continue
        reorder_in = after[0]
        selu.input[0] = reorder_out.input[0]
        for node in consumers.get(reorder_in.output[0], []):
            for i, name in enumerate(node.input):
                if name == reorder_in.output[0]:
                    node.input[i] = selu.output[0]
        graph.node.remove(reorder_out)
        graph.node.remove(reorder_in)
        rewired += 1
    if rewired:
        del graph.value_info[:]  # the SELU outputs' recorded NCHW shapes no longer hold
    return rewired


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """The tracer warns about the model's Python-level shape checks: constant for one input length, which is
    what a session serves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        yield


def prepare_inference(
    model: nn.Module,
    backend: str = "auto",
    precision: str = "auto",
    example_length: int | None = None,
    threads: int | None = None,
    allow_compile: bool = True,
) -> FastInference:
    """A fast callable ``waves (B, T) -> logits (B, 2)`` computing what ``model`` computes in eval mode.

    ``backend``: auto / eager / channels_last / compile / onnx; ``precision``: auto / fp32 / bf16 (see the
    module docstring). ``backend="eager", precision="fp32"`` is the plain reference path. ``example_length``:
    export the ONNX model for this input length now instead of at the first call. ``threads``: ONNX Runtime
    intra-op threads (default: torch's thread count, one per core). ``allow_compile=False``: ``auto`` never
    picks ``compile`` (for a runner rebuilt often, e.g. at every validation epoch with the new weights).
    """
    backend, precision = resolve(backend, precision, device_of(model), allow_compile)
    fast = FastInference(model, backend, precision, threads)
    if backend == "onnx" and example_length is not None:
        fast._sessions[example_length] = fast._onnx_session(example_length)
    return fast


# ---------------------------------------------------------------------------------------------- training
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
    return float((a.float().cpu() - b.float().cpu()).abs().max())


__all__ = [
    "BACKENDS",
    "EXACT_BACKENDS",
    "PRECISIONS",
    "FastInference",
    "Fp32Head",
    "Hardware",
    "auto_backend",
    "auto_precision",
    "detect_hardware",
    "device_of",
    "emulated_bf16",
    "fold_batchnorm",
    "max_abs_error",
    "memory_mib",
    "prepare_inference",
    "prepare_training",
    "reset_peak_memory",
    "resolve",
    "training_precision",
]
