"""Validation of a composed training config, run before any data is generated or weights are loaded.

Every problem is reported with the key, the offending value and how to fix it; all problems of a config are
listed in one `ConfigError` so a user fixes them in one go.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from aasist_lightning.cli.checker import Checker, config_error, plain
from aasist_lightning.cli.errors import ConfigError as ConfigError  # what the checks raise, for their callers
from aasist_lightning.cli.overrides import unknown_added_keys
from aasist_lightning.cli.trainer_checks import check_callbacks, check_optimized_metric, check_trainer
from aasist_lightning.data.corpora import CORPUS_SPLITS, SUBSET_NAMES_2021, SUBSETS_2021
from aasist_lightning.data.dataset import BAD_AUDIO_POLICIES
from aasist_lightning.runtime.allocator import ALLOCATOR_MODES
from aasist_lightning.runtime.hardware import MEMORY_FORMATS
from aasist_lightning.values import is_integer, is_real

#: The largest seed NumPy (and L.seed_everything) accepts.
MAX_SEED = 2**32 - 1


def _model_keys() -> list[str]:
    from aasist_lightning.lit.module import AASISTLitModule

    return [name for name in inspect.signature(AASISTLitModule.__init__).parameters if name != "self"]


def _data_keys() -> list[str]:
    from aasist_lightning.lit.datamodule import ASVspoofDataModule

    return [name for name in inspect.signature(ASVspoofDataModule.__init__).parameters if name != "self"]


def _unknown_keys(c: Checker, section: str, given: Iterable[str], known: list[str]) -> None:
    for key in given:
        if key in known or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {section}.{close[0]}?" if close else f"the known keys are {', '.join(known)}"
        c.add(f"{section}.{key}", "...", "is not an option of this group", f"remove it or rename it ({hint})")


#: How to fix each network hyper-parameter; what is wrong with it is the network's to say (check_hparams).
ARCH_FIXES = {
    "nb_samp": "use the official 64600 (4.04 s at 16 kHz)",
    "first_conv": "use a positive sinc filter length, e.g. 128 (the paper's)",
    "filts": "use the official layout, e.g. model.filts=[70,[1,32],[32,32],[32,24],[24,24]]",
    "gat_dims": "e.g. model.gat_dims=[24,32] (AASIST-L)",
    "pool_ratios": "e.g. model.pool_ratios=[0.4,0.5,0.7,0.5]",
    "temperatures": "use the official [2.0,2.0,100.0,100.0]",
    "freq_mask_width": "use 0 (off) or e.g. 20 (the paper's)",
}


def _check_arch(c: Checker, model: DictConfig) -> None:
    """The network's own validator, without building it; its problems are relabelled with the config keys."""
    from aasist_lightning.models import ARCH_KEYS, HyperParameterError, check_hparams

    try:
        c.arch = check_hparams(**{k: plain(model.get(k)) for k in ARCH_KEYS})
    except HyperParameterError as err:
        for key, value, why in err.problems:
            c.add(f"model.{key}", value, why, ARCH_FIXES[key])


def _check_crop(c: Checker, data: DictConfig) -> None:
    """The data's crop length (``data.nb_samp``, the model's by default) is the network's input length too:
    checked by the network's validator once the model's own values passed it (else they are reported)."""
    from aasist_lightning.models import HyperParameterError, check_hparams

    crop = data.get("nb_samp")
    if c.arch is None or crop is None or crop == c.arch["nb_samp"]:
        return
    try:
        check_hparams(**{**c.arch, "nb_samp": plain(crop)})
    except HyperParameterError as err:
        for _, value, why in err.problems:
            c.add("data.nb_samp", value, why, f"leave it out (it follows model.nb_samp={c.arch['nb_samp']})")


def _check_model(c: Checker, model: DictConfig) -> None:
    _unknown_keys(c, "model", model.keys(), _model_keys())
    _check_arch(c, model)
    weights = plain(model.get("class_weights"))
    if weights is not None and (
        not isinstance(weights, list)
        or len(weights) != 2
        or not all(is_real(w) and w >= 0 for w in weights)
        or sum(weights) <= 0
    ):
        c.add(
            "model.class_weights", weights, "must be null or [spoof, bonafide] >= 0", "e.g. [0.1,0.9] or null"
        )
    _check_inference(c, "model.inference", model.get("inference"))
    memory_format = model.get("memory_format", "auto")
    if memory_format not in MEMORY_FORMATS:
        c.add(
            "model.memory_format",
            memory_format,
            f"is not one of {', '.join(MEMORY_FORMATS)}",
            "e.g. model.memory_format=auto",
        )
    pretrained = model.get("pretrained")
    if pretrained is not None and not (isinstance(pretrained, str) and pretrained.strip()):
        c.add(
            "model.pretrained", pretrained, "must be AASIST-L, AASIST, a .pth path or null", "e.g. AASIST-L"
        )
    _check_optim(c, model)


def _check_inference(c: Checker, key: str, inference: Any) -> None:
    from aasist_lightning.runtime.options import BACKENDS, PRECISIONS

    given = plain(inference)
    if given is None:
        return
    if not isinstance(given, dict):
        c.add(key, given, "must be {backend: ..., precision: ...}", f"e.g. {key}.backend=auto")
        return
    for name, allowed in (("backend", BACKENDS), ("precision", PRECISIONS)):
        value = given.get(name, "auto")
        if value not in allowed:
            c.add(f"{key}.{name}", value, f"is not one of {', '.join(allowed)}", f"e.g. {key}.{name}=auto")
    _unknown_keys(c, key, given.keys(), ["backend", "precision"])


def _check_arguments(
    c: Checker, key: str, node: DictConfig, given_later: tuple[str, ...], own: tuple[str, ...]
) -> None:
    """``node``'s keys must be arguments of its ``_target_`` (the optimizer / scheduler is built only once
    training starts: a stray key was a traceback then). ``given_later``: arguments the module passes itself;
    ``own``: keys the module takes off before building it."""
    target = node.get("_target_")
    module, _, name = str(target).rpartition(".")
    try:
        parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    except (ImportError, AttributeError, ValueError, TypeError):  # not importable, or not a callable
        c.add(f"{key}._target_", target, "cannot be imported", f"use a class such as {_KNOWN_TARGETS[key]}")
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    known = [name for name in parameters if name not in ("self", *given_later)] + list(own)
    _unknown_keys(c, key, node.keys(), known)


_KNOWN_TARGETS = {
    "model.optimizer": "torch.optim.Adam (model/optimizer=adam)",
    "model.scheduler": "torch.optim.lr_scheduler.CosineAnnealingLR (model/scheduler=cosine)",
}


def _check_optim(c: Checker, model: DictConfig) -> None:
    optimizer = model.get("optimizer")
    if not isinstance(optimizer, DictConfig) or not optimizer.get("_target_"):
        c.add("model.optimizer", optimizer, "must name an optimizer (_target_)", "use model/optimizer=adam")
        return
    _check_arguments(c, "model.optimizer", optimizer, given_later=("params",), own=())
    lr = optimizer.get("lr")
    if not is_real(lr) or lr <= 0:
        c.add(
            "model.optimizer.lr",
            lr,
            "the learning rate must be a finite number > 0",
            "e.g. model.optimizer.lr=5e-5",
        )
    wd = optimizer.get("weight_decay", 0.0)
    if not is_real(wd) or wd < 0:
        c.add("model.optimizer.weight_decay", wd, "must be a finite number >= 0", "e.g. 5e-5, or 0 for none")
    betas = plain(optimizer.get("betas"))
    if betas is not None and (
        not isinstance(betas, list) or len(betas) != 2 or not all(is_real(b) and 0 <= b < 1 for b in betas)
    ):
        c.add("model.optimizer.betas", betas, "must be two numbers in [0, 1)", "use [0.9, 0.999]")
    scheduler = model.get("scheduler")
    if isinstance(scheduler, DictConfig) and scheduler.get("_target_"):
        _check_arguments(
            c, "model.scheduler", scheduler, given_later=("optimizer",), own=("interval", "frequency")
        )
        t_max = scheduler.get("T_max")
        if t_max is not None and not (is_integer(t_max) and t_max >= 1):
            c.add(
                "model.scheduler.T_max", t_max, "must be an integer >= 1", "leave it null (the run's length)"
            )
        interval = scheduler.get("interval", "epoch")
        if interval not in ("step", "epoch"):
            c.add(
                "model.scheduler.interval", interval, "must be step or epoch", "use step (per optimizer step)"
            )
        eta_min = scheduler.get("eta_min")
        if eta_min is not None and (
            not is_real(eta_min) or eta_min < 0 or (is_real(lr) and eta_min >= lr > 0)
        ):
            c.add(
                "model.scheduler.eta_min", eta_min, f"must be >= 0 and below the lr ({lr})", "e.g. 0 or 5e-6"
            )


def _check_data(c: Checker, data: DictConfig) -> None:
    if str(data.get("_target_", "")).endswith(".ASVspoofDataModule"):  # not a user's own data module
        _unknown_keys(c, "data", data.keys(), _data_keys())
    # The data module validates these too, but its errors would come wrapped in Hydra's instantiation error.
    unset = [key for key in data if OmegaConf.is_missing(data, key)]
    for key in unset:
        c.add(f"data.{key}", "???", "is not set (this data group needs it)", f"pass data.{key}=<path>")
    batch_size = data.get("batch_size")
    c.int_at_least("data.batch_size", batch_size, 1, "e.g. data.batch_size=16 (the paper's)")
    eval_batch_size = data.get("eval_batch_size")
    if eval_batch_size is not None:
        c.int_at_least("data.eval_batch_size", eval_batch_size, 1, "e.g. 64, or null for data.batch_size")
    for split in ("train", "dev", "eval"):
        key, subset = f"data.{split}_subset", data.get(f"{split}_subset")
        fix = f"use an even number, e.g. {key}=1000 (half bona fide, half spoof), or null for the whole split"
        if subset is not None and c.int_at_least(key, subset, 2, fix) and subset % 2:
            c.add(key, subset, "must be even (half bona fide, half spoof)", fix)
    workers = data.get("num_workers")
    if workers is not None:
        c.int_at_least("data.num_workers", workers, 0, "use null (automatic) or a count of worker processes")
    policy = data.get("on_bad_audio", "error")
    if policy not in BAD_AUDIO_POLICIES:
        c.add("data.on_bad_audio", policy, f"is not one of {', '.join(BAD_AUDIO_POLICIES)}", "e.g. error")
    if not isinstance(data.get("generate", False), bool):
        c.add("data.generate", data.get("generate"), "must be true or false", "leave it to the data group")
    corpus = data.get("corpus", "asvspoof2019_la")
    corpora = ["asvspoof2019_la", *CORPUS_SPLITS]
    if corpus not in corpora:
        c.add(
            "data.corpus",
            corpus,
            f"is not one of {', '.join(corpora)}",
            "pick the group, e.g. data=in_the_wild",
        )
    subsets = plain(data.get("subsets"))
    if subsets is not None and (
        not str(corpus).startswith("asvspoof2021")
        or not isinstance(subsets, list)
        or not subsets
        or any(s not in SUBSET_NAMES_2021 for s in subsets)
    ):
        c.add(
            "data.subsets",
            subsets,
            f"ASVspoof 2021 subsets are a list of {', '.join(SUBSETS_2021)} (ASVspoof 2021 groups only)",
            "e.g. data.subsets=[eval] (the official evaluation subset), or null for all",
        )


def _check_splits(c: Checker, data: DictConfig, splits: Mapping[str, str]) -> None:
    """Each split the run reads needs its manifest or data.root: otherwise the run fails after the work."""
    if any(OmegaConf.is_missing(data, k) for k in data):
        return  # reported by _check_data
    corpus_splits = CORPUS_SPLITS.get(str(data.get("corpus", "asvspoof2019_la")))
    for split, why in splits.items():
        if corpus_splits is not None and split not in corpus_splits and data.get(f"{split}_manifest") is None:
            others = ",".join(s for s in corpus_splits if s != "train")
            fix = f"splits=[{others}]" if why.startswith("splits") else f"pass data.{split}_manifest=<csv>"
            c.add(
                "data.corpus",
                data.get("corpus"),
                f"has no {split} split (it has: {', '.join(corpus_splits)}), but {why} reads it",
                fix,
            )
            continue
        if data.get(f"{split}_manifest") is None and data.get("root") is None:
            c.add(
                f"data.{split}_manifest",
                None,
                f"is not set and there is no data.root, but {why} reads the {split} split",
                f"pass data.{split}_manifest=<csv> or data.root=/path/to/LA"
                + (", or test=false" if why == "test=true" else ""),
            )


def unset_unread_manifests(cfg: DictConfig, splits: Iterable[str]) -> None:
    """Set the data group's unset (``???``) manifests of splits the run does not read to null: eval.py and
    ``train=false`` with ``data=manifest`` need no training CSV."""
    data = cfg.get("data")
    unread = [f"{s}_manifest" for s in ("train", "dev", "eval") if s not in splits]
    if isinstance(data, DictConfig):
        with open_dict(data):
            for key in [k for k in data if k in unread and OmegaConf.is_missing(data, k)]:
                data[key] = None


def check_config(
    cfg: DictConfig,
    sections: Iterable[str] = ("model", "trainer", "data"),
    splits: Mapping[str, str] | None = None,
) -> None:
    """Raise a `ConfigError` listing every invalid value of `cfg` (a composed train or eval config).
    ``splits``: the data splits the run will read ('train', 'dev', 'eval'), each with the setting that reads
    it (e.g. ``{"eval": "test=true"}``): each must have a manifest or data.root."""
    c = Checker()
    seed = cfg.get("seed")
    if seed is not None and not (is_integer(seed) and 0 <= seed <= MAX_SEED):
        c.add("seed", seed, f"must be an integer in [0, {MAX_SEED}] (NumPy's seeds) or null", "e.g. seed=42")
    flags = {key: cfg.get(key) for key in ("train", "test") if key in cfg}
    for key, value in flags.items():
        if not isinstance(value, bool):
            c.add(key, value, "must be true or false", f"{key}=true or {key}=false")
    if flags.get("train") is False and flags.get("test") is False:
        c.add("train", False, "with test=false the run does nothing", "train=true, test=true or both")
    if isinstance(cfg.get("callbacks"), DictConfig):
        check_callbacks(c, cfg.callbacks)
    check_optimized_metric(c, cfg.get("optimized_metric"))
    for key, fix in unknown_added_keys(cfg):
        c.add(f"+{key}", cfg.get(key), "is not a key of this config (added with +)", fix)
    mode = cfg.get("allocator", "system")
    if mode not in ALLOCATOR_MODES:
        c.add("allocator", mode, "is not an allocator mode", f"use one of {', '.join(ALLOCATOR_MODES)}")
    checks: dict[str, Callable[[Checker, DictConfig], None]] = {
        "model": _check_model,
        "trainer": lambda checker, node: check_trainer(checker, node, cfg.get("train") is not False),
        "data": _check_data,
    }
    for section in sections:
        node = cfg.get(section)
        if isinstance(node, DictConfig):
            checks[section](c, node)
        else:
            c.add(section, node, "is missing", f"pick one with {section}=<option> (see conf/{section}/)")
    if isinstance(cfg.get("data"), DictConfig):
        _check_splits(c, cfg.data, splits or {})
        _check_crop(c, cfg.data)
    if c.problems:
        raise config_error("invalid configuration", c.problems)
