"""What `visionbench tune` prints and saves: the trials' table, the confirmation, the
switches' Shapley values, a PyTorch snippet of the recommended configuration, and the
trials as a pytest-benchmark run (one benchmark per configuration, its raw data the
seeds' times to the target), which `visionbench.measure.results` reads."""

from __future__ import annotations

import datetime
import math
import platform
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from visionbench.core.files import write_json_atomic
from visionbench.measure import metrics
from visionbench.stats.equivalence import Judgement
from visionbench.tune import accuracy
from visionbench.tune.search import Config, Search, Switch

GROUP = f"tune:{metrics.TO_TARGET}"
OUT_DIR = Path("reports/tune")  # where runs are saved (`--out`), never the benchmark storage


@dataclass
class Contrast:
    """The winner against another configuration, paired seed by seed."""

    other: str  # "baseline" or "runner-up (label)"
    seeds: int  # seeds both reached the target in
    censored: int  # seeds where one of the two did not reach it (left out of the pairs)
    speedup: float | None  # other's time / winner's (geometric mean over the pairs)
    low: float | None  # its interval (None with fewer than 2 pairs)
    high: float | None
    confidence: float
    at_least: float | None = None  # over the censored seeds where the other was cut: the
    #   least of (what it spent / the winner's time), a lower bound of its speed-up there

    @property
    def significant(self) -> bool:
        return self.low is not None and (self.low > 1 or (self.high or math.inf) < 1)

    def text(self) -> str:
        cut = (
            f"at least {self.at_least:.2f}× on the {self.censored} seeds where it was cut "
            "at the budget's end"
            if self.at_least is not None
            else ""
        )
        if self.speedup is None:
            return cut or f"no seed where both reached the target ({self.censored} censored)"
        ci = (
            f"[{self.low:.2f}–{self.high:.2f}×]"
            if self.low is not None and self.high is not None
            else "(no interval: one pair)"
        )
        words = f"{self.speedup:.2f}× {ci} over {self.seeds} seeds"
        words += "" if self.significant else ": no significant difference"
        if cut:
            words += f"; {cut}"
        elif self.censored:
            words += f" ({self.censored} seeds censored: one side did not reach the target)"
        return words


@dataclass
class Worth:
    """A switch's Shapley value and its effect alone and on top of the others."""

    switch: str
    value: Any
    shapley: float  # the factor exp(phi) on the speed-up
    alone: float | None  # speed-up of the baseline with only this switch set
    last: float | None  # speed-up of adding it last (the winner against the winner without it)


@dataclass
class Result:
    switches: list[Switch]
    left_out: dict[str, str]
    search: Search
    seed_times: dict[Config, list[float | None]] = field(default_factory=dict)  # per seed
    seed_accuracy: dict[Config, list[float | None]] = field(default_factory=dict)  # per seed:
    #   the test accuracy where its training ended (None: cut at the budget's end)
    contrasts: list[Contrast] = field(default_factory=list)
    worth: list[Worth] = field(default_factory=list)
    estimated: int = 0  # coalitions of the Shapley game estimated, not measured
    coalitions: int = 0
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    recommended: Config | None = None  # the search's winner, or a runner-up that the
    #   confirmation's fresh seeds found significantly faster
    overturned_by: float = 1.0  # that runner-up's time over the winner's
    accuracy: dict[Config, Judgement] = field(default_factory=dict)  # the confirmed
    #   configurations' final accuracy against the baseline's (`tune.accuracy`)


def _s(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f} s"


def _x(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def trials_table(result: Result) -> str:
    s = result.search
    base = s.trials[s.baseline]
    rows = []
    order = sorted(s.trials.values(), key=lambda t: (not t.reached, t.time_s if t.reached else 0.0))
    for t in order:
        mark = "★ " if t.config == s.winner else ""
        speed = base.time_s / t.time_s if base.reached and t.reached else None
        rows.append(
            [
                mark + t.config.label(s.switches),
                t.purpose,
                _s(t.time_s),
                _x(speed),
                "–" if t.accuracy is None else f"{t.accuracy:.1%}",
                t.epochs or "–",
                accuracy.words(result.accuracy.get(t.config)),
                t.note,
            ]
        )
    return tabulate(
        rows,
        headers=[
            "configuration",
            "trial",
            "to target",
            "speed-up",
            "accuracy",
            "epochs",
            "final accuracy vs baseline",
            "note",
        ],
        disable_numparse=True,
    )


def worth_table(result: Result) -> str:
    rows = [[w.switch, w.value, _x(w.shapley), _x(w.alone), _x(w.last)] for w in result.worth]
    return tabulate(
        rows,
        headers=["switch", "value", "Shapley", "alone", "added last"],
        disable_numparse=True,
    )


def snippet(config: Mapping[str, Any], recipe: Any, device: str, augment: Any) -> str:
    """The recommended configuration as PyTorch code (`recipe`: its
    `techniques.recipe.Recipe`; `augment`: its AugmentSpec or None)."""
    cfg = recipe.train
    cl = cfg.channels_last
    amp = {"bf16": "torch.bfloat16", "fp16": "torch.float16"}.get(cfg.amp or "")
    opt = (
        f"torch.optim.Adam(model.parameters(), lr={cfg.lr:.3g})"
        if cfg.optimizer == "adam"
        else f"torch.optim.SGD(model.parameters(), lr={cfg.lr:.3g}, momentum={cfg.momentum})"
    )
    lines = [
        "import torch",
        "import torch.nn.functional as F",
        "",
        f'device = torch.device("{device}")',
        f"model = ...  # {recipe.model} (visionbench.models.build({recipe.model!r}, ...))",
        "model = model.to(device" + (", memory_format=torch.channels_last)" if cl else ")"),
    ]
    if cfg.compile:
        lines.append(f'model = torch.compile(model, mode="{cfg.compile}")')
    lines.append(f"optimizer = {opt}")
    steps = f"{cfg.epochs} * steps_per_epoch"
    if cfg.schedule == "onecycle":
        lines.append(
            f"scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr={cfg.lr:.3g}, "
            f"total_steps={steps})"
        )
    elif cfg.schedule == "cosine":
        lines.append(f"scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, {steps})")
    if cfg.amp == "fp16":
        lines.append('scaler = torch.amp.GradScaler("cuda")')
    if recipe.source == "resident":
        lines += [
            "# the training images decoded once, kept as uint8 on the device (mean and std:",
            "# the channels' 0..255 statistics, shaped 1 x C x 1 x 1); no DataLoader",
            "images, labels = images.to(device), labels.to(device)",
            "",
            "def batches_of(n):",
            "    order = torch.randperm(len(labels), device=device)",
            "    for i in range(0, len(order), n):",
            "        idx = order[i : i + n]",
            "        yield (images[idx].float() - mean) / std, labels[idx]",
            "",
        ]
    else:
        lines += [
            f"loader = torch.utils.data.DataLoader(image_folder, batch_size={cfg.batch_size}, "
            "shuffle=True)  # PNGs decoded every epoch",
            "",
            "def batches_of(n):",
            "    yield from loader",
            "",
        ]
    if augment is not None:
        lines.append(
            f"# every epoch: pad {augment.pad} + random crop, "
            + ("flip, " if augment.flip else "")
            + f"cutout {augment.cutout} px, batched on the device (visionbench.data.augment)"
        )
    fmt = ", memory_format=torch.channels_last" if cl else ""
    lines += [
        f"for epoch in range({cfg.epochs}):",
        f"    for x, y in batches_of({cfg.batch_size}):",
        f"        x, y = x.to(device{fmt}), y.to(device)",
        "        optimizer.zero_grad(set_to_none=True)",
    ]
    if amp:
        lines.append(f'        with torch.autocast(device_type="{device}", dtype={amp}):')
        lines.append("            loss = F.cross_entropy(model(x), y)")
    else:
        lines.append("        loss = F.cross_entropy(model(x), y)")
    if cfg.amp == "fp16":
        lines += [
            "        scaler.scale(loss).backward()",
            "        scaler.step(optimizer)",
            "        scaler.update()",
        ]
    else:
        lines += ["        loss.backward()", "        optimizer.step()"]
    if cfg.schedule != "constant":
        lines.append("        scheduler.step()")
    return "\n".join(lines)


def _stats(times: Sequence[float]) -> dict[str, Any]:
    if not times:
        return {"rounds": 0, "iterations": 1, "data": []}
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {
        "min": min(times),
        "max": max(times),
        "mean": statistics.fmean(times),
        "stddev": statistics.stdev(times) if len(times) > 1 else 0.0,
        "median": statistics.median(times),
        "q1": q[0],
        "q3": q[2],
        "iqr": q[2] - q[0],
        "rounds": len(times),
        "iterations": 1,
        "total": sum(times),
        "ops": 1 / statistics.fmean(times),
        "data": list(times),
    }


def run_json(
    result: Result,
    describe: Mapping[str, Any],
    target: float,
    fingerprint: Mapping[str, Any],
) -> dict[str, Any]:
    """The trials as a pytest-benchmark run: one benchmark per configuration, its raw data
    the times to the target of the seeds that reached it (the search's seed first)."""
    from pytest_benchmark import __version__ as pb_version
    from pytest_benchmark.utils import get_commit_info

    s = result.search
    benches = []
    for config, trial in s.trials.items():
        label = config.label(s.switches)
        per_seed = [trial.time_s, *result.seed_times.get(config, [])]
        reached = [t for t in per_seed if t is not None]
        ended = [a for a in [None if trial.pruned else trial.accuracy,
                             *result.seed_accuracy.get(config, [])] if a is not None]  # fmt: skip
        info = {
            **describe,
            "technique": "tune",
            "variant": label,
            "reference": "baseline",
            "unit": metrics.TO_TARGET,
            "target_accuracy": target,
            "switch": label,
            "seeds": len(per_seed),
            "target_reached": len(reached) / len(per_seed),
            "time_to_target_s": statistics.fmean(reached) if reached else None,
            "time_to_target_s_per_seed": list(per_seed),
            "accuracy": statistics.fmean(ended) if ended else trial.accuracy,  # where the
            #   seeds' training ended (at the target, or their epochs): cut ones left out
        }
        info = {k: v for k, v in info.items() if v is not None}
        metrics.validate(info)
        benches.append(
            {
                "group": GROUP,
                "name": f"tune[{label}]",
                "fullname": f"visionbench tune::tune[{label}]",
                "params": {k: v for k, v in config},
                "param": label,
                "extra_info": info,
                "options": {},
                "stats": _stats(reached),
            }
        )
    return {
        "machine_info": {
            "node": platform.node(),
            "processor": platform.processor(),
            "machine": platform.machine(),
            "python_implementation": platform.python_implementation(),
            "python_version": platform.python_version(),
            "system": platform.system(),
            "release": platform.release(),
            "visionbench": dict(fingerprint),
        },
        "commit_info": get_commit_info(),
        "benchmarks": benches,
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "version": pb_version,
        "visionbench_tune": {
            "winner": s.winner.label(s.switches),
            "recommended": (result.recommended or s.winner).label(s.switches),
            "trials": {
                c.label(s.switches): {"purpose": t.purpose, "note": t.note}
                for c, t in s.trials.items()
            },
            "left_out": result.left_out,
            "stopped": s.stopped,
            "contrasts": [c.__dict__ for c in result.contrasts],
            "worth": [w.__dict__ for w in result.worth],
            "accuracy": {
                c.label(s.switches): {
                    "verdict": j.verdict,
                    "words": accuracy.words(j),
                    "change": j.change,
                    "low": j.low,
                    "high": j.high,
                    "confidence": j.confidence,
                    "tolerance": j.tolerance,
                }
                for c, j in result.accuracy.items()
            },
            "wall_s": result.wall_s,
        },
    }


def save(path: Path, data: Mapping[str, Any]) -> Path:
    write_json_atomic(Path(path), data)
    return Path(path)
