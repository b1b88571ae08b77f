"""THE ONNX export of AASIST and THE ONNX Runtime session builder, shared by
:class:`~aasist_lightning.runtime.fast.FastInference` (``backend="onnx"``), ``aasist-export --onnx`` and
:meth:`~aasist_lightning.runtime.scorer.Scorer.from_onnx` (``aasist-predict --onnx``).

The export uses PyTorch's ``torch.export``-based exporter (``dynamo=True``, needs ``onnxscript``): the
TorchScript-based one is deprecated. The graph takes ``waveform`` (batch, length) float32 with a dynamic batch
axis and returns ``logits`` (batch, 2). torch, onnx and onnxruntime are imported inside the functions: the
session builder serves the torch-free ``aasist-predict --onnx``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from aasist_lightning.runtime.options import METADATA_KEY, InferenceError

if TYPE_CHECKING:
    from torch import nn

#: The torch.export-based exporter's lowest native opset (an older one is reached by a version converter).
DEFAULT_OPSET = 18
_EXPORT_BATCH = 2  # not 1: torch.export specialises a size-1 dimension, so batch 1 would not stay dynamic
_DOC = "AASIST spoofing countermeasure: waveform (batch, nb_samp) 16 kHz -> logits (batch, 2)"
#: Loggers of torch.onnx and the packages it drives (onnxscript, onnx_ir), and of torch.export (which logs a
#: traceback for a file it cannot load, before raising): silenced while exporting and loading.
_EXPORTER_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir", "torch.export")


@contextlib.contextmanager
def quiet_export() -> Iterator[None]:
    """Silence what the exporters report about themselves: their INFO logs (dozens of lines per export), the
    registry's notes on absent optional packages (torchvision), pytree and TorchScript deprecation notices."""
    loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, message=r".*LeafSpec.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\..*")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(
    model: nn.Module,
    length: int,
    metadata: dict[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
) -> bytes:
    """The serialised ONNX model of ``model`` (eval mode, on the CPU) for inputs (batch, ``length``), batch
    dynamic; ``metadata`` is stored as JSON under ``aasist`` (``metadata_props``).

    ``optimize=False`` skips the exporter's own graph optimisation (ONNX Runtime optimises the graph anyway,
    to the same speed): every weight then stays an initializer named as in the model, so that
    :func:`with_weights` can give the graph new weights without exporting again."""
    import onnx
    import torch

    example = torch.zeros(_EXPORT_BATCH, length)
    # Autocast off: under bf16-mixed training the validation runner is exported inside Lightning's autocast,
    # whose casts would otherwise end up in the fp32 graph (ONNX Runtime then rejects a bf16 Conv).
    with quiet_export(), torch.no_grad(), torch.autocast("cpu", enabled=False):
        program = torch.onnx.export(
            model,
            (example,),
            input_names=["waveform"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            opset_version=opset,
            dynamo=True,
            optimize=optimize,
            verbose=False,
        )
    if program is None:  # only the legacy exporter writes to a file and returns nothing
        raise RuntimeError("torch.onnx.export returned no ONNX program")
    proto = program.model_proto
    written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:  # the exporter falls back quietly when it cannot convert to the opset asked for
        raise InferenceError(
            f"ONNX opset {opset} could not be written (the exporter gave opset {written}): use an opset from "
            f"{DEFAULT_OPSET} to {onnx.defs.onnx_opset_version()}"
        )
    if metadata is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    proto.doc_string = _DOC
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def with_weights(model: bytes, tensors: Mapping[str, Any]) -> bytes:
    """``model`` (exported with ``optimize=False``) with every initializer replaced by the tensor of the same
    name in ``tensors`` (e.g. the parameters and buffers of a later epoch's network): the same graph, new
    weights, in milliseconds instead of an export's seconds."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(model)
    for initializer in proto.graph.initializer:
        tensor = tensors.get(initializer.name)
        if tensor is None:
            raise ValueError(
                f"ONNX initializer {initializer.name!r} is not a tensor of the network: the graph was "
                "exported with optimize=True or from another architecture"
            )
        value = tensor.detach().cpu().numpy()
        if tuple(value.shape) != tuple(initializer.dims):
            raise ValueError(
                f"ONNX initializer {initializer.name!r} has shape {tuple(initializer.dims)}, the network's "
                f"tensor {tuple(value.shape)}"
            )
        initializer.CopyFrom(numpy_helper.from_array(value, initializer.name))
    return proto.SerializeToString()


def metadata_of(session: Any, source: str) -> dict[str, Any]:
    """The ``aasist`` metadata of a session's model; a model written elsewhere needs a fixed input length."""
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY in props:
        try:
            meta = json.loads(props[METADATA_KEY])
        except ValueError:
            meta = None
        nb_samp = meta.get("nb_samp") if isinstance(meta, dict) else None
        threshold = meta.get("dev_eer_threshold") if isinstance(meta, dict) else None
        if (
            isinstance(nb_samp, bool)
            or not isinstance(nb_samp, int)
            or nb_samp < 1
            or not (threshold is None or (isinstance(threshold, (int, float)) and math.isfinite(threshold)))
        ):
            raise InferenceError(
                f"ONNX model {source}: its {METADATA_KEY!r} metadata is damaged (input length nb_samp "
                f"{nb_samp!r}, dev_eer_threshold {threshold!r}): export the model again with aasist-export"
            )
        return meta
    shape = session.get_inputs()[0].shape
    if len(shape) == 2 and isinstance(shape[1], int):
        return {"nb_samp": shape[1], "dev_eer_threshold": None, "source": f"onnx {source}"}
    raise InferenceError(
        f"ONNX model {source} has no aasist metadata and no fixed input length: export it with aasist-export"
    )


def ort_session(
    model: bytes | str | os.PathLike[str],
    device: str = "cpu",
    threads: int | None = None,
    length: int | None = None,
    memory_arena: bool = True,
) -> Any:
    """An ONNX Runtime session of ``model`` (serialised bytes or a file): the CUDA provider for a ``cuda``
    device when ONNX Runtime has it, else the CPU with its SELUs on the blocked layout (see
    :func:`_cpu_session_without_selu_reorders`; ``length``: the input length to check that rewrite on,
    default: from the model's metadata). ``threads``: intra-op threads (default: ONNX Runtime's, one per
    physical core). ``memory_arena``: ONNX Runtime's CPU arena (off for runners that meet many input
    lengths)."""
    import onnxruntime as ort

    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return _session(model, threads, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    return _cpu_session_without_selu_reorders(model, threads, length, memory_arena)


def _session(
    model: bytes | str,
    threads: int | None,
    providers: list[str],
    optimize: bool = True,
    save: str = "",
    memory_arena: bool = True,
) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # saving an NCHWc-optimised graph logs a "hardware specific" warning
    level = ort.GraphOptimizationLevel
    options.graph_optimization_level = level.ORT_ENABLE_ALL if optimize else level.ORT_DISABLE_ALL
    # A memory pattern pre-plans one buffer per input shape: on CPU it doubled the peak (AASIST-L, batch 16:
    # 4.2 vs 2.1 GiB over the model) for no measurable speed, and batch 64 needs the memory.
    options.enable_mem_pattern = "CUDAExecutionProvider" in providers
    # ONNX Runtime's CPU arena keeps a session's peak buffers for its next runs; a session per input length
    # (eval.py crop=full) made arenas outlive their sessions and pile up to the machine's memory.
    options.enable_cpu_mem_arena = memory_arena
    if save:
        options.optimized_model_filepath = save
    return ort.InferenceSession(model, options, providers=providers)


def _cpu_session_without_selu_reorders(
    model: bytes | str, threads: int | None, length: int | None, memory_arena: bool = True
) -> Any:
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
            reference = _session(model, threads, providers, save=saved, memory_arena=memory_arena)
        try:
            graph = onnx.load(saved)
        except Exception:  # ORT could not serialise its optimised graph: keep the reference session
            return reference
    if length is None:
        try:
            length = int(metadata_of(reference, "model")["nb_samp"])
        except (InferenceError, KeyError, TypeError, ValueError):  # nothing to check the rewrite on
            return reference
    if _drop_selu_reorders(graph.graph) == 0:
        return reference
    try:
        session = _session(
            graph.SerializeToString(), threads, providers, optimize=False, memory_arena=memory_arena
        )
        name = reference.get_inputs()[0].name
        probe = np.random.default_rng(0).uniform(-0.1, 0.1, (2, length)).astype(np.float32)
        want = reference.run(None, {name: probe})[0]
        got = session.run(None, {name: probe})[0]
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


__all__ = ["DEFAULT_OPSET", "export_onnx", "metadata_of", "ort_session", "quiet_export", "with_weights"]
