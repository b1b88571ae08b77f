"""Readers of the standard corpora in their released layouts (real-format protocol lines), and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aasist_lightning.data.corpora import (
    READERS,
    read_asvspoof5,
    read_asvspoof2021,
    read_folder,
    read_in_the_wild,
)
from aasist_lightning.data.protocols import BONAFIDE, SPOOF, ProtocolError

LA21_KEYS = """\
LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
LA_0023 LA_E_5085671 none - bonafide bonafide notrim progress
LA_0015 LA_E_1000147 g722 loc_tx A19 spoof trim hidden_track
LA_0031 LA_E_2000000 pstn usa_tx bonafide bonafide notrim eval
"""
DF21_KEYS = """\
LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -
VCC2018_SF1 DF_E_2000013 low_mp3 vcc2018 bonafide bonafide notrim eval bonafide - - - -
LA_0043 DF_E_2000016 high_m4a vcc2020 Task1-team20 spoof notrim eval neural_vocoder_autoregressive \
Task1 team20 FF en
"""
ASV5_TRAIN = """\
T_4850 T_0000000000 F - - - AC3 A05 spoof -
T_3734 T_0000000011 F - - - - bonafide bonafide -
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def wav(path: Path, seconds: float = 0.2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(16000 * seconds), np.float32), 16000)
    return path


def test_asvspoof2021_la_subsets_and_conditions(tmp_path: Path) -> None:
    write(tmp_path / "keys/LA/CM/trial_metadata.txt", LA21_KEYS)
    split = read_asvspoof2021(tmp_path, "LA", ["eval"])
    assert [t.utt_id for t in split.trials] == ["LA_E_9332881", "LA_E_2000000"]
    first = split.trials[0]
    assert (first.label, first.attack, first.speaker) == (SPOOF, "A07", "LA_0009")
    assert first.path == tmp_path / "ASVspoof2021_LA_eval/flac/LA_E_9332881.flac"
    assert split.conditions["LA_E_9332881"] == {"codec": "alaw", "channel": "ita_tx", "subset": "eval"}
    assert split.trials[1].attack == "-"
    assert len(read_asvspoof2021(tmp_path, "LA", None).trials) == 4
    assert [t.utt_id for t in READERS["asvspoof2021_la"](tmp_path, "progress+hidden_track").trials] == [
        "LA_E_5085671",
        "LA_E_1000147",
    ]


def test_asvspoof2021_df_keeps_vocoder_and_source(tmp_path: Path) -> None:
    write(tmp_path / "keys/DF/CM/trial_metadata.txt", DF21_KEYS)
    split = read_asvspoof2021(tmp_path, "DF", None)
    assert [t.label for t in split.trials] == [SPOOF, BONAFIDE, SPOOF]
    assert split.conditions["DF_E_2000016"] == {
        "codec": "high_m4a",
        "source": "vcc2020",
        "vocoder": "neural_vocoder_autoregressive",
        "subset": "eval",
    }
    assert split.trials[2].attack == "Task1-team20"


def test_df_keys_given_for_la_name_the_file_line_and_what_they_look_like(tmp_path: Path) -> None:
    keys = write(tmp_path / "keys/LA/CM/trial_metadata.txt", DF21_KEYS)
    with pytest.raises(ProtocolError, match=rf"{keys}:1: .* 13.*ASVspoof 2021 DF keys"):
        read_asvspoof2021(tmp_path, "LA", ["eval"])


def test_a_key_outside_the_vocabulary_and_a_wrong_root(tmp_path: Path) -> None:
    keys = write(
        tmp_path / "keys/LA/CM/trial_metadata.txt", LA21_KEYS.replace("spoof notrim eval", "fake notrim eval")
    )
    with pytest.raises(ProtocolError, match=rf"{keys}:1: key 'fake'"):
        read_asvspoof2021(tmp_path, "LA")
    with pytest.raises(ProtocolError, match=r"not found: check data\.root"):
        read_asvspoof2021(tmp_path / "nowhere", "DF")


def test_asvspoof5_layout_with_or_without_the_protocols_folder(tmp_path: Path) -> None:
    write(tmp_path / "ASVspoof5_protocols/ASVspoof5.train.tsv", ASV5_TRAIN)
    split = read_asvspoof5(tmp_path, "train")
    assert [(t.utt_id, t.label, t.attack) for t in split.trials] == [
        ("T_0000000000", SPOOF, "A05"),
        ("T_0000000011", BONAFIDE, "-"),
    ]
    assert split.trials[0].path == tmp_path / "flac_T/T_0000000000.flac"
    assert split.conditions["T_0000000000"]["attack_tag"] == "AC3"
    with pytest.raises(ProtocolError, match=r"ASVspoof5\.dev\.track_1\.tsv not found"):
        read_asvspoof5(tmp_path, "dev")


def test_in_the_wild_meta_csv(tmp_path: Path) -> None:
    write(
        tmp_path / "meta.csv",
        "file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,Alec Guinness,bona-fide\n",
    )
    split = read_in_the_wild(tmp_path)
    assert [(t.utt_id, t.label, t.speaker) for t in split.trials] == [
        ("0", SPOOF, "Alec_Guinness"),
        ("1", BONAFIDE, "Alec_Guinness"),
    ]
    assert split.trials[0].path == tmp_path / "0.wav"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected the header"),
        ("file,speaker,label\n", "no trials below the header"),
        ("file,speaker,label\n0.wav,A,real\n", r"meta.csv:2: label 'real'"),
    ],
)
def test_in_the_wild_bad_meta(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "meta.csv", text)
    with pytest.raises(ProtocolError, match=message):
        read_in_the_wild(tmp_path)


def test_folder_corpus_recursive_with_attacks_from_sub_folders(tmp_path: Path) -> None:
    wav(tmp_path / "real/a.wav")
    wav(tmp_path / "real/more/b.flac")
    wav(tmp_path / "fake/ljspeech_melgan/c.wav")
    wav(tmp_path / "fake/d.wav")
    (tmp_path / "fake/notes.txt").write_text("not audio")
    split = read_folder(tmp_path)
    got = {t.utt_id: (t.label, t.attack) for t in split.trials}
    assert got == {
        "real/a": (BONAFIDE, "-"),
        "real/more/b": (BONAFIDE, "-"),
        "fake/ljspeech_melgan/c": (SPOOF, "ljspeech_melgan"),
        "fake/d": (SPOOF, "spoof"),
    }


@pytest.mark.parametrize("names", [("c0.wav", "c0.flac"), ("a b.wav", "a_b.wav")])
def test_folder_corpus_refuses_two_files_with_one_id(tmp_path: Path, names: tuple[str, str]) -> None:
    for name in names:
        wav(tmp_path / "real" / name)
    wav(tmp_path / "fake/d.wav")
    clash = r"get the same utterance id 'real/(c0|a_b)' .* Fix: rename or remove one of them"
    with pytest.raises(ProtocolError, match=clash):
        read_folder(tmp_path)


def test_folder_corpus_without_class_folders(tmp_path: Path) -> None:
    wav(tmp_path / "clips/a.wav")
    with pytest.raises(ProtocolError, match=r"needs a bona fide sub-folder .* found \['clips'\]"):
        read_folder(tmp_path)
