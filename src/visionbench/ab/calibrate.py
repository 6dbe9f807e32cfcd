"""`visionbench ab --calibrate`: the baseline against itself through the lane until the
budget ends, what it measured saved for this machine (`ab.calibration.Store`) and printed:
the smallest change each benchmark's blocks could prove in so many minutes, or the
instruction counts' own spread."""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from tabulate import tabulate

from visionbench.ab import calibration
from visionbench.ab.timing import Block
from visionbench.core.exits import EXIT_PASS, say
from visionbench.stats.defaults import POWER

if TYPE_CHECKING:  # the gate imports this module to run it
    from visionbench.ab.command import AbGate


def calibrate(gate: AbGate) -> int:
    """The baseline against itself through the lane until the budget ends; saved for
    this machine, printed."""
    aa = replace(gate.baseline, name="candidate", label=f"{gate.baseline.label}, A/A")
    gate.candidate = aa  # in the baseline's Python and variables: with two zygotes if ab would
    with contextlib.ExitStack() as stack:
        zygote = gate.start_zygote(stack)
        setup_s = gate.minutes.spent["set-up"]
        if gate.settings.lane == "instructions":
            counted = gate.instruction_lane(zygote, {"A": aa, "B": gate.baseline})
            return _save_instructions(gate, counted)
        lane = gate.timing_lane(zygote, aa)
        blocks: list[Block] = []
        last = 0.0
        while not blocks or gate.minutes.elapsed() + last <= gate.settings.budget_s:
            began = time.monotonic()
            with gate.minutes.phase("timing blocks"):
                active = list(blocks[0].logs) if blocks else None  # no collecting pair
                blocks.append(lane.block(len(blocks), active))
            last = time.monotonic() - began
            say(
                f"calibration block {len(blocks)}: {last:.1f} s; "
                f"{gate.minutes.elapsed() / 60:.1f} of {gate.settings.budget_s / 60:.1f} min"
            )
    cal = calibration.noise_of(blocks, setup_s)
    if len(blocks) < 3:
        say(
            f"only {len(blocks)} block(s) fitted: a block's spread needs 3 or more; "
            "give a larger --budget"
        )
    gate.store.save_time(gate.machine, cal)
    print(
        tabulate(
            calibration.provable_rows(cal, gate.config.alpha),
            headers=calibration.provable_headers(),
        )
    )
    print(
        f"\n{len(blocks)} A/A blocks of {gate.baseline.label}{arrangement(gate)}; a block "
        f"{cal.block_s:.1f} s, "
        f"start-up {cal.setup_s:.1f} s; smallest change provable with power "
        f"{POWER}, one-sided alpha {gate.config.alpha} shared by "
        f"{len(cal.benchmarks)} benchmark(s); saved to {gate.store.path}"
    )
    print(gate.minutes.line(gate.settings.budget_s))
    return EXIT_PASS


def arrangement(gate: AbGate) -> str:
    """How the A/A ran, where not as one zygote."""
    if not gate.two_zygotes:
        return ""
    return " in two zygotes of the baseline's Python and variables (the sides differ there)"


def _save_instructions(gate: AbGate, counted: dict) -> int:
    found = calibration.instruction_tolerances(counted["B"].counts, counted["A"].counts)
    gate.store.update(
        gate.machine,
        instructions={
            "benchmarks": found,
            "date": calibration.now(),
        },
    )
    table = [
        [
            n.split("::")[-1],
            f"{f['apart']:.3%}",
            f"{f['spread']:.3%}",
            f"{max(f['tolerance'], gate.config.tolerance_for(n, 'instructions')):.2%}",
        ]
        for n, f in sorted(found.items())
    ]
    print(tabulate(table, headers=["benchmark", "A/A apart", "repeats spread", "tolerance"]))
    print(
        f"\ninstruction counts of {gate.baseline.label} against itself{arrangement(gate)}; "
        "tolerance: "
        f"{calibration.INSTRUCTION_MARGIN:g}x the larger, never below the configured "
        f"{gate.config.tolerance['instructions']:.2%}; saved to {gate.store.path}"
    )
    print(gate.minutes.line(gate.settings.budget_s))
    return EXIT_PASS
