"""The checks of the ``aasist-eval`` config and the per-corpus configs of ``corpora=[...]``."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from aasist_lightning.cli.config_checks import ConfigError, check_config, unset_unread_manifests
from aasist_lightning.cli.resume import checkpoint_file
from aasist_lightning.values import is_integer

log = logging.getLogger(__name__)

SPLITS = ("dev", "eval")
CROPS = ("head", "full", "windows")


def _splits(cfg: DictConfig) -> list[str]:
    value = cfg.get("splits")
    plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    if isinstance(plain, str):
        plain = [plain]
    if not isinstance(plain, list) or not plain or any(s not in SPLITS for s in plain):
        raise ConfigError(
            f"splits={plain!r}: must be a non-empty list of {' / '.join(SPLITS)}. Fix: e.g. "
            "splits=[dev,eval] or splits=[eval]."
        )
    return list(dict.fromkeys(plain))


def _ckpt_path(cfg: DictConfig) -> Path | None:
    value = cfg.get("ckpt_path")
    if value is None or str(value).strip() == "":
        return None
    return checkpoint_file(
        value, "best.ckpt", "or leave ckpt_path=null and set model.pretrained=AASIST-L (the official weights)"
    )


def check_eval_config(cfg: DictConfig) -> tuple[list[str], Path | None]:
    splits = _splits(cfg)
    ckpt = _ckpt_path(cfg)
    if ckpt is None and not cfg.model.get("pretrained"):
        raise ConfigError(
            "nothing to evaluate: ckpt_path is null and model.pretrained is null. Fix: pass "
            "ckpt_path=<run>/checkpoints/best.ckpt, or model.pretrained=AASIST-L (official weights)."
        )
    batch_size = cfg.get("batch_size")
    if batch_size is not None and (not is_integer(batch_size) or batch_size < 1):
        raise ConfigError(
            f"batch_size={batch_size!r}: must be a positive integer or null (data.eval_batch_size)"
        )
    progress = cfg.get("progress", True)
    if not isinstance(progress, bool):
        raise ConfigError(f"progress={progress!r}: must be true or false")
    crop, hop = cfg.get("crop", "head"), cfg.get("hop")
    if crop not in CROPS:
        raise ConfigError(
            f"crop={crop!r}: must be one of {' / '.join(CROPS)}. Fix: e.g. crop=head (official)"
        )
    # Its upper bound is the nb_samp of the network that runs (a checkpoint's own): checked once it is loaded.
    if hop is not None and (isinstance(hop, bool) or not isinstance(hop, int) or hop < 1):
        raise ConfigError(
            f"hop={hop!r}: must be a number of samples in 1..nb_samp or null (= nb_samp). Fix: "
            "e.g. hop=32300 (half-overlapping windows)"
        )
    unset_unread_manifests(cfg, splits)
    check_config(cfg, sections=("model", "data"), splits={s: f"splits=[{','.join(splits)}]" for s in splits})
    return splits, ckpt


#: Short names accepted in ``corpora=[...]``.
CORPUS_ALIASES = {
    "la19": "asvspoof2019_la",
    "la21": "asvspoof2021_la",
    "df21": "asvspoof2021_df",
    "asv5": "asvspoof5",
    "itw": "in_the_wild",
}


def corpus_configs(cfg: DictConfig, output_dir: Path) -> dict[str, DictConfig]:
    """``corpora=[...]`` -> one eval config per corpus (its eval split, outputs in ``output_dir/<name>``).
    ``data`` names the configured data group as it is; a corpus name (or alias) gets the data group's settings
    with that corpus's layout and ``roots.<name>``. Missing roots: a ConfigError, or skipped when
    ``skip_missing``."""
    from aasist_lightning.lit.datamodule import CORPORA

    value = cfg.get("corpora")
    names = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"corpora={names!r}: must be a non-empty list, e.g. corpora=[la19,la21,itw]")
    choices = ", ".join(["data", *CORPORA, *CORPUS_ALIASES])
    roots = cfg.get("roots") or {}
    subs: dict[str, DictConfig] = {}
    missing: list[str] = []
    for entry in dict.fromkeys(names):
        name = CORPUS_ALIASES.get(entry, entry)
        if name != "data" and name not in CORPORA:
            raise ConfigError(f"corpora: {entry!r} is not a corpus. Fix: use any of {choices}")
        data = cfg.data.copy()
        if name != "data":
            root = roots.get(name)
            if root is None or not Path(str(root)).expanduser().is_dir():
                missing.append(f"{name} (roots.{name}={root!r})")
                continue
            with open_dict(data):
                data.corpus, data.root = name, str(root)
                data.subsets = ["eval"] if name.startswith("asvspoof2021") else None
                data.generator, data.generate = None, False
                data.train_manifest = data.dev_manifest = data.eval_manifest = None
        sub = cfg.copy()
        with open_dict(sub):
            sub.data, sub.splits, sub.corpora = data, ["eval"], None
            sub.paths.output_dir = str(output_dir / name)
        subs[name] = sub
    if missing and not cfg.get("skip_missing", False):
        raise ConfigError(
            f"corpora: no folder for {', '.join(missing)}. Fix: roots.<name>=DIR (or the environment "
            "variable AASIST_ROOT_<NAME>, e.g. AASIST_ROOT_IN_THE_WILD), or skip_missing=true to skip them"
        )
    for line in missing:
        log.warning("skipping corpus %s: no such folder (skip_missing=true)", line)
    if not subs:
        raise ConfigError("corpora: every corpus is missing. Fix: set roots.<name>=DIR")
    return subs
