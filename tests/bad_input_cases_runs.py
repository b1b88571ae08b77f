"""Bad-input cases of the Hydra applications (train.py, eval.py) for tests/test_bad_input.py."""

from __future__ import annotations

from bad_input import Case

CASES: list[Case] = [
    Case(
        "negative-first-conv",
        "train",
        lambda ws: ["debug=tiny", "model.first_conv=-3"],
        ("model.first_conv=-3",),
    ),
    Case("unknown-key", "eval", lambda ws: ["nosuchkey=1"], ("nosuchkey",)),
]
