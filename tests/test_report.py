"""aasist-report and the sweep report written at the end of every multirun: a fabricated multirun folder
gives one row per job (a failed and an interrupted job included), seed groups, intervals, plots and a paired
comparison; bad folders end with one line and exit status 2; a real `train.py -m` sweep on debug=tiny writes
the report itself, a job made to fail included."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_train import run_entry_point, run_train_py, tiny_corpus  # the debug=tiny corpus and runners

from aasist_lightning.cli.errors import write_job_error
from aasist_lightning.cli.report import main, write_report
from aasist_lightning.cli.report_compare import compare

__all__ = ["tiny_corpus"]  # a fixture, used by name

N_TRIALS = (300, 200)  # bona fide, spoof trials of the fabricated eval set


def fake_job(
    sweep: Path,
    name: str,
    overrides: list[str],
    separation: float | None,
    seed: int,
    error: str | None = None,
) -> Path:
    """A job folder as train.py -m leaves it; ``separation`` None: no results (interrupted, or ``error``)."""
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if error is not None:
        write_job_error(job, "failed", ValueError(error))
    if separation is None:
        return job
    rng = np.random.default_rng(seed)
    bona = rng.normal(separation, 1.0, N_TRIALS[0])
    spoof = rng.normal(0.0, 1.0, N_TRIALS[1])
    lines = [f"E_{i:04d} - bonafide {s:.6f}" for i, s in enumerate(bona)]
    lines += [f"E_{i + N_TRIALS[0]:04d} A{7 + i % 13:02d} spoof {s:.6f}" for i, s in enumerate(spoof)]
    (job / "scores").mkdir()
    (job / "scores" / "eval.txt").write_text("\n".join(lines) + "\n")
    from aasist_lightning.metrics import compute_eer

    eer = 100 * compute_eer(bona, spoof)[0]
    results = {
        "val/eer_best": eer + 1.0,
        "test/eer": eer,
        "test/min_tdcf": eer / 50,
        "wall_time_s": 12.5,
        "scores": {"eval": str(job / "scores" / "eval.txt"), "dev": None},
        "config": {"seed": seed, "optimized_metric": "val/eer_best"},
    }
    (job / "results.json").write_text(json.dumps(results))
    return job


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """2 first_conv × 2 seeds, plus a failed job, a killed one and an interrupted one."""
    folder = tmp_path / "multirun"
    folder.mkdir()
    (folder / "multirun.yaml").write_text(yaml.safe_dump({"optimized_metric": "val/eer_best"}))
    job = 0
    for first_conv, separation in (("128", 2.5), ("256", 1.0)):
        for seed in ("1", "2"):
            overrides = ["debug=tiny", f"model.first_conv={first_conv}", f"seed={seed}"]
            fake_job(folder, str(job), overrides, separation, seed=job)
            job += 1
    fake_job(folder, "4", ["debug=tiny", "model.first_conv=512", "seed=1"], None, 0, error="boom at epoch 1")
    fake_job(folder, "5", ["debug=tiny", "model.first_conv=512", "seed=2"], None, 0)  # killed: no record
    write_job_error(
        fake_job(folder, "6", ["debug=tiny", "model.first_conv=512", "seed=3"], None, 0),
        "interrupted",
        KeyboardInterrupt(),
    )
    return folder


def test_report_has_one_row_per_job_with_seed_groups_and_intervals(sweep: Path) -> None:
    _, images = write_report(sweep, n_boot=200)
    data = json.loads((sweep / "report.json").read_text())
    assert [j["job"] for j in data["jobs"]] == ["0", "1", "2", "3", "4", "5", "6"]
    assert data["params"] == ["model.first_conv", "seed"]  # debug=tiny is the same everywhere
    status = {j["job"]: (j["status"], j["error"]) for j in data["jobs"]}
    assert status["4"] == ("failed", "ValueError: boom at epoch 1")
    assert status["5"][0] == "interrupted" and "no results.json" in status["5"][1]
    assert status["6"] == ("interrupted", "KeyboardInterrupt")
    assert data["best"] in ("0", "1")  # the well-separated first_conv=128 runs
    for job in data["jobs"][:4]:
        ci = job["test/eer_ci"]
        assert ci["low"] <= job["metrics"]["test/eer"] <= ci["high"] and ci["method"] == "trials"
        assert {"test/min_dcf", "test/cllr"} <= job["metrics"].keys()  # computed from the eval scores
    groups = {g["params"]["model.first_conv"]: g for g in data["seed_groups"]}
    assert set(groups) == {"128", "256"} and groups["128"]["jobs"] == ["0", "1"]
    eers = [j["metrics"]["test/eer"] for j in data["jobs"][:2]]
    assert groups["128"]["stats"]["test/eer"]["mean"] == pytest.approx(np.mean(eers))
    assert groups["128"]["stats"]["test/eer"]["max"] == pytest.approx(max(eers))
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert len(rows) == 7 and rows[4]["status"] == "failed" and rows[0]["model.first_conv"] == "128"
    md = (sweep / "report.md").read_text()
    assert "| first_conv | seed |" in md and "Seed groups" in md and "boom at epoch 1" in md
    assert {p.name for p in images} >= {"test_eer.png", "val_eer_best.png", "det_best.png"}
    assert all(p.stat().st_size > 1000 for p in images)


def test_unreadable_job_files_are_rows_not_crashes(sweep: Path) -> None:
    (sweep / "0" / "results.json").write_text("{")  # cut short
    (sweep / "1" / ".hydra" / "overrides.yaml").write_text("[unclosed")
    write_report(sweep, n_boot=0, plots=False)
    rows = {j["job"]: j for j in json.loads((sweep / "report.json").read_text())["jobs"]}
    assert rows["0"]["status"] == "failed" and "results.json is unreadable" in rows["0"]["error"]
    assert rows["1"]["status"] == "failed" and "overrides.yaml is unreadable" in rows["1"]["error"]
    assert rows["2"]["status"] == "ok"
    write_job_error(sweep / "3", "failed", RuntimeError("the rerun failed"))  # newer than its results.json
    write_report(sweep, n_boot=0, plots=False)
    rows = {j["job"]: j for j in json.loads((sweep / "report.json").read_text())["jobs"]}
    assert (rows["3"]["status"], rows["3"]["error"]) == ("failed", "RuntimeError: the rerun failed")


def test_speakers_of_the_eval_manifest_are_resampled_as_blocks(sweep: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "eval.csv"
    ids = [f"E_{i:04d}" for i in range(sum(N_TRIALS))]
    rows = [
        f"{u}.wav,{'bonafide' if i < N_TRIALS[0] else 'spoof'},-,spk{i % 20},{u}" for i, u in enumerate(ids)
    ]
    manifest.write_text("path,label,attack,speaker,utt_id\n" + "\n".join(rows) + "\n")
    results = json.loads((sweep / "0" / "results.json").read_text())
    results["config"]["data"] = {"eval_manifest": str(manifest)}
    (sweep / "0" / "results.json").write_text(json.dumps(results))
    write_report(sweep, n_boot=100, plots=False)
    jobs = json.loads((sweep / "report.json").read_text())["jobs"]
    assert jobs[0]["test/eer_ci"]["method"] == "speakers" and jobs[1]["test/eer_ci"]["method"] == "trials"


def test_jobs_the_sweep_never_started_are_rows(tmp_path: Path) -> None:
    folder = tmp_path / "stopped"
    hydra_node = {
        "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": None},
        "overrides": {"task": ["debug=tiny", "model.first_conv=128,256", "seed=1,2"]},
    }
    fake_job(folder, "0", ["debug=tiny", "model.first_conv=128", "seed=1"], 2.0, 0)
    (folder / "multirun.yaml").write_text(yaml.safe_dump({"hydra": hydra_node}))
    write_report(folder, n_boot=0, plots=False)
    rows = json.loads((folder / "report.json").read_text())["jobs"]
    assert [(j["job"], j["status"]) for j in rows] == [
        ("0", "ok"), ("1", "not started"), ("2", "not started"), ("3", "not started"),
    ]  # fmt: skip
    assert rows[1]["params"] == {"model.first_conv": "128", "seed": "2"}


def test_optuna_sweep_without_multirun_yaml_has_trial_parameters_as_columns(tmp_path: Path) -> None:
    folder = tmp_path / "optuna"
    for job, (lr, separation) in enumerate(((4.3284502212938785e-05, 1.0), (1.05e-4, 2.5), (3.3e-5, 1.5))):
        fake_job(folder, str(job), [f"model.optimizer.lr={lr}", "hparams_search=optuna_eer"], separation, job)
    best = {"name": "optuna", "best_params": {"model.optimizer.lr": 1.05e-4}, "best_value": 1.0}
    (folder / "optimization_results.yaml").write_text(yaml.safe_dump(best))
    write_report(folder, n_boot=0, plots=False)
    data = json.loads((folder / "report.json").read_text())
    assert data["params"] == ["model.optimizer.lr"] and data["best"] == "1"
    assert data["optuna"]["best_params"] == {"model.optimizer.lr": 1.05e-4}
    md = (folder / "report.md").read_text()
    assert "| 1 ★ | 0.000105 |" in md and "| 0 | 4.328e-05 |" in md and "Optuna's best trial" in md


def test_compare_finds_the_planted_difference_and_not_a_null_one(sweep: Path) -> None:
    planted = compare(sweep, "first_conv=128", "first_conv=256", n_boot=300)
    assert "significantly worse" in planted and "B is significantly worse" in planted
    null = compare(sweep, "2", "3", n_boot=300)  # two seeds of the same setting
    assert "No significant difference" in null


def test_cli_prints_the_table_and_exits_0(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep), "--bootstrap", "50", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "interrupted" in out and "boom at epoch 1" in out and "report.md" in out
    assert not (sweep / "plots").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "is not a Hydra multirun folder"),
        (lambda p: (p / ".hydra").mkdir() or p, "a single run's folder"),
        (lambda p: (p / "multirun.yaml").write_text("{}\n") and p, "holds no job"),
        (lambda p: p / "missing", "no such folder"),
        (lambda p: (p / "report.md").write_text("x") and p / "report.md", "report.md is not a folder"),
    ],
    ids=["not-a-multirun", "single-run", "empty-multirun", "missing", "a-file"],
)
def test_bad_folder_is_one_line_and_exit_2(tmp_path: Path, make, message: str, capsys) -> None:
    folder = make(tmp_path)
    assert main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(folder) in err and "Traceback" not in err


def test_compare_of_unknown_jobs_is_bad_input(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:  # a comparison needs replicates
        main([str(sweep), "--compare", "0", "1", "--bootstrap", "0"])
    assert usage.value.code == 2 and "--compare needs bootstrap replicates" in capsys.readouterr().err
    assert main([str(sweep), "--compare", "0", "9"]) == 2
    assert "selects no finished job" in capsys.readouterr().err


def test_report_of_100_jobs_takes_seconds(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "multirun.yaml").write_text("{}\n")
    for i in range(100):
        overrides = [f"model.first_conv={(64, 128, 256, 512)[i % 4]}", f"lr={i // 4 % 5}", f"seed={i // 20}"]
        fake_job(folder, str(i), overrides, 1.0 + (i % 4) / 2, seed=i)
    started = time.perf_counter()
    write_report(folder)  # 1000 bootstrap replicates per job, plots included
    elapsed = time.perf_counter() - started
    print(f"report of 100 jobs: {elapsed:.1f} s", file=sys.stderr)
    assert elapsed < 60
    assert len(json.loads((folder / "report.json").read_text())["seed_groups"]) == 20


# ------------------------------------------------------------------------------- python train.py -m, for real
@pytest.mark.usefixtures("one_thread")
def test_multirun_with_failing_jobs_goes_on_writes_the_report_and_exits_2(
    repo_root: Path, tmp_path: Path, tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """first_conv=-3 is bad input: those jobs fail at the config check, the sweep goes on, the report has one
    row per job, and the multirun exits with status 2 naming the failed jobs."""
    sweep = tmp_path / "multirun"
    with pytest.raises(SystemExit) as stop:
        run_entry_point(
            monkeypatch, repo_root, "-m", "debug=tiny", f"data.root={tiny_corpus}", "logger=none",
            "~callbacks.test_plots", "model.first_conv=-3,3", "seed=1,2", "trainer.max_epochs=1",
            "hydra.callbacks.sweep_report.n_boot=100", f"hydra.sweep.dir={sweep}",
        )  # fmt: skip
    assert stop.value.code == 2
    data = json.loads((sweep / "report.json").read_text())
    rows = {j["job"]: j for j in data["jobs"]}
    assert [rows[j]["status"] for j in "0123"] == ["failed", "failed", "ok", "ok"]
    assert "model.first_conv=-3" in rows["0"]["error"] and rows["0"]["params"]["model.first_conv"] == "-3"
    assert (sweep / "0" / "error.txt").read_text().startswith("failed\nConfigError: ")
    assert "Fix: use a positive sinc filter length" in (sweep / "report.md").read_text()  # cut at 80 before
    assert "test/eer" in rows["2"]["metrics"] and rows["2"]["test/eer_ci"] is not None
    assert {g["params"]["model.first_conv"]: g["jobs"] for g in data["seed_groups"]} == {"3": ["2", "3"]}
    assert (sweep / "report.md").is_file() and (sweep / "plots" / "det_best.png").is_file()


@pytest.mark.slow  # 8 tiny trainings in a fresh process: ~60 s on 2 cores
def test_two_by_two_sweep_with_two_seeds_end_to_end(
    repo_root: Path, tmp_path: Path, tiny_corpus: Path
) -> None:
    sweep = tmp_path / "sweep"
    run_train_py(
        repo_root, tmp_path, "-m", "debug=tiny", f"data.root={tiny_corpus}", "logger=wandb",
        "~callbacks.test_plots", "model.first_conv=3,5", "model.optimizer.lr=1e-3,1e-4", "seed=1,2",
        "trainer.max_epochs=2", f"hydra.sweep.dir={sweep}", timeout=600,
    )  # fmt: skip
    data = json.loads((sweep / "report.json").read_text())
    assert len(data["jobs"]) == 8 and all(j["status"] == "ok" for j in data["jobs"])
    assert data["params"] == ["model.first_conv", "model.optimizer.lr", "seed"]
    assert len(data["seed_groups"]) == 4 and all(len(g["jobs"]) == 2 for g in data["seed_groups"])
    assert data["best"] is not None
    (report_run,) = (sweep / "wandb").glob("offline-run-*")  # the W&B summary run of the sweep
    summary = next(report_run.glob("*.wandb")).read_bytes()
    assert b"sweep-report" in summary and b"tiny-sweep" in summary  # group: <task_name>-<sweep folder>
    (job_run,) = (sweep / "0" / "wandb").glob("offline-run-*")
    assert b"tiny-sweep" in next(job_run.glob("*.wandb")).read_bytes()


def test_an_eval_py_sweep_is_picked_by_its_eer_and_compared_on_its_score_files(tmp_path: Path) -> None:
    """eval.py -m jobs record eval/* metrics and splits.eval.score_file (train.py: test/*, scores.eval)."""
    folder = tmp_path / "multirun"
    for job, (crop, separation) in enumerate((("head", 1.0), ("windows", 2.5))):
        path = fake_job(folder, str(job), [f"crop={crop}"], separation, seed=job)
        trained = json.loads((path / "results.json").read_text())
        results = {
            "eval/eer": trained["test/eer"],
            "eval/cllr": 0.1 * job,  # would pick job 0 if the best were chosen by the first metric
            "splits": {"eval": {"score_file": trained["scores"]["eval"]}},
            "config": {"seed": 42},
        }
        (path / "results.json").write_text(json.dumps(results))
    write_report(folder, n_boot=50, plots=False)
    data = json.loads((folder / "report.json").read_text())
    assert (
        data["best"] == "1"
        and "best job by eval/eer (the test set itself)" in (folder / "report.md").read_text()
    )
    assert all(job["eval/eer_ci"] is not None for job in data["jobs"])  # the score files were found
    # The interval is named by the jobs' own split in every output, as in the table (no test/*).
    assert "test/eer_ci" not in data["jobs"][0]
    assert "eval/eer_ci_low,eval/eer_ci_high" in (folder / "report.csv").read_text().splitlines()[0]
    # The columns computed from the score files are named as the jobs name their metrics (no test/*).
    header = next(ln for ln in (folder / "report.md").read_text().splitlines() if ln.startswith("| job"))
    assert "eval/min_dcf" in header and "eval/eer 95% CI" in header and "test/" not in header, header
    assert "EER(A) - EER(B) = +23.000 points" in compare(folder, "0", "1", n_boot=100)


# ------------------------------------------------------------------------------------- outputs and bad input
def test_a_report_file_that_cannot_be_written_replaces_none(sweep: Path, capsys) -> None:
    """report.md, .csv, .json and the plots agree: one destination that cannot be written leaves them all."""
    write_report(sweep, n_boot=50)
    outputs = sorted([*sweep.glob("report.*"), *(sweep / "plots").glob("*.png")])
    before = {p: p.read_bytes() for p in outputs}
    results = json.loads((sweep / "0" / "results.json").read_text())
    (sweep / "0" / "results.json").write_text(json.dumps({**results, "test/eer": 99.0}))
    for blocked in (sweep / "report.csv", sweep / "plots" / "det_best.png"):
        blocked.chmod(0o444)
        assert main([str(sweep), "--bootstrap", "50"]) == 2
        err = capsys.readouterr().err
        assert f"output {blocked} is read-only" in err and "Fix: make it writable or move it away" in err
        assert "choose another output path" not in err and "Traceback" not in err
        assert {p: p.read_bytes() for p in outputs} == before
        assert sorted([*sweep.glob("report.*"), *(sweep / "plots").glob("*")]) == outputs  # no temporaries
        blocked.chmod(0o644)
    assert main([str(sweep), "--bootstrap", "50"]) == 0
    assert "| 99 |" in (sweep / "report.md").read_text()


def test_a_moved_sweep_finds_its_eval_scores_in_the_job_folders(sweep: Path, tmp_path: Path) -> None:
    """results.json records the absolute path of scores/eval.txt, which a copied or moved sweep lacks."""
    moved = sweep.rename(tmp_path / "moved")
    write_report(moved, n_boot=50, plots=False)
    jobs = json.loads((moved / "report.json").read_text())["jobs"]
    assert all(j["test/eer_ci"] is not None and "test/cllr" in j["metrics"] for j in jobs[:4])
    assert "No significant difference" in compare(moved, "2", "3", n_boot=100)
    (moved / "1" / "scores" / "eval.txt").unlink()
    write_report(moved, n_boot=0, plots=False)
    job = json.loads((moved / "report.json").read_text())["jobs"][1]
    assert job["status"] == "ok" and "test/cllr" not in job["metrics"]
    assert f"eval scores not found: neither {sweep / '1' / 'scores' / 'eval.txt'}" in job["error"]
    assert str(moved / "1" / "scores" / "eval.txt") in job["error"]


def test_a_score_file_error_names_its_file_once(sweep: Path) -> None:
    score_file = sweep / "0" / "scores" / "eval.txt"
    lines = score_file.read_text().splitlines()
    score_file.write_text("\n".join([*lines[:4], "E_0004 - bonafide nan", *lines[5:]]) + "\n")
    write_report(sweep, n_boot=0, plots=False)
    error = json.loads((sweep / "report.json").read_text())["jobs"][0]["error"]
    assert (
        error.startswith(f"{score_file}:5: score 'nan' is not finite") and error.count(str(score_file)) == 1
    )


@pytest.mark.parametrize(("a", "b"), [("0", "0"), ("0,1", "1,2"), ("first_conv=128", "seed=1")])
def test_compare_of_overlapping_sides_is_bad_input(sweep: Path, a: str, b: str, capsys) -> None:
    assert main([str(sweep), "--compare", a, b]) == 2
    line = capsys.readouterr().err.splitlines()[0]
    assert "are on both sides" in line and "give two sets of jobs that share no job" in line


def test_overrides_and_errors_are_printed_as_text_not_markup(sweep: Path, capsys) -> None:
    (sweep / "0" / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["model.first_conv=[/A07]"]))
    write_job_error(sweep / "4", "failed", ValueError("[bold]boom[/bold]"))
    assert main([str(sweep), "--bootstrap", "0", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "[/A07]" in out and "[bold]boom[/bold]" in out
