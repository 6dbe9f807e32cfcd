"""`--vb-model-for TECHNIQUE=NAME`: another model in the place where a profile names the
model a technique trains (`measure.techniques.Technique.model_field`), for a session."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from visionbench.measure import techniques
from visionbench.profiles.budgets import Profile

#: The benches that train one model the profile names, by technique: where the profile
#: names it (`techniques.Technique.model_field`). `--vb-model-for TECHNIQUE=NAME` puts
#: another model there for a session, so a bench that reads its model from the profile
#: trains that one. The recipe's line serves the ladder and the augmentation bench.
MODEL_FIELDS: dict[str, str] = {
    t.name: t.model_field for t in techniques.TECHNIQUES if t.model_field is not None
}
ALL_TECHNIQUES = "all"  # --vb-model-for all=NAME: every technique of MODEL_FIELDS


def _field(technique: str) -> tuple[str, str]:
    """(budget, attribute) where the profile names a technique's model."""
    if technique not in MODEL_FIELDS:
        raise ValueError(
            f"unknown technique {technique!r}; choose from {', '.join(MODEL_FIELDS)} "
            f"or {ALL_TECHNIQUES}"
        )
    budget, attribute = MODEL_FIELDS[technique].split(".")
    return budget, attribute


def model_of(profile: Profile, technique: str) -> str:
    """The model a technique of MODEL_FIELDS trains under the profile."""
    budget, attribute = _field(technique)
    return getattr(getattr(profile, budget), attribute)


def image_sizes_of(profile: Profile, technique: str, data_size: int) -> tuple[int, ...]:
    """The input sides a technique builds its model at, on data of side `data_size`."""
    if technique == "resolution":
        return profile.resolution.sizes
    if technique == "data_loading":  # smaller sources keep their size
        return (min(data_size, profile.data_path.input_size),)
    return (profile.model_size.image_size,)


def parse_model_for(items: Sequence[str]) -> dict[str, str]:
    """`--vb-model-for TECHNIQUE=NAME` options -> {technique: model name}; `all=NAME`
    stands for every technique of MODEL_FIELDS, a technique named on its own wins."""
    every: str | None = None
    chosen: dict[str, str] = {}
    for item in items:
        technique, eq, name = (part.strip() for part in item.partition("="))
        if not eq or not technique or not name:
            raise ValueError(f"{item!r} is not TECHNIQUE=NAME (e.g. precision=mynet)")
        if technique != ALL_TECHNIQUES:
            _field(technique)  # a known technique, or its error
        previous = every if technique == ALL_TECHNIQUES else chosen.get(technique)
        if previous is not None:
            raise ValueError(f"{technique} is given twice ({previous} and {name}); give it once")
        if technique == ALL_TECHNIQUES:
            every = name
        else:
            chosen[technique] = name
    if every is None:
        return chosen
    return {technique: chosen.get(technique, every) for technique in MODEL_FIELDS}


def with_models(
    profile: Profile, sweep: Sequence[str] = (), model_for: Mapping[str, str] | None = None
) -> Profile:
    """The profile with `sweep` models added to the model-size sweep (after the
    reference and the others) and each technique of `model_for` training its model."""
    if sweep:
        known = profile.model_size.models
        models = (*known, *(m for m in sweep if m not in known))
        profile = dataclasses.replace(
            profile, model_size=dataclasses.replace(profile.model_size, models=models)
        )
    for technique, model in (model_for or {}).items():
        budget, attribute = _field(technique)
        changed = dataclasses.replace(getattr(profile, budget), **{attribute: model})
        profile = dataclasses.replace(profile, **{budget: changed})
    return profile
