"""The search space of `visionbench tune`: the technique registry's training switches,
each with the values this device can run, applied to the recipe ladder's baseline.

A switch is named as its technique is in the registry (`measure.techniques`), its
first value that technique's reference, so `--switches precision,memory_format`
means what the benches mean:

  data_loading   disk (PNGs decoded every epoch, the reference) or resident (uint8
                 tensors on the device, decoded once)
  augmentation   none, or the profile's pad + crop (+ flip) + cutout, batched on the
                 device (needs resident data)
  lr_schedule    constant, onecycle, cosine (over the recipe's epochs)
  precision      fp32, and the autocast precisions the device runs natively
  memory_format  contiguous, channels_last
  compile        eager and the profile's torch.compile modes: only when asked for
                 (every trial pays its compile time: tens of seconds on a CPU)
  batch_size     the profile's, and twice it with the learning rate scaled (linearly
                 for SGD, by the square root for Adam); no registry technique
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from visionbench.measure import fingerprint, techniques
from visionbench.profiles import Profile
from visionbench.techniques.recipe import Recipe, baseline
from visionbench.training.train import amp_unsupported
from visionbench.tune.search import Config, Infeasible, Switch

#: The switch names, in search order, and the registry technique each one is.
TECHNIQUE_OF = {
    "data_loading": techniques.DATA_LOADING,
    "augmentation": techniques.AUGMENTATION,
    "lr_schedule": techniques.LR_SCHEDULE,
    "precision": techniques.PRECISION,
    "memory_format": techniques.MEMORY_FORMAT,
    "compile": techniques.COMPILE,
    "batch_size": None,
}
KNOWN = tuple(TECHNIQUE_OF)
OPTIONAL = {
    "compile": "asked for only (--switches ...,compile): every trial pays its compile "
    "time, tens of seconds on a CPU"
}
DEFAULT = tuple(n for n in KNOWN if n not in OPTIONAL)
AUGMENT_ON = "on"


def parse_switches(text: str | None) -> tuple[str, ...]:
    """`--switches a,b,c` (None: the default set); a ValueError names an unknown one."""
    if text is None:
        return DEFAULT
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError(f"--switches is empty; choose from {', '.join(KNOWN)}")
    for name in names:
        if name not in TECHNIQUE_OF:
            raise ValueError(f"--switches: unknown switch {name!r}; known: {', '.join(KNOWN)}")
    return tuple(n for n in KNOWN if n in names)


def precision_values(device: torch.device) -> tuple[list[str], dict[str, str]]:
    """fp32 and the autocast precisions the device runs natively; why others are out."""
    values, out = ["fp32"], {}
    for amp in ("bf16", "fp16"):
        reason = amp_unsupported(device, amp)
        cpu_bf16 = amp == "bf16" and device.type == "cpu"
        if reason is None and cpu_bf16 and not fingerprint.cpu_bf16_kernels():
            reason = (
                "this CPU has no bf16 kernels (AVX512-BF16 or AMX): bf16 would run "
                "emulated, slower than fp32"
            )
        if reason is None:
            values.append(amp)
        else:
            out[amp] = reason
    return values, out


def space(
    profile: Profile, device: torch.device, names: Sequence[str] = DEFAULT
) -> tuple[list[Switch], dict[str, str]]:
    """The switches to search on this device, and why any asked-for switch or value is
    left out."""
    base = baseline(profile)
    b0 = base.train.batch_size
    left_out: dict[str, str] = {}
    values: dict[str, tuple[Any, ...]] = {
        "data_loading": ("disk", "resident"),
        "augmentation": ("none", AUGMENT_ON),
        "lr_schedule": ("constant", "onecycle", "cosine"),
        "memory_format": ("contiguous", "channels_last"),
        "compile": ("eager", *profile.step_techniques.compile_modes),
        "batch_size": (b0, 2 * b0),
    }
    amps, amp_out = precision_values(device)
    values["precision"] = tuple(amps)
    for amp, why in amp_out.items():
        left_out[f"precision={amp}"] = why
    for name in DEFAULT:
        if name not in names and name not in OPTIONAL:
            left_out[name] = "not asked for (--switches)"
    for name, why in OPTIONAL.items():
        if name not in names:
            left_out[name] = why
    switches = []
    for name in names:
        if len(values[name]) < 2:
            left_out[name] = f"only {values[name][0]} runs on {device.type} here"
            continue
        switches.append(Switch(name, values[name]))
    return switches, left_out


def scaled_lr(lr: float, optimizer: str, batch: int, reference_batch: int) -> float:
    """The learning rate for `batch` images a step, from the reference batch's: linear for
    SGD (Goyal et al.), square root for Adam (its update is normalised per parameter)."""
    ratio = batch / reference_batch
    return lr * (ratio if optimizer == "sgd" else math.sqrt(ratio))


def recipe_of(profile: Profile, config: Config, model: str | None = None) -> Recipe:
    """The recipe ladder's baseline with the configuration's switches set."""
    base = baseline(profile)
    if model is not None:
        base = base.with_(model=model)
    v = config.as_dict()
    changes: dict[str, Any] = {}
    if "data_loading" in v:
        changes["source"] = v["data_loading"]
    if v.get("augmentation", "none") != "none":
        changes["augment"] = profile.recipe.augment
    if "lr_schedule" in v:
        changes["schedule"] = v["lr_schedule"]
    if "precision" in v:
        changes["amp"] = None if v["precision"] == "fp32" else v["precision"]
    if "memory_format" in v:
        changes["channels_last"] = v["memory_format"] == "channels_last"
    if "compile" in v:
        changes["compile"] = None if v["compile"] == "eager" else v["compile"]
    if "batch_size" in v:
        b = int(v["batch_size"])
        cfg = base.train
        changes["batch_size"] = b
        changes["lr"] = scaled_lr(cfg.lr, cfg.optimizer, b, cfg.batch_size)
    try:
        return base.with_(**changes)
    except ValueError as exc:
        raise Infeasible(str(exc)) from None
