"""The benchmark's results as a table on the terminal and as a JSON file."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aasist_lightning.files import atomic_write_json

#: Columns of the speed table; all but the text ones (model, mode, path) are right-aligned.
COLUMNS = (
    *("model", "mode", "batch", "path", "utt/s"),
    *("x eager", "GFLOP/s", "max |Δlogit|", "peak MiB", "setup s"),
)


def print_table(result: dict[str, Any]) -> None:
    """Print what :func:`aasist_lightning.bench.cli.run` returned: the EER check, or the speed table and
    the notes under it."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a report saved to a file: rich's 80 columns cut the cells to 'AASI…'
        console.width = max(console.width, 160)
    if "eer_check" in result:
        console.print(_eer_table(result["eer_check"]))
        return
    # The prose lines are not wrapped at the console's width: the machine's name and load average stay on
    # one line, whatever the CPU's name.
    console.print(_machine_line(result), soft_wrap=True)
    console.print(_speed_table(result))
    for line in _notes(result):
        console.print(line, soft_wrap=True)


def _eer_table(check: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"EER on {check['trials']} eval trials of {check['root']} ({check['model']})")
    for col in ("path", "EER %", "Δ pp", "max |Δscore|", "decisions changed"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for name, row in check["paths"].items():
        table.add_row(
            name,
            f"{row['eer']:.3f}",
            f"{row['eer_diff_pp']:+.3f}",
            f"{row['max_abs_score_diff']:.1e}",
            str(row["decisions_changed"]),
        )
    return table


def _machine_line(result: dict[str, Any]) -> str:
    hw = result["hardware"]
    return (
        f"AASIST speed on {hw['name'] or hw['device']} ({hw['threads']} threads, {hw['cpu_capability']}, "
        f"AMX {'yes' if hw['amx'] else 'no'}); "
        f"load average {result['load_avg_start']} -> {result['load_avg_end']}"
    )


def _speed_table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table()
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("model", "mode", "path") else "right")
    for row in result["inference"] + result["training"]:
        table.add_row(row["model"], row["mode"], str(row["batch"]), row["path"], *_cells(row))
    return table


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    """The number columns of one row (utt/s to setup s)."""
    if "skipped" in row:
        estimate = row.get("peak_mib_estimate", math.nan)
        return "skipped", "-", "-", "-", "-" if math.isnan(estimate) else f"~{estimate:.0f}", "-"
    err = row.get("max_abs_err")
    other_batch = row.get("eager_batch", row["batch"]) != row["batch"]
    return (
        f"{row['utt_per_s']:.2f}",
        "-" if math.isnan(row["ratio"]) else f"{row['ratio']:.2f}" + ("*" if other_batch else ""),
        f"{row['gflop_per_s']:.0f}",
        "-" if err is None or math.isnan(err) else f"{err:.1e}",
        f"{row['peak_mib']:.0f}",
        f"{row['setup_s']:.1f}",
    )


def _notes(result: dict[str, Any]) -> list[str]:
    """The lines under the speed table: work per utterance, the default path, skipped runs, rows compared
    with eager at another batch, loss curves and memory across epochs."""
    lines = [
        f"{arch}: {work['inference']:.1f} GFLOP per utterance forward, "
        f"{work['training']:.1f} per training step (forward + backward)"
        for arch, work in result["gflop_per_utt"].items()
    ]
    default = result["default_inference"]
    lines.append(
        f"default inference path here: backend={default['backend']} precision={default['precision']}"
    )
    lines += [
        f"skipped {row['model']} {row['mode']} batch {row['batch']} {row['path']}: {row['skipped']}"
        for row in result["inference"] + result["training"]
        if "skipped" in row
    ]
    elsewhere = sorted(
        {(r["model"], r["batch"], r["eager_batch"]) for r in result["inference"] if "skipped" not in r}
    )
    lines += [
        f"* {arch} batch {batch}: against eager at batch {eager_batch} (eager at {batch} would not "
        f"fit); logit errors against eager run in chunks of {eager_batch}"
        for arch, batch, eager_batch in elsewhere
        if eager_batch != batch
    ]
    if "loss_curve" in result:
        lc = result["loss_curve"]
        lines.append(f"loss curves ({lc['steps']} seeded steps, batch {lc['batch']}):")
        for name, curve in lc["curves"].items():
            shown = " ".join(f"{v:.4f}" for v in curve)
            lines.append(f"  {name:>13}: {shown}  (max |Δ| vs eager {lc['max_abs_diff'][name]:.2e})")
    if "memory_epochs" in result:
        me = result["memory_epochs"]
        shown = ", ".join(f"{v:.0f}" for v in me["rss_mib"])
        lines.append(
            f"RSS after each of {me['epochs']} training epochs (MiB): {shown}; "
            f"growth {me['growth_mib']:+.1f} MiB"
        )
    if "recipe" in result:
        lines += _recipe_lines(result["recipe"])
    return lines


def _recipe_lines(recipe: dict[str, Any]) -> list[str]:
    """The recipe's profile: each phase measured, and extrapolated to the full run."""
    counts = recipe["counts"]
    lines = [
        f"default recipe{''.join(' ' + o for o in recipe.get('overrides', []))} end to end "
        f"({recipe['precision']}; 1 epoch of {recipe['train_clips']} clips; "
        f"{recipe['wall_s']:.0f} s, peak RSS {recipe['peak_rss_gib']:.1f} GiB): seconds measured -> "
        "extrapolated to the full run"
    ]
    for phase, seconds in recipe["seconds"].items():
        full = recipe["full_run_estimate_s"].get(phase)
        lines.append(f"  {phase:>17}: {seconds:8.1f} -> {full if full is not None else '-':>8}")
    lines.append(
        f"  counts here {counts}; full run {recipe['full_run_counts']}: "
        f"~{recipe['full_run_estimate_min']:.0f} min"
    )
    return lines


def _json_safe(value: Any) -> Any:
    """NaN / inf -> None (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(
    result: dict[str, Any], path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = ()
) -> Path:
    """Write ``result`` to ``path`` atomically as strict JSON (NaN and inf as null); ``path`` may not be one
    of the run's ``inputs``."""
    return atomic_write_json(path, _json_safe(result), inputs)
