"""The defaults every difference is worded with, written once: significance, power,
tolerances and the assumed noise. Pure data: pyproject.toml's [tool.visionbench.gate]
sets what a project changes (`visionbench.gate.config` reads it); whatever it leaves
out takes the value here.
"""

from __future__ import annotations

from typing import Any

#: The A/B gate's instruction lane: a unit's count may differ by this much between two
#: processes of the same code (A/A) and still be the same. Measured on the project's 2-core
#: AMD EPYC (callgrind through torch.utils.benchmark.Timer, denoised, one thread, both sides
#: at once): the quick profile's small-CNN units (train step, inference batch, Grad-CAM
#: batch; 2 counts a side) had medians 0.002-0.036% apart and repeats within 0.006-0.19%;
#: a single 1.4 M-instruction convolution's repeats moved up to 1.0% (a few thousand
#: instructions of allocator and interpreter paths weigh on a unit that small). 1% is 5x
#: the model-size units' worst; `visionbench ab --calibrate --lane instructions` measures a
#: machine's own, and the lane uses the larger of the two.
INSTRUCTIONS_TOLERANCE = 0.01
#: The A/B timing lane's tolerance (`ab_time`): its blocks of round-interleaved pairs from one
#: zygote spread far less than separate runs (calibrated on a 2-core Intel Xeon: a block's
#: median log-ratio sd 0.021-0.028 for the quick model-size units, a change of 1% provable in
#: 15 minutes), so a change of 5% is worth failing there, where the run-against-run gate,
#: whose runs differ by 5-10% between processes, keeps 10%. At 10% a +8.5% slowdown of the
#: small CNN's step (64 blocks, block sd 0.034) could never be a regression.
AB_TIME_TOLERANCE = 0.05
POWER = 0.9  # "provable": a change of that size flagged with this probability

#: The gate's defaults, the only place they are written: [tool.visionbench.gate] in
#: pyproject.toml sets only what a project changes.
DEFAULTS: dict[str, Any] = {
    "alpha": 0.01,  # one-sided significance level of every test
    "quantile": 0.25,  # which quantile of the raw time samples is compared
    "lookback": 10,  # saved runs (the baseline and those before it) that measure noise
    "min_history": 3,  # fewer comparable runs with the benchmark: assume `noise` instead
    "pair_min": 5,  # benchmarks needed to measure a pair's own shift and spread (0: off)
    "memory_min_bytes": 1 << 20,  # a memory change must also exceed this many bytes
    "bootstrap": 2000,  # resamples for the within-run error of the quantile
    "tolerance": {  # largest harmless change: relative, except accuracy (fraction points)
        "time": 0.10,
        "ab_time": AB_TIME_TOLERANCE,  # the A/B gate's timing lane (its blocks are tighter)
        "instructions": INSTRUCTIONS_TOLERANCE,
        "throughput": 0.10,
        "energy": 0.10,
        "memory": 0.05,
        "accuracy": 0.01,
    },
    "noise": {  # assumed between-run relative sd when the history is too short
        "samples": 0.05,  # of the `quantile` of raw time samples
        "scalar": 0.10,  # of a single observation (train_time_s, samples_per_s, energy_j)
    },
}
