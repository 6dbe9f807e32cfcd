"""`visionbench gate`: a candidate run against a baseline run, both saved.

Loads the two runs, refuses runs of different machines (unless allowed),
reads the noise history (the comparable runs saved before the baseline),
compares every benchmark metric by metric (`gate.runs`), prints the table
and writes the markdown summary (`gate.output`). Exit codes: `core.exits`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from visionbench.core.exits import BadInput, say
from visionbench.gate.config import ConfigError, GateConfig, load_config
from visionbench.gate.output import comparison_table, gate_markdown, gate_verdict, publish
from visionbench.gate.runs import compare_runs, pair_shifts
from visionbench.measure import results
from visionbench.measure.machines import comparable_history, machine_differences
from visionbench.measure.results import ResultsError, Run


def with_alpha(config: GateConfig, alpha: float | None) -> GateConfig:
    """The config with --alpha applied (checked)."""
    if alpha is None:
        return config
    if not 0 < alpha < 0.5:
        raise ConfigError(f"--alpha must be between 0 and 0.5, got {alpha}")
    return dataclasses.replace(config, alpha=alpha)


def noise_history(baseline: Run, candidate: Run, config: GateConfig) -> list[Run]:
    """The baseline and the comparable runs saved before it (unreadable ones are skipped)."""
    if baseline.number is None or config.lookback <= 1:
        return [baseline]
    earlier = [
        p
        for p in results.run_files(baseline.path.parent)
        if results.RUN_FILE.match(p.name)
        and int(p.name[:4]) < baseline.number
        and p.resolve() != candidate.path.resolve()
    ]
    earlier = earlier[-3 * config.lookback :]  # a bound on the reading; most will match
    if earlier:
        say(f"reading {len(earlier)} earlier runs for the between-run noise history...")
    errors: list[ResultsError] = []
    runs = []
    for i, path in enumerate(earlier, 1):
        try:
            runs.append(results.load(path))
        except ResultsError as exc:
            errors.append(exc)
        if i % 10 == 0:
            say(f"  {i}/{len(earlier)}")
    for exc in errors:
        say(f"warning: skipped from the history: {exc}")
    return comparable_history(baseline, runs, config.lookback)


def run_gate(
    baseline_spec: str,
    candidate_spec: str,
    storage: Path,
    *,
    config_path: Path | None = None,
    alpha: float | None = None,
    summary: Path = Path("reports/gate.md"),
    allow_machine_mismatch: bool = False,
    allow_missing: bool = False,
) -> int:
    """Gate the candidate run against the baseline run; the exit code."""
    config = with_alpha(load_config(config_path), alpha)
    say(f"loading baseline {baseline_spec!r} and candidate {candidate_spec!r}...")
    baseline = results.load_run(baseline_spec, storage)
    candidate = results.load_run(candidate_spec, storage)
    say(f"baseline: {baseline.path}\ncandidate: {candidate.path}")
    if baseline.path.resolve() == candidate.path.resolve():
        say("warning: the baseline and the candidate are the same run")
    diffs = machine_differences(baseline, candidate)
    if diffs:
        listing = "; ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in diffs.items())
        if not allow_machine_mismatch:
            raise BadInput(
                f"the runs come from different machines or settings ({listing}); "
                "comparing them would measure the machines. Pass --allow-machine-mismatch "
                "to compare anyway."
            )
        say(f"warning: machines differ ({listing}); compared anyway")
    history = noise_history(baseline, candidate, config)
    rows = compare_runs(baseline, candidate, config, history)

    code, headline, warnings = gate_verdict(rows, allow_missing)
    moved = pair_shifts(baseline, candidate, config).get("time")
    if moved is not None:
        warnings.insert(0, f"time: {moved.describe()} (machine load, or a change to all)")
    print(comparison_table(rows))
    print()
    for warning in warnings:
        print(warning)
    print(headline)
    publish(
        summary,
        gate_markdown(baseline, candidate, rows, headline, warnings, history, allow_missing),
    )
    return code
