"""Finding, downloading, verifying and loading the official weights. Nothing here touches the network: the
"download" reads ../shared through a file:// URL."""

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from aasist_lightning.models import (
    AASIST,
    OFFICIAL_ARCHS,
    HyperParameterError,
    WeightsError,
    WeightsNotFoundError,
    load_official_weights,
    resolve_weights,
)
from aasist_lightning.models import weights as weights_module


@pytest.fixture
def no_local_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $AASIST_WEIGHTS_DIR, an empty cache; returns the cache folder."""
    monkeypatch.delenv("AASIST_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("AASIST_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def shared_url(monkeypatch: pytest.MonkeyPatch, shared_dir: Path) -> None:
    """Serve the official files from ../shared/weights instead of GitHub."""
    monkeypatch.setattr(weights_module, "OFFICIAL_WEIGHTS_URL", (shared_dir / "weights").as_uri() + "/{file}")
    monkeypatch.delenv("AASIST_OFFLINE", raising=False)


def test_env_dir_is_used(shared_dir: Path) -> None:
    assert resolve_weights("AASIST-L") == shared_dir / "weights" / "AASIST-L.pth"
    assert resolve_weights("aasist_l") == shared_dir / "weights" / "AASIST-L.pth"


def test_explicit_path_wins(shared_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.pth"
    shutil.copy(shared_dir / "weights" / "AASIST.pth", path)
    assert resolve_weights(path) == path
    model = AASIST.from_pretrained(str(path))  # architecture recognised from the shapes
    assert model.config["gat_dims"] == OFFICIAL_ARCHS["AASIST"]["gat_dims"]


def test_cache_is_used(no_local_weights: Path, shared_dir: Path) -> None:
    cached = no_local_weights / "weights" / "AASIST.pth"
    cached.parent.mkdir(parents=True)
    shutil.copy(shared_dir / "weights" / "AASIST.pth", cached)
    assert resolve_weights("AASIST") == cached


def test_cache_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AASIST_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert weights_module.cache_dir() == tmp_path / "aasist_lightning"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert weights_module.cache_dir() == Path.home() / ".cache" / "aasist_lightning"


def test_download_verifies_and_caches(no_local_weights: Path, shared_url: None) -> None:
    path = resolve_weights("AASIST-L")
    assert path == no_local_weights / "weights" / "AASIST-L.pth"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == weights_module.OFFICIAL_WEIGHTS["AASIST-L"][1]
    assert [p.name for p in path.parent.iterdir()] == ["AASIST-L.pth"]  # no temporary file left
    assert trainable_count(AASIST.from_pretrained("AASIST-L")) == 85_306


def test_download_with_wrong_hash_keeps_nothing(
    no_local_weights: Path, shared_url: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(weights_module.OFFICIAL_WEIGHTS, "AASIST", ("AASIST.pth", "0" * 64))
    with pytest.raises(WeightsError, match=r"AASIST.pth is corrupt: sha256 51d2d9cf.* != expected 0000"):
        resolve_weights("AASIST")
    assert not (no_local_weights / "weights").exists()  # nor the folder made for it


def test_offline_and_nothing_local(no_local_weights: Path) -> None:
    with pytest.raises(WeightsNotFoundError) as info:
        AASIST.from_pretrained("AASIST-L")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for expected in (
        "$AASIST_WEIGHTS_DIR: not set",
        f"cache {no_local_weights / 'weights' / 'AASIST-L.pth'}: not found",
        "download: disabled by AASIST_OFFLINE=1",
        "export AASIST_WEIGHTS_DIR=",
        "AASIST.from_pretrained('/path/to/AASIST-L.pth')",
        "https://github.com/clovaai/aasist/raw/a04c9863f63d44471dde8a6abcb3b082b07cd1d1/models/weights/AASIST-L.pth",
    ):
        assert expected in message


def test_failed_download_is_reported(
    no_local_weights: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AASIST_OFFLINE", raising=False)
    monkeypatch.setenv("AASIST_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(weights_module, "OFFICIAL_WEIGHTS_URL", (tmp_path / "nowhere").as_uri() + "/{file}")
    with pytest.raises(
        WeightsNotFoundError, match=r"(?s)empty/AASIST.pth: not found.*download from file://.*failed"
    ):
        resolve_weights("AASIST")


def test_missing_explicit_path(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match=r"file .*nope.pth does not exist .*AASIST-L, AASIST"):
        AASIST.from_pretrained(tmp_path / "nope.pth")


def test_other_architecture_is_explained() -> None:
    with pytest.raises(WeightsError) as info:
        load_official_weights(AASIST(), "AASIST")
    message = str(info.value)
    assert "AASIST.pth does not fit this model" in message
    assert "93 mis-shaped: pos_S (1, 23, 64) in checkpoint vs (1, 23, 24) in model" in message
    assert len(message.splitlines()) == 2  # what and the fix, then the evidence
    assert "filts differ" in message and "gat_dims differ: checkpoint has [64, 32], model [24, 32]" in message
    assert "this looks like an AASIST checkpoint: use arch AASIST" in message
    mismatch = r"(?s)filts\[0\] differs.*pos_S \(1, 23, 24\) in checkpoint vs \(1, 33, 24\)"
    with pytest.raises(WeightsError, match=mismatch):
        AASIST.from_pretrained("AASIST-L", filts=[100, [1, 32], [32, 32], [32, 24], [24, 24]])


def test_prefixed_keys_are_explained(shared_dir: Path, tmp_path: Path) -> None:
    state = torch.load(shared_dir / "weights" / "AASIST-L.pth", map_location="cpu", weights_only=True)
    path = tmp_path / "wrapped.pth"
    torch.save({f"model.{k}": v for k, v in state.items()}, path)
    expected = r"(?s)start with 'model\.'.*229 missing: .*229 unexpected: model\."
    with pytest.raises(WeightsError, match=expected):
        load_official_weights(AASIST(), path)


def test_truncated_file(shared_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "AASIST-L.pth"
    path.write_bytes((shared_dir / "weights" / "AASIST-L.pth").read_bytes()[:5000])
    with pytest.raises(WeightsError, match=r"cannot read weights file .*AASIST-L.pth: it is truncated"):
        AASIST.from_pretrained(path)


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "epoch": 3}, path)
    with pytest.raises(WeightsError, match=r"holds a dict, not a plain state_dict.*Lightning checkpoint"):
        AASIST.from_pretrained(path)


def test_a_training_checkpoint_gives_its_networks_weights(tmp_path: Path) -> None:
    """model.pretrained=<run's .ckpt>: fine-tuning on from a run's weights, with a new optimizer."""
    from inference_fixtures import TINY_ARCH, random_checkpoint

    ckpt = random_checkpoint(tmp_path / "best.ckpt")
    model = AASIST.from_pretrained(ckpt, **TINY_ARCH)
    stored = torch.load(ckpt, weights_only=True)["state_dict"]
    assert model.state_dict().keys() == {k.removeprefix("model.") for k in stored}
    assert all(torch.equal(value, stored[f"model.{key}"]) for key, value in model.state_dict().items())


def test_a_training_checkpoint_gives_the_network_it_was_trained_in(tmp_path: Path) -> None:
    """first_conv, pool_ratios and temperatures leave no trace in the weights: they come from the .ckpt, and
    an override that would change them is refused (a strict load would accept the other network)."""
    from inference_fixtures import TINY_ARCH, random_checkpoint

    trained = {"first_conv": 9, "pool_ratios": [0.5, 0.5, 0.5, 0.5], "temperatures": [1.0, 1.0, 50.0, 50.0]}
    ckpt = random_checkpoint(tmp_path / "best.ckpt", **trained)
    model = AASIST.from_pretrained(ckpt)
    assert {k: model.config[k] for k in trained} == trained and model.config["filts"] == TINY_ARCH["filts"]
    assert model.kernel_size == 9 and model.nb_samp == TINY_ARCH["nb_samp"]
    longer = AASIST.from_pretrained(ckpt, **{**TINY_ARCH, **trained, "nb_samp": 32000, "freq_mask_width": 0})
    assert longer.nb_samp == 32000 and longer.config["freq_mask_width"] == 0  # input and masking only
    with pytest.raises(HyperParameterError, match=r"first_conv=3: .*best.ckpt was trained with first_conv=9"):
        AASIST.from_pretrained(ckpt, **TINY_ARCH)
    # The same network: first_conv 8 becomes the odd 9; the 4th pool ratio and temperature are unused.
    same = {"first_conv": 8, "pool_ratios": [0.5, 0.5, 0.5, 0.9], "temperatures": [1, 1, 50, 7]}
    assert AASIST.from_pretrained(ckpt, **same).kernel_size == 9


def test_unknown_override() -> None:
    with pytest.raises(ValueError, match=r"unknown hyper-parameter\(s\) \['first_cnv'\]"):
        AASIST.from_pretrained("AASIST-L", first_cnv=64)


def trainable_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
