"""The gates' settings: [tool.visionbench.gate] over the defaults.

pyproject.toml's [tool.visionbench.gate] table holds only what a project changes
(and per-benchmark overrides by glob); anything it leaves out takes the value
in `visionbench.stats.defaults.DEFAULTS`, where every default is written once.
`load_config` reads the table and rejects unknown keys loudly.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionbench.stats.defaults import DEFAULTS

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


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
