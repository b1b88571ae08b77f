"""The per-attack, per-condition and corpora-matrix EER tables of ``aasist-eval``, as CSV and Markdown."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from aasist_lightning.files import Outputs

#: The matrix's metric columns: results.json key suffix -> column title.
MATRIX_COLUMNS = {"eer": "EER (%)", "min_tdcf": "min t-DCF", "min_dcf": "min DCF", "act_dcf": "act DCF",
                  "cllr": "Cllr (bits)"}  # fmt: skip


def per_attack_rows(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for split, report in reports.items():
        for attack, eer in report["per_attack_eer"].items():
            rows.append(
                {"split": split, "attack": attack, "n_spoof": report["attack_counts"][attack], "eer": eer}
            )
        rows.append({"split": split, "attack": "pooled", "n_spoof": report["n_spoof"], "eer": report["eer"]})
    return rows


def per_attack_tables(rows: list[dict[str, Any]], out_dir: Path, outputs: Outputs) -> tuple[Path, Path]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["split", "attack", "n_spoof", "eer_percent"])
    for r in rows:
        writer.writerow([r["split"], r["attack"], r["n_spoof"], f"{r['eer']:.4f}"])
    csv_path = outputs.write_text(out_dir / "per_attack_eer.csv", buf.getvalue())
    lines = ["| split | attack | spoof trials | EER (%) |", "|---|---|---:|---:|"]
    lines += [f"| {r['split']} | {r['attack']} | {r['n_spoof']} | {r['eer']:.3f} |" for r in rows]
    md_path = outputs.write_text(out_dir / "per_attack_eer.md", "\n".join(lines) + "\n")
    return csv_path, md_path


def per_condition_rows(
    split: str,
    conditions: dict[str, dict[str, str]],
    utt_ids: list[str],
    labels: np.ndarray,
    scores: np.ndarray,
) -> list[dict[str, Any]]:
    """EER of each value of each condition a corpus records (codec, channel, vocoder, ...): over that value's
    trials, or, when they are all spoof (e.g. a vocoder family), against every bona fide trial."""
    from aasist_lightning.metrics.eer import compute_eer

    rows: list[dict[str, Any]] = []
    if not conditions:
        return rows
    bona_all = scores[labels == 1]
    for name in sorted({k for c in conditions.values() for k in c}):
        values = np.asarray([conditions.get(u, {}).get(name, "-") for u in utt_ids])
        for value in sorted(set(values.tolist())):
            chosen = values == value
            bona, spoof = scores[chosen & (labels == 1)], scores[chosen & (labels == 0)]
            if not len(spoof):
                continue
            against = "condition" if len(bona) else "all bona fide"
            eer, _ = compute_eer(bona if len(bona) else bona_all, spoof)
            rows.append(
                {"split": split, "condition": name, "value": value, "n_bonafide": len(bona),
                 "n_spoof": len(spoof), "bonafide": against, "eer": 100 * eer}
            )  # fmt: skip
    return rows


def per_condition_tables(rows: list[dict[str, Any]], out_dir: Path, outputs: Outputs) -> tuple[Path, Path]:
    columns = ["split", "condition", "value", "n_bonafide", "n_spoof", "bonafide"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*columns, "eer_percent"])
    for r in rows:
        writer.writerow([*(r[c] for c in columns), f"{r['eer']:.4f}"])
    csv_path = outputs.write_text(out_dir / "per_condition_eer.csv", buf.getvalue())
    lines = [
        "| split | condition | value | bona fide trials | spoof trials | bona fide used | EER (%) |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + f" | {r['eer']:.3f} |" for r in rows]
    md_path = outputs.write_text(out_dir / "per_condition_eer.md", "\n".join(lines) + "\n")
    return csv_path, md_path


def matrix_tables(rows: list[dict[str, Any]], output_dir: Path, outputs: Outputs) -> dict[str, str]:
    columns = ["corpus", "subsets", "trials", *MATRIX_COLUMNS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([("" if r[c] is None else r[c]) for c in columns])
    paths = {"csv": outputs.write_text(output_dir / "matrix.csv", buf.getvalue())}

    def cell(v: Any) -> str:
        return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| corpus | subsets | trials | " + " | ".join(MATRIX_COLUMNS.values()) + " |"]
    lines.append("|---|---|---:|" + "---:|" * len(MATRIX_COLUMNS))
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    paths["markdown"] = outputs.write_text(output_dir / "matrix.md", "\n".join(lines) + "\n")
    return {k: str(v) for k, v in paths.items()}
