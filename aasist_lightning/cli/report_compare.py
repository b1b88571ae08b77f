"""``aasist-report <folder> --compare A B``: is run (or seed group) A better than B on the same eval trials?

A paired bootstrap resamples the eval trials (speakers as blocks when the corpus has them) and recomputes
both sides' mean EER on every replicate: the interval and p-value describe how much the difference could
move with another draw of trials from the same population. For seed groups the spread over seeds is in
the report's seed table; the test does not add it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aasist_lightning.cli.report_jobs import OK, Job, ReportError, eval_speakers, read_sweep
from aasist_lightning.metrics import read_score_file
from aasist_lightning.metrics.bootstrap import paired_bootstrap

ALPHA = 0.05


def select(jobs: list[Job], spec: str) -> list[Job]:
    """Finished, scored jobs named by ``spec``: job numbers ('0,1') or overrides ('first_conv=128,lr=1e-4',
    a key by its full or last dotted name)."""
    items = [s.strip() for s in spec.split(",") if s.strip()]
    scored = [j for j in jobs if j.status == OK and j.eval_scores is not None]
    if items and all("=" in s for s in items):
        wanted = [s.split("=", 1) for s in items]

        def matches(job: Job) -> bool:
            return all(
                any(
                    v == value and (k == key or k.rsplit(".", 1)[-1] == key) for k, v in job.overrides.items()
                )
                for key, value in wanted
            )

        chosen = [j for j in scored if matches(j)]
    else:
        chosen = [j for j in scored if j.name in items]
    if not chosen:
        known = ", ".join(j.name for j in scored) or "none"
        raise ReportError(
            f"--compare {spec!r} selects no finished job with eval scores (those: {known}); give job numbers "
            "('0,1') or overrides ('first_conv=128')"
        )
    return chosen


def _aligned(jobs: list[Job]) -> tuple[list[np.ndarray], np.ndarray, list[str], Path]:
    """Every job's eval scores in the first job's trial order, the labels and the trial ids."""
    files = [read_score_file(j.eval_scores) for j in jobs if j.eval_scores is not None]
    first = files[0]
    if first.labels is None:
        raise ReportError(f"{first.path}: the score file has no labels")
    order = {u: i for i, u in enumerate(first.utt_ids)}
    aligned = []
    for f in files:
        if set(f.utt_ids) != order.keys():
            raise ReportError(
                f"{f.path} and {first.path} do not score the same trials; a paired comparison needs both "
                "runs evaluated on the same eval set"
            )
        scores = np.empty(len(order))
        scores[[order[u] for u in f.utt_ids]] = f.scores
        aligned.append(scores)
    return aligned, first.labels, first.utt_ids, first.path


def _describe(jobs: list[Job], params: list[str]) -> str:
    setting = {p: {j.overrides.get(p, "") for j in jobs} for p in params if p != "seed"}
    shared = ", ".join(f"{p.rsplit('.', 1)[-1]}={v.pop()}" for p, v in setting.items() if len(v) == 1)
    runs = "job " + jobs[0].name if len(jobs) == 1 else "jobs " + ", ".join(j.name for j in jobs)
    return runs + (f" ({shared})" if shared else "")


def compare(folder: str | Path, spec_a: str, spec_b: str, n_boot: int = 1000) -> str:
    """The comparison in plain words (EERs in percent)."""
    sweep = read_sweep(folder, n_boot=0)
    a, b = select(sweep.jobs, spec_a), select(sweep.jobs, spec_b)
    on_both = [j.name for j in a if j.name in {k.name for k in b}]
    if on_both:  # a run on both sides makes the difference 0 by construction (p = 1), not a finding
        raise ReportError(
            f"--compare {spec_a!r} {spec_b!r}: job(s) {', '.join(on_both)} are on both sides; give two "
            "sets of jobs that share no job"
        )
    scores, labels, utt_ids, _ = _aligned(a + b)
    speakers = eval_speakers(a[0].config, utt_ids)
    result = paired_bootstrap(scores[: len(a)], scores[len(a) :], labels, speakers, n_boot=n_boot)
    d = result.difference
    lines = [
        f"A = {_describe(a, sweep.params)}: EER {100 * result.eer_a:.3f} %"
        + (f" (mean of {len(a)} runs)" if len(a) > 1 else ""),
        f"B = {_describe(b, sweep.params)}: EER {100 * result.eer_b:.3f} %"
        + (f" (mean of {len(b)} runs)" if len(b) > 1 else ""),
        f"EER(A) - EER(B) = {100 * d.value:+.3f} points, {100 * d.confidence:g} % interval "
        f"[{100 * d.low:+.3f}, {100 * d.high:+.3f}] (paired bootstrap of {len(utt_ids)} eval trials, "
        f"{d.n_boot} replicates resampling {d.method}); p = {result.p_value:.3g}.",
    ]
    if result.p_value < ALPHA:
        better, worse = ("A", "B") if d.value < 0 else ("B", "A")
        lines.append(
            f"{better} has the lower EER, and a difference this large is unlikely to come from the choice of "
            f"trials alone (p < {ALPHA:g}): {worse} is significantly worse on this eval set."
        )
    else:
        lines.append(
            f"No significant difference (p >= {ALPHA:g}): another draw of trials could reverse it, so these "
            "runs do not show that A and B differ."
        )
    return "\n".join(lines)


__all__ = ["compare", "select"]
