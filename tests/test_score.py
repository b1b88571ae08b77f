"""The aasist-score CLI: official baseline results, the three score formats, JSON / plots, and bad input."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aasist_lightning.cli.score import main

PROTOCOL_EVAL = "asvspoof2019/protocols/ASVspoof2019.LA.cm.eval.trl.txt"
JSON_KEYS = {"eer", "min_tdcf", "min_dcf", "act_dcf", "cllr", "per_attack_eer", "n_bonafide", "n_spoof"}


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _error(capsys, *argv) -> str:
    """Run expecting a user error: exit status 2, a one-line message and the --debug hint, no traceback."""
    code, _, err = _run(capsys, *argv)
    assert code == 2
    message, hint = err.splitlines()
    assert message.startswith("aasist-score: error: ") and "--debug" in hint and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("baseline", "eer", "min_tdcf"),
    [
        ("B01_CQCC-GMM_LA_primary_eval.txt", 9.572, 0.23594),
        ("B02_LFCC-GMM_LA_primary_eval.txt", 8.090, 0.21105),
    ],
)
def test_official_baselines(capsys, shared_dir, asv_eval_scores, tmp_path, baseline, eer, min_tdcf):
    out_json = tmp_path / "out" / "result.json"
    scores = shared_dir / "asvspoof2019" / "cm_scores" / baseline
    code, out, _ = _run(capsys, scores, "--asv-scores", asv_eval_scores, "--json", out_json)
    assert code == 0
    result = json.loads(out_json.read_text())
    assert set(result) >= JSON_KEYS
    assert round(result["eer"], 3) == eer
    assert round(result["min_tdcf"], 5) == min_tdcf
    assert (result["n_bonafide"], result["n_spoof"]) == (7355, 63882)
    assert sorted(result["per_attack_eer"]) == [f"A{i:02d}" for i in range(7, 20)]
    assert f"{eer:.3f} %" in out and f"{min_tdcf:.5f}" in out and "A19" in out
    assert list(out_json.parent.iterdir()) == [out_json]  # atomic write leaves no temporary file


def test_asv_scores_of_another_partition_are_refused(capsys, shared_dir):
    """The dev ASV scores (A01-A06) with eval CM scores (A07-A19) gave a min t-DCF off in the 5th digit."""
    scores = shared_dir / "asvspoof2019" / "cm_scores" / "B01_CQCC-GMM_LA_primary_eval.txt"
    asv_dev = shared_dir / "asvspoof2019" / "asv_scores" / "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt"
    message = _error(capsys, scores, "--asv-scores", asv_dev)
    assert "ASV scores of attacks A01–A06" in message and "scores attacks A07–A19" in message


def test_two_column_file_with_protocol_matches_six_column(capsys, shared_dir, tmp_path):
    baseline = shared_dir / "asvspoof2019" / "cm_scores" / "B02_LFCC-GMM_LA_primary_eval.txt"
    two_col = tmp_path / "b02.txt"
    two_col.write_text("".join(f"{f[1]} {f[5]}\n" for f in (line.split() for line in baseline.open())))
    args = ["--quiet", "--json"]  # min t-DCF: covered by test_official_baselines
    assert _run(capsys, baseline, *args, tmp_path / "six.json")[0] == 0
    assert (
        _run(capsys, two_col, "--protocol", shared_dir / PROTOCOL_EVAL, *args, tmp_path / "two.json")[0] == 0
    )
    six, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("six", "two"))
    assert {k: six[k] for k in JSON_KEYS} == {k: two[k] for k in JSON_KEYS}


def _write_aasist(path: Path, rows) -> Path:
    path.write_text("".join(f"{u} {a} {k} {s}\n" for u, a, k, s in rows))
    return path


@pytest.fixture
def small(tmp_path) -> tuple[Path, Path]:
    """A small AASIST-format score file and its protocol (3 bona fide, 4 spoof)."""
    rng = np.random.default_rng(0)
    rows = [(f"LA_E_{i}", "-", "bonafide", f"{rng.normal(2):.4f}") for i in range(3)]
    rows += [(f"LA_E_{i}", f"A{7 + i % 2:02d}", "spoof", f"{rng.normal(-1):.4f}") for i in range(3, 7)]
    protocol = tmp_path / "protocol.txt"
    protocol.write_text("".join(f"LA_0001 {u} - {a} {k}\n" for u, a, k, _ in rows))
    return _write_aasist(tmp_path / "scores.txt", rows), protocol


def test_aasist_format_without_asv_reports_the_rest(capsys, small, tmp_path):
    scores, protocol = small
    out_json = tmp_path / "r.json"
    code, out, _ = _run(capsys, scores, "--protocol", protocol, "--json", out_json)
    assert code == 0
    result = json.loads(out_json.read_text())
    assert result["min_tdcf"] is None and "ASV scores" in result["min_tdcf_note"]
    assert result["score_format"] == "aasist"
    assert set(result["per_attack_eer"]) == {"A07", "A08"}
    assert "not computed" in out and "min DCF" in out and "Cllr" in out


def test_plots(capsys, small, tmp_path):
    scores, _ = small
    code, _, _ = _run(
        capsys, scores, "-q", "--det-plot", tmp_path / "det.png", "--hist-plot", tmp_path / "h.png"
    )
    assert code == 0
    for name in ("det.png", "h.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_header_line_is_skipped(capsys, small, tmp_path):
    _, protocol = small
    lines = (tmp_path / "scores.txt").read_text().splitlines()
    two_col = tmp_path / "with_header.txt"
    two_col.write_text(
        "filename\tcm-score\n" + "".join(f"{ln.split()[0]}\t{ln.split()[3]}\n" for ln in lines)
    )
    assert _run(capsys, two_col, "--protocol", protocol, "-q")[0] == 0


# ---------------------------------------------------------------------------------------------- bad input
def test_missing_files_are_named(capsys, small, tmp_path):
    scores, _ = small
    assert "score file " in _error(capsys, tmp_path / "nope.txt")
    assert "protocol " in _error(capsys, scores, "--protocol", tmp_path / "p.txt")
    assert "ASV score file " in _error(capsys, scores, "--asv-scores", tmp_path / "asv.txt")


def test_nan_score_names_the_line(capsys, small):
    scores, _ = small
    lines = scores.read_text().splitlines()
    lines[4] = lines[4].rsplit(" ", 1)[0] + " nan"
    scores.write_text("\n".join(lines) + "\n")
    err = _error(capsys, scores)
    assert f"{scores}:5: score 'nan' is not finite" in err


def test_inf_score_names_the_line(capsys, small):
    scores, _ = small
    lines = scores.read_text().splitlines()
    lines[1] = lines[1].rsplit(" ", 1)[0] + " -inf"
    scores.write_text("\n".join(lines) + "\n")
    assert f"{scores}:2: score '-inf' is not finite" in _error(capsys, scores)


def test_one_class_empty(capsys, tmp_path):
    scores = _write_aasist(tmp_path / "s.txt", [(f"u{i}", "A07", "spoof", i / 10) for i in range(5)])
    err = _error(capsys, scores)
    assert f"{scores}: 0 bona fide and 5 spoof trials" in err and "both classes" in err


def test_hard_decisions(capsys, tmp_path):
    rows = [(f"u{i}", "-", "bonafide", 1) for i in range(3)] + [
        (f"v{i}", "A07", "spoof", i % 2) for i in range(4)
    ]
    scores = _write_aasist(tmp_path / "s.txt", rows)
    err = _error(capsys, scores)
    assert f"{scores}: only 2 distinct score value(s) (0, 1) in 7 trials" in err and "hard decisions" in err


def test_utterances_missing_from_protocol(capsys, small, tmp_path):
    scores, protocol = small
    lines = protocol.read_text().splitlines()
    protocol.write_text("\n".join(lines[2:]) + "\n")
    err = _error(capsys, scores, "--protocol", protocol)
    assert f"2 utterance(s) in {scores} are not in the protocol {protocol} (first: LA_E_0, LA_E_1)" in err


def test_protocol_trials_without_scores(capsys, small):
    scores, protocol = small
    scores.write_text("\n".join(scores.read_text().splitlines()[:-1]) + "\n")
    err = _error(capsys, scores, "--protocol", protocol)
    assert f"1 trial(s) of the protocol {protocol} have no score in {scores} (first: LA_E_6)" in err


def test_label_disagreement_with_protocol(capsys, small):
    scores, protocol = small
    protocol.write_text(protocol.read_text().replace("LA_E_0 - - bonafide", "LA_E_0 - A07 spoof"))
    err = _error(capsys, scores, "--protocol", protocol)
    assert "1 utterance(s) have a key or attack" in err and "(first: LA_E_0)" in err


def test_duplicate_ids(capsys, small):
    scores, protocol = small
    lines = scores.read_text().splitlines()
    scores.write_text("\n".join([*lines, lines[1]]) + "\n")
    assert f"{scores}:8: utterance LA_E_1 already scored on line 2" in _error(capsys, scores)
    protocol.write_text(protocol.read_text() + protocol.read_text().splitlines()[0] + "\n")
    scores.write_text("\n".join(lines) + "\n")
    assert f"{protocol}:8: utterance LA_E_0 already listed on line 1" in _error(
        capsys, scores, "--protocol", protocol
    )


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("LA_E_9 A07 spoof", "3 fields where the first line has 4 (utt_id attack key score)"),
        ("LA_E_9 A07 spoof abc", "score 'abc' is not a number"),
        ("LA_E_9 A07 fake 0.3", "key 'fake' must be 'bonafide' or 'spoof'"),
    ],
)
def test_unparsable_line(capsys, small, bad_line, message):
    scores, _ = small
    scores.write_text(scores.read_text() + bad_line + "\n")
    assert f"{scores}:8: {message}" in _error(capsys, scores)


def test_unknown_layout_and_two_columns_without_protocol(capsys, tmp_path):
    three = tmp_path / "three.txt"
    three.write_text("a b 0.5\n")
    assert f"{three}:1: 3 fields; expected one of 2 (utt_id score)" in _error(capsys, three)
    two = tmp_path / "two.txt"
    two.write_text("a 0.5\nb 0.7\n")
    assert "has two columns (utt_id score): give --protocol" in _error(capsys, two)


def test_bad_asv_file(capsys, small, tmp_path):
    scores, _ = small
    asv = tmp_path / "asv.txt"
    asv.write_text("bonafide target 1.0\nbonafide nontarget -1.0\nA07 spoof x\n")
    assert f"{asv}:3: score 'x' is not a number" in _error(capsys, scores, "--asv-scores", asv)
    asv.write_text("bonafide target 1.0\nbonafide nontarget -1.0\n")
    assert f"{asv}: no spoof trials" in _error(capsys, scores, "--asv-scores", asv)
    asv.write_text("bonafide target\n")
    assert f"{asv}:1: expected 3 fields 'attack key score'" in _error(capsys, scores, "--asv-scores", asv)


def test_module_entry_point_exit_status(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "aasist_lightning.cli.score", str(tmp_path / "missing.txt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    message = result.stderr.splitlines()[0]
    assert message == f"aasist-score: error: score file {tmp_path / 'missing.txt'} not found"


def test_an_output_that_is_an_input_is_refused(capsys, small, tmp_path):
    scores, protocol = small
    before = scores.read_text()
    for flag in ("--json", "--det-plot", "--hist-plot"):
        assert "is also an input" in _error(capsys, scores, flag, scores)
    assert "is also an input" in _error(capsys, scores, "--protocol", protocol, "--json", protocol)
    assert scores.read_text() == before
    assert "is a folder" in _error(capsys, scores, "--json", tmp_path)


def test_a00_and_dash_are_the_same_bona_fide_attack(capsys, small):
    """Published AASIST score files write bona fide trials with attack A00; the protocols write '-'."""
    scores, protocol = small
    scores.write_text(scores.read_text().replace(" - bonafide ", " A00 bonafide "))
    code, out, _ = _run(capsys, scores, "--protocol", protocol)
    assert code == 0 and "EER" in out


def test_a_real_mismatch_names_the_field_and_both_values(capsys, small):
    scores, protocol = small
    protocol.write_text(protocol.read_text().replace("LA_E_4 - A07 spoof", "LA_E_4 - A09 spoof"))
    err = _error(capsys, scores, "--protocol", protocol)
    assert "LA_E_4 has attack 'A07' in the score file and 'A09' in the protocol" in err


def test_a_folder_or_a_pipe_is_not_a_score_file(capsys, tmp_path):
    assert f"score file {tmp_path} is a folder" in _error(capsys, tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert f"score file {fifo} is not a regular file" in _error(capsys, fifo)  # and it does not block


def test_a_small_file_with_two_values_is_scored_not_called_hard_decisions(capsys, tmp_path):
    two = _write_aasist(tmp_path / "two.txt", [("u1", "-", "bonafide", 0.8), ("u2", "A07", "spoof", -1.5)])
    code, out, _ = _run(capsys, two, "--json", tmp_path / "r.json")
    assert code == 0 and "1 bona fide, 1 spoof trials" in out
    assert json.loads((tmp_path / "r.json").read_text())["eer"] == 0.0
    asv = tmp_path / "asv.txt"
    asv.write_text("bonafide target 5\nbonafide target 6\n- nontarget -3\n- nontarget -2\nA07 spoof 1\n")
    assert _run(capsys, two, "--asv-scores", asv)[0] == 0  # the t-DCF too
    four = [(f"u{i}", "-" if i % 2 else "A07", "bonafide" if i % 2 else "spoof", i % 2) for i in range(4)]
    assert _run(capsys, _write_aasist(tmp_path / "four.txt", four))[0] == 0
    five = [*four, ("u9", "-", "bonafide", 1)]
    assert "hard decisions" in _error(capsys, _write_aasist(tmp_path / "five.txt", five))


def test_a_full_disk_replaces_no_earlier_output(capsys, small, tmp_path, monkeypatch):
    """The JSON and the DET plot are written before the histogram fails: neither replaces its earlier file,
    the message names the file that could not be written, and no temporary file is left."""
    from aasist_lightning.metrics import plots

    scores, _ = small
    outputs = {name: tmp_path / name for name in ("r.json", "det.png", "hist.png")}
    for path in outputs.values():
        path.write_text("earlier")
        path.chmod(0o640)

    def full_disk(bonafide, spoof, path, title=None):
        Path(path).write_bytes(b"half a picture")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(plots, "plot_score_histogram", full_disk)
    flags = (
        "--json",
        outputs["r.json"],
        "--det-plot",
        outputs["det.png"],
        "--hist-plot",
        outputs["hist.png"],
    )
    err = _error(capsys, scores, *flags)
    assert f"{outputs['hist.png']}: No space left on device; no earlier output was replaced" in err
    assert all(p.read_text() == "earlier" and p.stat().st_mode & 0o777 == 0o640 for p in outputs.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "det.png",
        "hist.png",
        "protocol.txt",
        "r.json",
        "scores.txt",
    ]


def test_debug_shows_the_traceback(capsys, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        main([str(tmp_path / "missing.txt"), "--debug"])


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--json"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.splitlines() == [
        "aasist-score: error: argument --json: expected one argument",
        "(see aasist-score --help)",
    ]


def test_2021_and_asvspoof5_keys_as_protocol_read_attack_then_key(capsys, tmp_path):
    from aasist_lightning.metrics import read_cm_protocol

    keys = tmp_path / "trial_metadata.txt"
    keys.write_text(
        "LA_0009 LA_E_1 alaw ita_tx A07 spoof notrim eval\n"
        "LA_0023 LA_E_2 none ita_tx bonafide bonafide notrim eval\n"  # 2021 LA: attack, then key
        "T_4850 T_3 F - - - AC3 bonafide bonafide -\n"  # ASVspoof 5
        "LA_0031 LA_E_4 pstn usa_tx A19 spoof trim eval\n"
    )
    protocol = read_cm_protocol(keys)
    assert protocol.labels == {"LA_E_1": 0, "LA_E_2": 1, "T_3": 1, "LA_E_4": 0}
    assert protocol.attacks == {"LA_E_1": "A07", "LA_E_2": "bonafide", "T_3": "bonafide", "LA_E_4": "A19"}
    # eval.py's score file ('-' for bona fide) agrees with those keys.
    rows = [("LA_E_1", "A07", "spoof", "-1"), ("LA_E_2", "-", "bonafide", "2"), ("T_3", "-", "bonafide", "1")]
    scores = _write_aasist(tmp_path / "s.txt", [*rows, ("LA_E_4", "A19", "spoof", "0.5")])
    assert _run(capsys, scores, "--protocol", keys)[0] == 0


def test_attack_names_are_printed_as_text_not_markup(capsys, tmp_path):
    rows = [("u1", "-", "bonafide", 1.0), ("u2", "-", "bonafide", 2.0), ("u3", "[/A07]", "spoof", -1.0)]
    rows += [("u4", "[bold]", "spoof", -0.5), ("u5", "[bold]", "spoof", 0.3)]
    code, out, err = _run(capsys, _write_aasist(tmp_path / "s.txt", rows))
    assert code == 0 and "[/A07]" in out and "[bold]" in out, err


def test_an_asv_system_rejecting_every_spoof_leaves_the_t_dcf_undefined(capsys, small, tmp_path, recwarn):
    """C2 = 0: the 2019 t-DCF's normaliser min(C1, C2) is 0, which gave a NaN min t-DCF (and in the JSON)."""
    scores, _ = small
    asv = tmp_path / "asv.txt"
    asv.write_text("bonafide target 5\nbonafide target 6\n- nontarget -3\n- nontarget -2\nA07 spoof -1000\n")
    err = _error(capsys, scores, "--asv-scores", asv, "--json", tmp_path / "r.json")
    assert f"--asv-scores {asv}: the t-DCF is undefined: its normaliser min(C1, C2) is 0" in err
    assert "the ASV rejects every spoof trial at its EER threshold" in err
    assert not (tmp_path / "r.json").exists() and not [w for w in recwarn if "divide" in str(w.message)]


def test_a_utf8_bom_is_not_part_of_the_first_id(capsys, small, tmp_path):
    """Files saved by some Windows editors start with a byte order mark."""
    scores, protocol = small
    asv = tmp_path / "asv.txt"
    asv.write_text("A07 spoof 1\nbonafide target 5\nbonafide target 6\n- nontarget -3\n- nontarget -2\n")
    for path in (scores, protocol, asv):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code, out, err = _run(capsys, scores, "--protocol", protocol, "--asv-scores", asv)
    assert code == 0 and "min t-DCF" in out, err


def test_a_missing_dev_file_names_the_option(capsys, small, tmp_path):
    scores, _ = small
    err = _error(capsys, scores, "--calibrate-with", tmp_path / "dev.txt")
    assert f"--calibrate-with score file {tmp_path / 'dev.txt'} not found" in err


@pytest.mark.parametrize("option", ["--det-plot", "--hist-plot"])
def test_a_plot_named_other_than_png_is_refused(capsys, small, tmp_path, option):
    """The plots are PNG images: det.pdf held PNG bytes under a PDF name."""
    scores, _ = small
    err = _error(capsys, scores, option, tmp_path / "det.pdf")
    assert f"{option} {tmp_path / 'det.pdf'}: the plot is a PNG image" in err
    assert not (tmp_path / "det.pdf").exists()
    assert _run(capsys, scores, "-q", option, tmp_path / "det.PNG")[0] == 0
