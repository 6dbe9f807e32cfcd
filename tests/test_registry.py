"""The technique registry: one place for each technique's name, kind, reference and the
profile field naming its model (the profiles' dry runs check that the benches save
exactly these techniques: tests/test_dry_runs.py)."""

from __future__ import annotations

import pytest

from visionbench import models, profiles
from visionbench.measure import techniques
from visionbench.report import tradeoffs


@pytest.mark.parametrize("name", profiles.PROFILES)
def test_every_model_field_names_a_registered_model_in_every_profile(name):
    """A field path with a typo, or a profile without that budget, fails here rather than
    at `--vb-model-for` time."""
    profile = profiles.get(name)
    for technique in profiles.MODEL_FIELDS:
        assert profiles.model_of(profile, technique) in models.names(), technique


def test_model_fields_and_sweeps_are_read_from_the_registry():
    fields = {t.name: t.model_field for t in techniques.TECHNIQUES if t.model_field}
    assert fields == profiles.MODEL_FIELDS
    assert tuple(t.name for t in techniques.TECHNIQUES if t.kind == "sweep") == tradeoffs.SWEEPS
    assert techniques.of_kind("step") == ("precision", "grad_zeroing", "memory_format", "compile")


def test_a_reference_picked_by_the_profile_is_not_taken_for_a_variant_name():
    assert techniques.PRECISION.reference == "fp32"
    assert techniques.MODEL_SIZE.reference is None  # the profile's first model
    assert techniques.MODEL_SIZE.picked_by == "the profile's first model"
    # a technique names its reference variant or how the profile picks it: exactly one
    with pytest.raises(ValueError, match="either its reference variant or how"):
        techniques.Technique("x", "sweep", None)
    with pytest.raises(ValueError, match="either its reference variant or how"):
        techniques.Technique("x", "step", "fp32", picked_by="the profile's first model")


def test_unknown_names_and_kinds_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown technique 'presicion'.*precision"):
        techniques.get("presicion")
    with pytest.raises(ValueError, match=r"unknown kind 'sweeps'.*sweep"):
        techniques.of_kind("sweeps")
    with pytest.raises(ValueError, match="unknown kind"):
        techniques.Technique("x", "speedup", "y")


def test_the_registry_says_which_variants_are_bounds():
    """The oracle is the one bound: a variant the adaptive bench saves, never a reference."""
    from visionbench.selection import ORACLE, experiment

    assert [(t.name, t.bounds) for t in techniques.TECHNIQUES if t.bounds] == [
        ("adaptive_selection", ("oracle",))
    ]
    assert ORACLE in experiment.variants(profiles.get("quick").selection.models)
    assert techniques.is_bound("adaptive_selection", "oracle")
    assert not techniques.is_bound("adaptive_selection", "premodel")
    assert not techniques.is_bound("not_registered", "oracle")
    with pytest.raises(ValueError, match="its reference cannot be a bound"):
        techniques.Technique("x", "step", "fp32", bounds=("fp32",))
