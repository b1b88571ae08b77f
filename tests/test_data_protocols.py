"""Protocol and manifest parsing: the real ASVspoof 2019 LA protocols and hand-made bad inputs."""

import re
from collections import Counter
from pathlib import Path

import pytest

from aasist_lightning.data import BONAFIDE, SPOOF, ProtocolError, Trial, read_manifest, read_protocol

EXPECTED = {
    # split file: (bona fide, attacks, trials per attack)
    "train.trn": (2580, [f"A{i:02d}" for i in range(1, 7)], 3800),
    "dev.trl": (2548, [f"A{i:02d}" for i in range(1, 7)], 3716),
    "eval.trl": (7355, [f"A{i:02d}" for i in range(7, 20)], 4914),
}


@pytest.mark.parametrize("split", list(EXPECTED))
def test_real_protocol_counts(shared_dir: Path, split: str) -> None:
    audio = Path("/no/such/LA/flac")  # parsing must not need the audio
    trials = read_protocol(shared_dir / f"asvspoof2019/protocols/ASVspoof2019.LA.cm.{split}.txt", audio)
    n_bona, attacks, per_attack = EXPECTED[split]
    labels = Counter(t.label for t in trials)
    assert labels[BONAFIDE] == n_bona
    assert labels[SPOOF] == len(attacks) * per_attack
    assert Counter(t.attack for t in trials if t.label == SPOOF) == dict.fromkeys(attacks, per_attack)
    assert {t.attack for t in trials if t.label == BONAFIDE} == {"-"}
    assert len({t.utt_id for t in trials}) == len(trials)
    first = trials[0]
    assert first.path == audio / f"{first.utt_id}.flac"
    assert first.speaker.startswith("LA_") and first.utt_id.startswith("LA_")


def test_protocol_extension(tmp_path: Path) -> None:
    proto = tmp_path / "p.txt"
    proto.write_text("LA_0001 LA_T_1 - - bonafide\n\nLA_0002 LA_T_2 - A01 spoof\n")
    trials = read_protocol(proto, tmp_path / "wav", ext="wav")
    assert trials == [
        Trial("LA_T_1", tmp_path / "wav/LA_T_1.wav", 1, "-", "LA_0001"),
        Trial("LA_T_2", tmp_path / "wav/LA_T_2.wav", 0, "A01", "LA_0002"),
    ]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("LA_0002 LA_T_2 - A01", "ASVspoof 2019 LA protocol lines have 5 columns, e.g. 'LA_0079 "),
        (
            "LA_0009 LA_E_9 alaw ita_tx A07 spoof notrim eval",
            r"has 8 \(it looks like ASVspoof 2021 LA keys\)",
        ),
        ("LA_0002 LA_T_2 - A01 fake", "key 'fake' must be 'bonafide' or 'spoof'"),
        ("LA_0002 LA_T_1 - A01 spoof", "LA_T_1 already listed on line 1"),
    ],
)
def test_protocol_bad_line_names_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    proto = tmp_path / "ASVspoof2019.LA.cm.train.trn.txt"
    proto.write_text(f"LA_0001 LA_T_1 - - bonafide\n{bad_line}\nLA_0003 LA_T_3 - - bonafide\n")
    with pytest.raises(ProtocolError, match=message) as err:
        read_protocol(proto, tmp_path)
    assert f"{proto}:2" in str(err.value)


def test_protocol_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        read_protocol(tmp_path / "nope.txt", tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(ProtocolError, match=re.escape(f"{empty}: the protocol lists no trials")):
        read_protocol(empty, tmp_path)


def test_manifest_with_header(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    csv = tmp_path / "sub" / "train.csv"
    csv.write_text(
        "\ufeffspeaker,label,path,attack\n"  # any column order, with a BOM
        "spk1,bonafide,a/x.wav,\n"
        "spk2,spoof,/abs/y.flac,TTS-1\n"
        ",Fake,z.ogg,\n"
        "spk1,bona-fide,w.wav,\n"
    )
    trials = read_manifest(csv)
    assert trials == [
        Trial("x", tmp_path / "sub/a/x.wav", 1, "-", "spk1"),
        Trial("y", Path("/abs/y.flac"), 0, "TTS-1", "spk2"),
        Trial("z", tmp_path / "sub/z.ogg", 0, "spoof", "-"),
        Trial("w", tmp_path / "sub/w.wav", 1, "-", "spk1"),
    ]


def test_manifest_positional_and_ids(tmp_path: Path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("real/001 a.wav,1\nfake/001 a.wav,0,A 2,spk 9\n")
    trials = read_manifest(csv)
    # The stems collide, so ids come from the paths; whitespace becomes '_' to keep score files parseable.
    assert [t.utt_id for t in trials] == ["real/001_a", "fake/001_a"]
    assert [t.label for t in trials] == [1, 0]
    assert (trials[1].attack, trials[1].speaker) == ("A_2", "spk_9")
    assert trials[0].path == tmp_path / "real/001 a.wav"


def test_manifest_utt_id_column(tmp_path: Path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("path,label,utt_id\na.wav,spoof,U1\nb.wav,genuine,U2\n")
    assert [(t.utt_id, t.label) for t in read_manifest(csv)] == [("U1", 0), ("U2", 1)]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("path,label\na.wav,bonafide\nb.wav,maybe\n", 3, "label 'maybe' is neither bona fide nor spoof"),
        ("path,label\na.wav,bonafide\nb.wav\n", 3, "expected 'path,label"),
        (
            "path,label,utt_id\na.wav,bonafide,X\nb.wav,spoof,X\n",
            3,
            "utterance id 'X' already used on line 2",
        ),
        ("a.wav,spoof\na.wav,bonafide\n", 2, "file 'a.wav' already listed on line 1"),  # not "add a utt_id"
        # cells beyond the columns were dropped without a word (the attack under a 'path,label' header)
        ("a.wav,spoof,A01,p1,x\n", 1, "5 columns, but rows are 'path,label"),
        ("path,label\na.wav,spoof,A01\n", 2, r"3 columns, but the header names 2 \(path,label\)"),
    ],
)
def test_manifest_bad_rows(tmp_path: Path, content: str, line: int, message: str) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    with pytest.raises(ProtocolError, match=message) as err:
        read_manifest(csv)
    assert f"{csv}:{line}" in str(err.value)


@pytest.mark.parametrize(
    "second",
    [
        "{root}/audio/LA_x.flac",  # absolute: two utterance ids, both scored (the EER moved) before
        "audio/../audio/LA_x.flac",
        "linked/LA_x.flac",  # a link to the folder audio/
        "./audio/LA_x.flac",  # caught before too, by its utterance id
    ],
)
def test_manifest_one_file_under_two_spellings(tmp_path: Path, second: str) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "audio")
    csv = tmp_path / "m.csv"
    second = second.format(root=tmp_path)
    csv.write_text(f"path,label\naudio/LA_x.flac,bonafide\naudio/LA_y.flac,spoof\n{second},spoof\n")
    with pytest.raises(ProtocolError) as err:
        read_manifest(csv)
    message = str(err.value)
    assert message.startswith(f"{csv}:4: ") and "already" in message and "line 2" in message
    if not second.startswith("./"):
        assert f"file {second!r} already listed on line 2 as 'audio/LA_x.flac'" in message
        assert f"(both are {tmp_path.resolve() / 'audio/LA_x.flac'}); list each file once" in message
    # The audio need not exist, and different files under one name in two folders stay two trials.
    csv.write_text(f"audio/LA_x.flac,bonafide\n{tmp_path}/other/LA_x.flac,spoof\n")
    assert [t.path for t in read_manifest(csv)] == [
        tmp_path / "audio/LA_x.flac",
        tmp_path / "other/LA_x.flac",
    ]


def test_manifest_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"none\.csv"):
        read_manifest(tmp_path / "none.csv")
    for content, message in [("", "the manifest is empty"), ("path,label\n", "has a header but no rows")]:
        csv = tmp_path / "e.csv"
        csv.write_text(content)
        with pytest.raises(ProtocolError, match=message):
            read_manifest(csv)
