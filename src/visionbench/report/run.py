"""The run report: `write_report` composes `reports/<run>/report.md` and its PNGs.

In order: the summary (one verdict per technique; each sweep's Pareto front with
its plot), each recipe ladder, the Grad-CAM grids, the augmentation examples,
then every section in detail (per technique and timed unit, data and device:
each variant's time, memory and accuracy against the technique's reference, what
the technique adds, its bars, its training curves and its trend across the saved
history of this machine), the data-parallel scaling, and an appendix on the harness's
own cost (`report.harness`). Every
tolerance is the gate's, per benchmark (`GateConfig.tolerance_for`).
`summary_text` is the same sections as compact terminal tables. A `visionbench tune`
run's trials (`report.tune_trials`) follow the recipe ladders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from visionbench.core.files import write_text_atomic
from visionbench.gate.config import GateConfig
from visionbench.measure.format import slug
from visionbench.measure.results import Run
from visionbench.report import harness, plots, scaling, sections, tune_trials
from visionbench.report.ladder import ladder_markdown
from visionbench.report.summary import bf16_paragraph, summary_markdown
from visionbench.report.tradeoffs import trade_offs

DRY_RUN_NOTE = (
    "**A dry run** (`--vb-dry-run`): every variant, model, input size and dataset of the "
    "profile ran, on a few images for a few steps, each unit timed twice. It shows that the "
    "profile runs end to end on this machine; its figures measure nothing."
)


def dry_run(run: Run) -> bool:
    """Whether the run is a `--vb-dry-run` (its fingerprint says so)."""
    return bool((run.machine_info.get("visionbench") or {}).get("dry_run"))


def summary_text(run: Run, config: GateConfig | None = None) -> str:
    """Every group of a run, each variant against its reference: the table a person
    reads at the end of `nox -s bench` (time, memory and accuracy side by side)."""
    parts = [DRY_RUN_NOTE.replace("**", "").replace("`", ""), ""] if dry_run(run) else []
    for technique, benches in sections.by_section(run).items():
        line = sections.models_line(benches)
        title = f"{technique}; {line.replace('`', '')}" if line else technique
        parts += [title, sections.technique_table(benches, True, config), ""]
    if text := scaling.section(list(run.benchmarks.values())):
        parts += [text]
    if text := bf16_paragraph(run):
        parts += [text.replace("**", "")]
    return "\n".join(parts)


def _heading(run: Run, history: Sequence[Run]) -> list[str]:
    fp = run.machine_info.get("visionbench") or {}
    machine = ", ".join(f"{k} {v}" for k, v in fp.items() if v not in (None, "")) or (
        f"{run.machine_info.get('machine', '?')}, python {run.machine_info.get('python_version')}"
    )
    return [
        f"# visionbench report: {run.label}" + (" (dry run)" if dry_run(run) else ""),
        "",
        *([DRY_RUN_NOTE, ""] if dry_run(run) else []),
        f"- run: `{run.path}` ({run.date}, commit {run.commit or 'unknown'})",
        f"- machine: {machine}",
        f"- history: {len(history)} saved runs of this machine with the same fingerprint",
        "",
        "Times are seconds per timed unit (one training step, inference batch or data epoch):",
        "the median with its interquartile range, the minimum, and the number of rounds.",
        "",
    ]


def write_report(
    run: Run, history: Sequence[Run], out_dir: Path, config: GateConfig | None = None
) -> Path:
    """Write report.md and its PNGs into out_dir; return the markdown's path: the
    summary (one verdict per technique, tolerances from `config`), the recipe ladder
    and Grad-CAM grids first, then every section in detail."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_section = sections.by_section(run)
    lines = _heading(run, history)
    fronts = {}
    for t in trade_offs(run):
        png = plots.plot_pareto(t, out_dir / f"pareto_{slug(t.technique + '_' + t.where)}.png")
        fronts[(t.technique, t.where)] = png.name
    if text := summary_markdown(run, config, fronts):
        lines += [text, ""]
    for title, benches in by_section.items():
        if text := ladder_markdown(benches):
            lines += [text.replace("## The recipe ladder", f"## The recipe ladder: {title}"), ""]
    lines += tune_trials.section(run, out_dir)  # a `visionbench tune` run's trials
    for title, benches in by_section.items():
        if maps := sections.gradcam_maps(benches):
            png = plots.plot_grid(maps, out_dir / f"gradcam_{slug(title)}.png", title)
            lines += sections.gradcam(title, png.name)
    for title, benches in by_section.items():
        if (grid := sections.augmented_examples(benches)) is not None:
            path = out_dir / f"augment_{slug(title)}.png"
            found = grid.extra_info["augmented_examples"]
            png = plots.plot_examples(found, path, title)
            lines += sections.examples(title, png.name, found["columns"])
    lines += ["# Details", ""]
    for technique, benches in by_section.items():
        stem = slug(technique)
        lines += sections.details(technique, benches, config)
        if any(not b.error for b in benches):
            png = plots.plot_technique(technique, benches, out_dir / f"{stem}.png")
            lines += [f"![{technique}: variants]({png.name})", ""]
        if plots.with_curves(benches):
            png = plots.plot_curves(technique, benches, out_dir / f"{stem}_curves.png")
            lines += sections.curves(technique, png.name)
        names = [b.fullname for b in benches if any(plots.timed(r, b.fullname) for r in history)]
        if len(history) > 1 and names:
            png = plots.plot_trends(
                technique, names, history, out_dir / f"{stem}_trend.png", run.benchmarks
            )
            lines += [f"![{technique}: trend across runs]({png.name})", ""]
    everything = list(run.benchmarks.values())
    if text := scaling.section(everything):
        png = plots.plot_scaling(everything, out_dir / "data_parallel_scaling.png")
        lines += [text, f"![data_parallel: samples/s by world size]({png.name})", ""]
    if text := harness.appendix(everything):
        lines += [text, ""]
    path = out_dir / "report.md"
    write_text_atomic(path, "\n".join(lines))  # an interrupted report leaves the last one whole
    return path
