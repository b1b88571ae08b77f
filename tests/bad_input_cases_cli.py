"""Bad-input cases of aasist-predict, -score, -export and -synth, for tests/test_bad_input.py."""

from __future__ import annotations

from bad_input import Case, Workspace

SCORES = "".join(
    f"LA_{i:04d} LA_E_{i} - {'-' if i % 2 else 'A07'} {'bonafide' if i % 2 else 'spoof'} {i / 10}\n"
    for i in range(20)
)


def score_file(ws: Workspace) -> None:
    ws.write("scores.txt", SCORES, mode=0o644)


CASES: list[Case] = [
    Case(
        "json-output-is-the-score-file",
        "score",
        lambda ws: [str(ws.path("scores.txt")), "--json", str(ws.path("scores.txt"))],
        ("scores.txt",),
        setup=score_file,
    ),
]
