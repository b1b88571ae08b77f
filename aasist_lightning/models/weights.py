"""Official AASIST checkpoints: finding / downloading / verifying them, loading them strictly.

Lookup order for an official name (``"AASIST-L"`` or ``"AASIST"``), see :func:`resolve_weights`:

1. ``$AASIST_WEIGHTS_DIR/<name>.pth``;
2. the per-user cache ``<cache>/weights/<name>.pth`` where ``<cache>`` is ``$AASIST_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/aasist_lightning``, else ``~/.cache/aasist_lightning``;
3. a download from the official repository (pinned commit) into the cache, verified by sha256; set
   ``AASIST_OFFLINE=1`` to forbid it.

Anything else passed as ``name_or_path`` is a path to a ``.pth`` state_dict.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import pickle
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aasist_lightning.files import OutputPathError, atomic_path
from aasist_lightning.models.archs import ARCH_KEYS, OFFICIAL_ARCHS

#: Official checkpoint name -> (file name, sha256), from clovaai/aasist@a04c986 models/weights/.
OFFICIAL_WEIGHTS: dict[str, tuple[str, str]] = {
    "AASIST-L": ("AASIST-L.pth", "814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a"),
    "AASIST": ("AASIST.pth", "51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0"),
}
#: Where the official files are downloaded from; ``{file}`` is the file name.
OFFICIAL_WEIGHTS_URL = (
    "https://github.com/clovaai/aasist/raw/a04c9863f63d44471dde8a6abcb3b082b07cd1d1/models/weights/{file}"
)
_DOWNLOAD_TIMEOUT_S = 60


class WeightsNotFoundError(FileNotFoundError):
    """No weights file was found (and none could be downloaded); the message lists where it looked."""


class WeightsError(ValueError):
    """A weights file that cannot be used: corrupt, not a state_dict, wrong hash or wrong architecture."""


def official_name(name: str) -> str | None:
    """The official checkpoint name for ``name`` ("aasist_l", "aasist-l", "AASIST-L" ...), or None."""
    wanted = str(name).upper().replace("_", "-")
    return wanted if wanted in OFFICIAL_WEIGHTS else None


def cache_dir() -> Path:
    """Per-user cache folder: $AASIST_CACHE_DIR, else $XDG_CACHE_HOME/aasist_lightning, else
    ~/.cache/aasist_lightning. Official weights live in its weights/ subfolder."""
    if os.environ.get("AASIST_CACHE_DIR"):
        return Path(os.environ["AASIST_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "aasist_lightning"


def _offline() -> bool:
    return os.environ.get("AASIST_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def weights_url(name: str) -> str:
    return OFFICIAL_WEIGHTS_URL.format(file=OFFICIAL_WEIGHTS[name][0])


def download_weights(name: str, dest: Path | None = None) -> Path:
    """Download the official ``name`` checkpoint to ``dest`` (default: the cache) and verify its sha256.

    Written to a temporary file next to ``dest`` and renamed only once the hash matches, so an interrupted or
    corrupted download never leaves a file that a later lookup would trust.
    """
    file, sha256 = OFFICIAL_WEIGHTS[name]
    dest = Path(dest) if dest is not None else cache_dir() / "weights" / file
    url = weights_url(name)
    print(f"aasist_lightning: downloading {url} to {dest}", file=sys.stderr)
    with atomic_path(dest) as tmp:  # deleted, and dest left as it was, when the block raises
        digest = hashlib.sha256()
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(1 << 16):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise WeightsError(
                f"download of {url} is corrupt: sha256 {digest.hexdigest()} != expected {sha256}; "
                f"nothing was saved to {dest}. Try again, or download the file yourself and pass its path."
            )
    return dest


def weights_locations(name_or_path: str | os.PathLike[str]) -> list[Path]:
    """Where the weights of ``name_or_path`` are looked up, whether or not a file is there yet: for an
    official name the file in $AASIST_WEIGHTS_DIR (when set), then the cache's; else the path itself. No
    output may replace these."""
    name = official_name(str(name_or_path))
    if name is None:
        return [Path(name_or_path).expanduser()]
    file = OFFICIAL_WEIGHTS[name][0]
    env_dir = os.environ.get("AASIST_WEIGHTS_DIR")
    from_env = [Path(env_dir).expanduser() / file] if env_dir else []
    return [*from_env, cache_dir() / "weights" / file]


def resolve_weights(name_or_path: str | os.PathLike[str]) -> Path:
    """Path of a weights file: an official name is looked up ($AASIST_WEIGHTS_DIR, cache, download), anything
    else must be an existing file. Raises :class:`WeightsNotFoundError` saying where it looked and how to
    fix it."""
    name = official_name(str(name_or_path))
    if name is None:
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path
        raise WeightsNotFoundError(
            f"weights file {path} does not exist (and {str(name_or_path)!r} is not an official checkpoint "
            f"name: {', '.join(OFFICIAL_WEIGHTS)})"
        )
    file = OFFICIAL_WEIGHTS[name][0]
    looked = []
    *from_env, cached = weights_locations(name)
    for candidate in from_env:
        if candidate.is_file():
            return candidate
        looked.append(f"$AASIST_WEIGHTS_DIR/{file} = {candidate}: not found")
    if not from_env:
        looked.append("$AASIST_WEIGHTS_DIR: not set")
    if cached.is_file():
        return cached
    looked.append(f"cache {cached}: not found")
    if _offline():
        looked.append("download: disabled by AASIST_OFFLINE=1")
    else:
        try:
            return download_weights(name, cached)
        # URLError, timeout, cut connection, a cache folder that cannot be written
        except (OSError, http.client.HTTPException, OutputPathError) as e:
            looked.append(f"download from {weights_url(name)}: failed ({e})")
    where = "\n  - ".join(looked)
    raise WeightsNotFoundError(
        f"official weights {name!r} ({file}) not found. Looked at:\n  - {where}\n"
        "Fix it with one of:\n"
        f"  1. export AASIST_WEIGHTS_DIR=/folder/containing/{file}\n"
        f"  2. pass the file's path instead of the name, e.g. AASIST.from_pretrained('/path/to/{file}')\n"
        f"  3. download it yourself (sha256 {OFFICIAL_WEIGHTS[name][1]}) from\n"
        f"     {weights_url(name)}\n     into {cached}"
        + (" (or unset AASIST_OFFLINE to let it download)" if _offline() else "")
    )


def _unpickling_reason(error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, without PyTorch's advice to retry with
    weights_only switched off (never for a file you did not write: unpickling can run arbitrary code)."""
    text = str(error)
    if "not an allowed global" in text or "Unsupported global" in text:
        return "it holds Python objects other than tensors and plain containers, which are never unpickled"
    detail = (
        text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines()
        if "WeightsUnpickler" in text
        else []
    )
    return f"it is truncated, corrupt or not a PyTorch file ({detail[0] if detail else type(error).__name__})"


def read_torch_file(path: str | os.PathLike[str], what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, with one-line errors that name the file and never
    repeat PyTorch's advice to switch weights_only off: :class:`WeightsNotFoundError` for a missing file,
    :class:`WeightsError` for a folder, an unreadable, truncated, corrupt or foreign file. ``what`` names the
    file's role in the messages ("checkpoint", "weights file")."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise WeightsNotFoundError(f"{what} {path} does not exist") from e
    except IsADirectoryError as e:
        raise WeightsError(f"{what} {path} is a folder: give the path of a file") from e
    except PermissionError as e:
        raise WeightsError(f"cannot read {what} {path}: permission denied") from e
    except Exception as e:  # torch raises UnpicklingError / RuntimeError / EOFError / ... for a damaged file
        if isinstance(e, pickle.UnpicklingError):
            reason = _unpickling_reason(e)
        else:
            # The first sentence: torch goes on about how the file may have been damaged.
            first = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
            reason = f"it is truncated, corrupt or not a PyTorch file ({first})"
        raise WeightsError(f"cannot read {what} {path}: {reason}") from e


def checkpoint_network(ckpt: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A training run's checkpoint (.ckpt): the network's weights (the LightningModule's ``model.*``
    entries) and the architecture it stores (its hyper-parameters in ``ARCH_KEYS`` that are set)."""
    hparams = ckpt.get("hyper_parameters")
    hparams = hparams if isinstance(hparams, Mapping) else {}
    stored = {k: hparams[k] for k in ARCH_KEYS if hparams.get(k) is not None}
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    return state, stored


def read_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The network's weights from a plain state_dict (``torch.load(weights_only=True)``, onto the CPU: the
    official files hold CUDA tensors) or from a training run's checkpoint (.ckpt), and the architecture the
    checkpoint stores (its hyper-parameters in ``ARCH_KEYS``; empty for a state_dict). Raises
    :class:`WeightsError` naming the file when it is truncated, corrupt or not a state_dict."""
    path = Path(path)
    try:
        obj = read_torch_file(path, "weights file")
    except WeightsError as e:
        raise WeightsError(f"{e}. Download or save it again.") from e.__cause__
    stored: dict[str, Any] = {}
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping) and "hyper_parameters" in obj:
        obj, stored = checkpoint_network(obj)
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        hint = ""
        if isinstance(obj, Mapping) and "state_dict" in obj:
            hint = (
                " It looks like a Lightning checkpoint: load it with the LightningModule, or save its "
                "model's state_dict."
            )
        raise WeightsError(
            f"weights file {path} holds a {type(obj).__name__}, not a plain state_dict "
            f"(a mapping of parameter names to tensors).{hint}"
        )
    return dict(obj), stored


def infer_hparams(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Hyper-parameters readable from the tensor shapes: ``filts[1:]``, ``gat_dims`` and the number of
    spectral nodes (``filts[0] // 3``). ``first_conv``, ``pool_ratios`` and ``temperatures`` leave no trace in
    the weights. Missing keys are left out of the result."""
    found: dict[str, Any] = {}
    blocks = []
    for i in range(4):  # encoder blocks 4 and 5 repeat filts[4]
        w = state_dict.get(f"encoder.{i}.0.conv1.weight")
        if w is None or w.dim() != 4:
            break
        blocks.append([int(w.shape[1]), int(w.shape[0])])
    if len(blocks) == 4:
        found["filts[1:]"] = blocks
    gat_s = state_dict.get("GAT_layer_S.att_proj.weight")
    htrg = state_dict.get("HtrgGAT_layer_ST11.proj_with_att.weight")
    if gat_s is not None and htrg is not None and gat_s.dim() == 2 and htrg.dim() == 2:
        found["gat_dims"] = [int(gat_s.shape[0]), int(htrg.shape[0])]
    pos = state_dict.get("pos_S")
    if pos is not None and pos.dim() == 3:
        found["spectral_nodes"] = int(pos.shape[1])
    return found


def guess_arch(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """The official architecture whose shapes this state_dict has, or None."""
    found = infer_hparams(state_dict)
    for name, hp in OFFICIAL_ARCHS.items():
        if (
            found.get("filts[1:]") == hp["filts"][1:]
            and found.get("gat_dims") == list(hp["gat_dims"])
            and found.get("spectral_nodes") == hp["filts"][0] // 3
        ):
            return name
    return None


def _first(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def _mismatch_hint(model: nn.Module, state_dict: Mapping[str, torch.Tensor], unexpected: list[str]) -> str:
    """Which hyper-parameter probably differs between the model and the checkpoint."""
    hints = []
    config = getattr(model, "config", None)
    found = infer_hparams(state_dict)
    if config is not None:
        if "filts[1:]" in found and found["filts[1:]"] != config["filts"][1:]:
            hints.append(
                f"filts differ: checkpoint has filts[1:]={found['filts[1:]']}, model {config['filts'][1:]}"
            )
        if "gat_dims" in found and found["gat_dims"] != config["gat_dims"]:
            hints.append(f"gat_dims differ: checkpoint has {found['gat_dims']}, model {config['gat_dims']}")
        if "spectral_nodes" in found and found["spectral_nodes"] != config["filts"][0] // 3:
            n = found["spectral_nodes"]
            hints.append(
                f"filts[0] differs: checkpoint has {n} spectral nodes (filts[0] in {3 * n}..{3 * n + 2}), "
                f"model filts[0]={config['filts'][0]} gives {config['filts'][0] // 3}"
            )
    arch = guess_arch(state_dict)
    same_arch = (
        config is not None
        and arch is not None
        and (
            config["filts"][1:] == OFFICIAL_ARCHS[arch]["filts"][1:]
            and config["gat_dims"] == OFFICIAL_ARCHS[arch]["gat_dims"]
        )
    )
    if arch is not None and not same_arch:
        hints.append(
            f"this looks like an {arch} checkpoint: use arch {arch} "
            f"(AASIST.from_pretrained({arch!r}) or the model={arch.lower().replace('-', '_')} config)"
        )
    for prefix in ("model.", "module.", "net."):
        if unexpected and all(k.startswith(prefix) for k in unexpected):
            hints.append(f"its keys start with {prefix!r} (a wrapper's checkpoint?): strip that prefix first")
    return "; ".join(hints) if hints else "the checkpoint was saved from a different network"


def load_weights_into(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> None:
    """``model.load_state_dict(state_dict, strict=True)``, with an error that lists the missing, unexpected
    and mis-shaped keys and names the hyper-parameter that probably differs."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    misshaped = [
        f"{k} {tuple(state_dict[k].shape)} in checkpoint vs {tuple(own[k].shape)} in model"
        for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or misshaped:
        # Two lines: what and the probable cause (the fix), then the evidence.
        keys = "; ".join(
            f"{len(keys)} {label}: {_first(keys, 2)}"
            for label, keys in (("mis-shaped", misshaped), ("missing", missing), ("unexpected", unexpected))
            if keys
        )
        hint = _mismatch_hint(model, state_dict, unexpected)
        raise WeightsError(f"{source} does not fit this model: {hint}\n  keys: {keys}")
    model.load_state_dict(state_dict, strict=True)


def load_official_weights(model: nn.Module, name_or_path: str | os.PathLike[str] = "AASIST-L") -> Path:
    """Load official (or any plain state_dict) weights into ``model`` strictly; returns the file used."""
    path = resolve_weights(name_or_path)
    load_weights_into(model, read_weights(path)[0], source=f"weights file {path}")
    return path
