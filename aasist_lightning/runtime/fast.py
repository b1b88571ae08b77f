"""Fast inference paths for AASIST, chosen from what the hardware supports.

``prepare_inference(model, backend="auto", precision="auto")`` returns a :class:`FastInference`, a callable
``waves (B, T) -> logits (B, 2)`` (float32, on the input's device) that never changes ``model`` (it works on
a copy, so it can be rebuilt from the training weights at every validation). Backends:

- ``eager``: the model as it is, under ``torch.inference_mode`` (the reference every other path is compared
  with; ``precision="fp32"`` with it is the plain fp32 path).
- ``channels_last``: batch norms folded into the convolutions before them, NHWC activations (exact, ~1e-6).
- ``compile``: ``torch.compile`` (inductor, frozen weights) of the folded model (exact, ~1e-6). The first call
  of each input shape compiles (minutes on a small CPU); a batch smaller than the first one seen is padded to
  it so that the last, short batch of a data set does not compile again.
- ``onnx``: the model exported to ONNX (dynamic batch, :mod:`runtime.onnx`) and run by ONNX Runtime with one
  thread per core (exact, ~1e-6). Exported again for each new input length.

``precision="bf16"`` runs the torch backends under bf16 autocast, the output layer in fp32 (logits move by
~0.1); opt-in, and fast only on AMX CPUs and CUDA GPUs (:mod:`runtime.hardware` says why and how ``auto``
chooses). :func:`emulated_bf16` reproduces bf16 numerics at fp32 speed, to check bf16's effect on EER
anywhere (``python -m aasist_lightning.bench --eer-root``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aasist_lightning.runtime.hardware import device_of, resolve
from aasist_lightning.runtime.onnx import export_onnx, ort_session, with_weights


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
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("a batch norm without running statistics cannot be folded")
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

    def __init__(
        self,
        model: nn.Module,
        backend: str,
        precision: str,
        threads: int | None = None,
    ) -> None:
        self.backend = backend
        self.precision = precision
        self.threads = threads or torch.get_num_threads()
        self.setup_seconds = 0.0
        self.device = device_of(model)
        # A copy: the caller's model (e.g. the one being trained) keeps its mode, layout and weights.
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        nhwc = backend in ("channels_last", "compile")
        if nhwc:
            fold_batchnorm(self.model)
        # The copy's own layout, whatever the caller trains in (e.g. channels-last training, NCHW eager path).
        # Module.to takes memory_format at run time; torch's type stubs do not list it.
        layout = torch.channels_last if nhwc else torch.contiguous_format
        self.model.to(memory_format=layout)  # type: ignore[call-overload]
        head = getattr(self.model, "out_layer", None)
        if precision == "bf16" and isinstance(head, nn.Linear):
            self.model.out_layer = Fp32Head(head)
        self._compiled: Any = None
        self._compiled_batch = 0
        # ONNX Runtime sessions of the last input lengths met: each holds its own buffers (GBs for long
        # inputs), and eval.py crop=full meets its lengths in order, so a few suffice.
        self._sessions: OrderedDict[int, Any] = OrderedDict()

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
            while len(self._sessions) > _SESSIONS_KEPT:
                self._sessions.popitem(last=False)
        self._sessions.move_to_end(length)
        session = self._sessions[length]
        waves = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(session.run(None, {"waveform": waves})[0])

    def _onnx_session(self, length: int) -> Any:
        start = time.perf_counter()
        # A second input length means clips of many lengths (crop=full): no arena for those sessions, whose
        # buffers would otherwise stay with the process after the session is gone.
        arena = not self._sessions
        session = ort_session(self._onnx_graph(length), str(self.device), self.threads, length, arena)
        self.setup_seconds += time.perf_counter() - start
        return session

    def _onnx_graph(self, length: int) -> bytes:
        """The ONNX graph of this model for inputs of ``length`` samples: exported (seconds), or an earlier
        export of the same architecture given this model's weights (milliseconds; e.g. at every validation
        epoch of a training run)."""
        architecture = _architecture(self.model)
        cached = _GRAPHS.get((architecture, length)) if architecture is not None else None
        if cached is not None:
            tensors = {**dict(self.model.named_parameters()), **dict(self.model.named_buffers())}
            return with_weights(cached, tensors)
        # optimize=False: every weight stays an initializer named as in the model, for with_weights.
        graph = export_onnx(copy.deepcopy(self.model).cpu(), length, optimize=False)
        if architecture is not None:
            _GRAPHS[(architecture, length)] = graph
            while len(_GRAPHS) > _GRAPHS_KEPT:
                _GRAPHS.popitem(last=False)
        return graph


#: Exported ONNX graphs by (architecture, input length), for the whole process; the oldest are dropped.
_GRAPHS: OrderedDict[tuple[str, int], bytes] = OrderedDict()
_GRAPHS_KEPT = 8
#: ONNX Runtime sessions a FastInference keeps (the most recently used input lengths).
_SESSIONS_KEPT = 2


def _architecture(model: nn.Module) -> str | None:
    """What fixes a network's graph: its class and hyper-parameters (``model.config``), or None if unknown."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        return None
    return f"{type(model).__module__}.{type(model).__qualname__} {json.dumps(config, sort_keys=True)}"


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


__all__ = [
    "FastInference",
    "Fp32Head",
    "emulated_bf16",
    "fold_batchnorm",
    "prepare_inference",
]
