"""The gate's settings: every default once, here, and [tool.visionbench.gate] over them.

pyproject.toml's [tool.visionbench.gate] table holds only what a project changes
(and per-benchmark overrides by glob); anything it leaves out takes the value
in `DEFAULTS`. `load_config` reads the table and rejects unknown keys loudly.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

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

#: The A/B gate's timing lane (`visionbench ab`): a block's round-pairs per benchmark aim at
#: about ROUNDS_SECONDS of its pairs, MIN_ROUNDS to MAX_ROUNDS of them (a 10 ms step: 40
#: round-pairs; a 370 ms one: 6). Blocks are the samples; round-pairs only steady a block's
#: median, so a long unit needs few of them.
ROUNDS_SECONDS = 2.0
MIN_ROUNDS = 6
MAX_ROUNDS = 40
MAX_UNIT_SECONDS = {"time": 60.0, "instructions": 5.0}  # longer units are not in the lane
FIRST_LOOK = 7  # blocks: the fewest at which the exact signed-rank test reaches p < 0.01
MAX_BLOCKS = 64  # default --max-blocks
INSTRUCTION_REPEATS = 3  # counts per unit and side (the lane compares their medians)
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

# pytest-benchmark's own machine_info fields, compared when a run lacks the
# visionbench fingerprint (runs made outside this repository's conftest).


class ConfigError(ValueError):
    """A [tool.visionbench.gate] setting that does not fit."""


@dataclass(frozen=True)
class Override:
    pattern: str  # fnmatch glob against the benchmark's full name
    tolerance: dict[str, float]  # kind -> tolerance
    memory_min_bytes: int | None = None


@dataclass(frozen=True)
class GateConfig:
    alpha: float = DEFAULTS["alpha"]
    quantile: float = DEFAULTS["quantile"]
    lookback: int = DEFAULTS["lookback"]
    min_history: int = DEFAULTS["min_history"]
    pair_min: int = DEFAULTS["pair_min"]
    memory_min_bytes: int = DEFAULTS["memory_min_bytes"]
    bootstrap: int = DEFAULTS["bootstrap"]
    tolerance: dict[str, float] = field(default_factory=lambda: dict(DEFAULTS["tolerance"]))
    noise: dict[str, float] = field(default_factory=lambda: dict(DEFAULTS["noise"]))
    overrides: tuple[Override, ...] = ()

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> GateConfig:
        """Build from a [tool.visionbench.gate] table; unknown keys are rejected loudly."""
        table = dict(table)
        kwargs: dict[str, Any] = {}
        for key, default in DEFAULTS.items():
            if key in table and not isinstance(default, dict):
                kwargs[key] = _number(key, table.pop(key), whole=isinstance(default, int))
        kwargs["tolerance"] = _kinds("tolerance", table.pop("tolerance", {}), DEFAULTS["tolerance"])
        kwargs["noise"] = _kinds("noise", table.pop("noise", {}), DEFAULTS["noise"])
        overrides = []
        for i, item in enumerate(table.pop("override", [])):
            item = dict(item)
            pattern = item.pop("pattern", None)
            if not isinstance(pattern, str):
                raise ConfigError(f"override #{i + 1} needs a `pattern` string")
            min_bytes = item.pop("memory_min_bytes", None)
            if min_bytes is not None:
                min_bytes = int(_number(f"{pattern}: memory_min_bytes", min_bytes, whole=True))
            tolerance = _kinds(f"override {pattern!r}", item, {}, allowed=DEFAULTS["tolerance"])
            overrides.append(Override(pattern, tolerance, min_bytes))
        kwargs["overrides"] = tuple(overrides)
        if table:
            known = [k for k in DEFAULTS if k != "bootstrap"] + ["override"]
            raise ConfigError(
                f"unknown gate setting(s) {', '.join(sorted(table))}; known: {', '.join(known)}"
            )
        config = cls(**kwargs)
        if not 0 < config.alpha < 0.5:
            raise ConfigError(f"alpha must be between 0 and 0.5, got {config.alpha}")
        if not 0 <= config.quantile <= 1:
            raise ConfigError(f"quantile must be between 0 and 1, got {config.quantile}")
        if config.lookback < 1 or config.min_history < 2:
            raise ConfigError("lookback must be at least 1 and min_history at least 2")
        return config

    def tolerance_for(self, benchmark: str, kind: str) -> float:
        """The tolerance of a metric kind for one benchmark: the last matching override wins."""
        value = self.tolerance[kind]
        for o in self.overrides:
            if kind in o.tolerance and fnmatch.fnmatchcase(benchmark, o.pattern):
                value = o.tolerance[kind]
        return value

    def memory_min_for(self, benchmark: str) -> int:
        value = self.memory_min_bytes
        for o in self.overrides:
            if o.memory_min_bytes is not None and fnmatch.fnmatchcase(benchmark, o.pattern):
                value = o.memory_min_bytes
        return value


def _number(key: str, value: Any, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"gate setting {key!r} must be a number, got {value!r}")
    if whole and value != int(value):
        raise ConfigError(f"gate setting {key!r} must be a whole number, got {value!r}")
    if value < 0:
        raise ConfigError(f"gate setting {key!r} cannot be negative, got {value!r}")
    return int(value) if whole else float(value)


def _kinds(
    name: str,
    values: Mapping[str, Any],
    defaults: Mapping[str, float],
    allowed: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """A table of numbers keyed by the names in `allowed` (default: the defaults' keys)."""
    allowed = defaults if allowed is None else allowed
    out = dict(defaults)
    for key, value in dict(values).items():
        if key not in allowed:
            raise ConfigError(f"{name}: unknown key {key!r}; known: {', '.join(allowed)}")
        out[key] = _number(f"{name}.{key}", value)
    return out


def load_config(path: Path | None = None) -> GateConfig:
    """[tool.visionbench.gate] from `path`, or ./pyproject.toml if it exists, else defaults."""
    if path is None:
        path = Path("pyproject.toml")
        if not path.is_file():
            return GateConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read gate settings from {path}: {exc}") from None
    table = data.get("tool", {}).get("visionbench", {}).get("gate", {})
    try:
        return GateConfig.from_mapping(table)
    except ConfigError as exc:
        raise ConfigError(f"{path} [tool.visionbench.gate]: {exc}") from None
