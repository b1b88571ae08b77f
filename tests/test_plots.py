"""DET curve and score histogram PNGs."""

from pathlib import Path

import numpy as np
import pytest

from aasist_lightning.metrics.plots import plot_det, plot_score_histogram

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("plot", [plot_det, plot_score_histogram])
@pytest.mark.parametrize(
    "case",
    [
        "overlapping",
        "separable",  # EER 0: the curve runs off the axes, the finer low-error ticks are used
        "tied",
    ],
)
def test_plot_writes_png_and_returns_path(tmp_path, plot, case):
    rng = np.random.default_rng(0)
    bona, spoof = {
        "overlapping": (rng.normal(1, 1, 300), rng.normal(-1, 1, 2000)),
        "separable": (rng.normal(10, 1, 50), rng.normal(-10, 1, 50)),
        "tied": (np.round(rng.normal(1, 1, 200)), np.round(rng.normal(-1, 1, 200))),
    }[case]
    target = tmp_path / "sub" / "plot.png"
    result = plot(bona, spoof, target, title=case)
    assert result == target and isinstance(result, Path)
    assert target.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in target.parent.iterdir()] == ["plot.png"]  # atomic write: no temporary left


def test_plot_overwrites_and_accepts_str_path(tmp_path):
    target = tmp_path / "det.png"
    target.write_bytes(b"old")
    plot_det([0.5, 1.0, 2.0], [-1.0, 0.7], str(target))
    assert target.read_bytes()[:8] == PNG_MAGIC


def test_plot_rejects_bad_scores(tmp_path):
    with pytest.raises(ValueError, match="no spoof scores"):
        plot_det([1.0, 2.0], [], tmp_path / "x.png")
    with pytest.raises(ValueError, match="NaN or infinite"):
        plot_score_histogram([1.0, np.nan], [0.0], tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_plots_reach_tensorboard(tmp_path: Path) -> None:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from aasist_lightning.lit.loggers import log_images

    rng = np.random.default_rng(0)
    png = plot_det(rng.normal(1, 1, 50), rng.normal(-1, 1, 50), tmp_path / "det.png")
    tb = TensorBoardLogger(tmp_path / "tb", name="", version=0)
    log_images([CSVLogger(tmp_path / "csv"), tb], {"test/det_curve": png}, step=3)
    tb.experiment.flush()
    events = EventAccumulator(str(tmp_path / "tb" / "version_0")).Reload()
    (image,) = events.Images("test/det_curve")
    assert image.step == 3 and image.encoded_image_string.startswith(PNG_MAGIC)
