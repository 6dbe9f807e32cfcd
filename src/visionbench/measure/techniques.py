"""Every technique the suite measures, written once: its name (the benchmark group and
`extra_info["technique"]` of its figures), its kind (how the summary and report judge
it), its reference variant, its bounds (variants that are limits, not something a user
can deploy: never a best variant) and where a profile names the model it trains.

Benches take their group and reference from here; `profiles.MODEL_FIELDS`, the
summary's sweeps and the step techniques timed to a target are read from here; a test
checks that the profiles' dry runs save exactly these techniques. A new bench adds its
line here first.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What a technique's kind tells its readers.
KINDS = {
    "sweep": "a trade-off between time, memory and accuracy: the summary names its Pareto front",
    "step": "a switch of the training step: its step ratio, and its time to the profile's "
    "target accuracy where the profile says step_to_target",
    "switch": "framework-wide settings (cudnn, determinism, anomaly detection...): one "
    "training step's ratio",
    "schedule": "how training runs over epochs: time to a target accuracy, epochs saved",
    "data": "how images reach the model: epochs of the same data through each path",
    "recipe": "trainings under a recipe's switches, epochs timed whole",
    "inference": "which model answers each image: time and accuracy of the whole test split",
    "scaling": "ranks training together: throughput against one rank",
    "explanation": "what the trained models look at (Grad-CAM): no speed-up to judge",
    "harness": "what timing itself costs: the same units timed by each timing method",
}


@dataclass(frozen=True)
class Technique:
    name: str  # the benchmark group, e.g. "precision"
    kind: str  # a key of KINDS
    reference: str | None  # the variant the others are compared with, where every
    #   profile uses the same; None where the profile picks it (a model, a size)
    model_field: str | None = None  # "budget.attribute": where a profile names the model
    #   it trains (`--vb-model-for NAME=MODEL` replaces it); None: not one model
    picked_by: str | None = None  # where `reference` is None: how the profile picks it
    bounds: tuple[str, ...] = ()  # variants that are bounds, not deployable (adaptive
    #   selection's oracle: a perfect premodel that costs nothing): measured to show the
    #   headroom, never named a best variant

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"technique {self.name!r}: unknown kind {self.kind!r}")
        if (self.reference is None) == (self.picked_by is None):
            raise ValueError(
                f"technique {self.name!r}: give either its reference variant or how the "
                "profile picks it (picked_by), not both or neither"
            )
        if self.reference is not None and self.reference in self.bounds:
            raise ValueError(f"technique {self.name!r}: its reference cannot be a bound")

    def is_bound(self, variant: str) -> bool:
        """Whether `variant` is one of this technique's bounds (not deployable)."""
        return variant in self.bounds


MODEL_SIZE = Technique("model_size", "sweep", None, picked_by="the profile's first model")
RESOLUTION = Technique(
    "resolution", "sweep", None, "resolution.model", picked_by="the sweep's largest size"
)
PRECISION = Technique("precision", "step", "fp32", "step_techniques.precision_model")
GRAD_ZEROING = Technique("grad_zeroing", "step", "set_to_none", "step_techniques.zeroing_model")
MEMORY_FORMAT = Technique(
    "memory_format", "step", "contiguous", "step_techniques.memory_format_model"
)
COMPILE = Technique("compile", "step", "eager", "step_techniques.compile_model")
SWITCHES = Technique("framework_switches", "switch", "default")
LR_SCHEDULE = Technique("lr_schedule", "schedule", "constant", "schedules.model")
DATA_LOADING = Technique("data_loading", "data", "disk_png-w0", "data_path.model")
RECIPE = Technique("recipe", "recipe", "baseline", "recipe.model")
AUGMENTATION = Technique("augmentation", "recipe", "none")  # trains the recipe's model
TALK = Technique("talk_pipeline", "recipe", None, picked_by="the talk's smallest size")
SELECTION = Technique(
    "adaptive_selection",
    "inference",
    None,
    picked_by="the profile's last model",
    bounds=("oracle",),  # each image to the cheapest model right on it, chosen for free
)
DATA_PARALLEL = Technique("data_parallel", "scaling", "ddp")
GRADCAM = Technique("gradcam", "explanation", None, picked_by="the profile's first model")
HARNESS = Technique("harness", "harness", "torch_timer")  # the small CNN, in every profile

#: In this order --vb-model-for lists its techniques (help, errors).
TECHNIQUES: tuple[Technique, ...] = (
    MODEL_SIZE,
    PRECISION,
    GRAD_ZEROING,
    MEMORY_FORMAT,
    COMPILE,
    SWITCHES,
    LR_SCHEDULE,
    RESOLUTION,
    DATA_LOADING,
    RECIPE,
    AUGMENTATION,
    TALK,
    SELECTION,
    DATA_PARALLEL,
    GRADCAM,
    HARNESS,
)
BY_NAME = {t.name: t for t in TECHNIQUES}
assert len(BY_NAME) == len(TECHNIQUES), "a technique is registered twice"


def of_kind(kind: str) -> tuple[str, ...]:
    """The names of the techniques of one kind, in registry order."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    return tuple(t.name for t in TECHNIQUES if t.kind == kind)


def is_bound(technique: str, variant: str) -> bool:
    """Whether `variant` of `technique` is a bound (False for an unknown technique: a
    saved run from elsewhere names no bounds)."""
    known = BY_NAME.get(technique)
    return known is not None and known.is_bound(variant)


def get(name: str) -> Technique:
    """The registered technique `name` (a clear error naming the known ones)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown technique {name!r}; known: {', '.join(BY_NAME)}") from None
