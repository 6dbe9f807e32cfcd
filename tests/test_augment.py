"""Augmentation: the batched version is the per-sample definition, seeded and
reproducible; torchvision's per-sample transforms draw from the same family."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench.data.augment import (
    AugmentParams,
    AugmentSpec,
    augment_batch,
    augment_one,
    draw,
    fill_colour,
    per_sample_transforms,
    precompute,
)


def images(n: int, c: int, h: int, w: int, seed: int = 0, low: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(low, 256, (n, c, h, w), dtype=torch.uint8, generator=gen)


def one_by_one(x, params: AugmentParams, spec, fill) -> torch.Tensor:
    return torch.stack(
        [
            augment_one(
                x[i],
                int(params.dy[i]),
                int(params.dx[i]),
                bool(params.flip[i]),
                int(params.cy[i]),
                int(params.cx[i]),
                spec,
                fill,
            )
            for i in range(len(x))
        ]
    )


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 12),
    c=st.sampled_from([1, 3]),
    h=st.integers(4, 20),
    w=st.integers(4, 20),
    pad=st.integers(0, 5),
    flip=st.booleans(),
    cutout=st.integers(0, 4),
    seed=st.integers(0, 2**31 - 1),
)
def test_batched_equals_the_per_sample_definition(n, c, h, w, pad, flip, cutout, seed):
    spec = AugmentSpec(pad=pad, flip=flip, cutout=cutout)
    x = images(n, c, h, w, seed)
    fill = tuple(range(7, 7 + c))
    params = draw(n, h, w, spec, torch.Generator().manual_seed(seed))
    out = augment_batch(x, params, spec, fill)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(out, one_by_one(x, params, spec, fill))
    assert torch.equal(x, images(n, c, h, w, seed))  # the input is left alone


def test_the_definition_on_a_known_image():
    x = torch.arange(16, dtype=torch.uint8).view(1, 4, 4) + 100
    spec = AugmentSpec(pad=1, flip=True, cutout=2)
    out = augment_one(x, dy=0, dx=2, flip=True, cy=2, cx=0, spec=spec, fill=(9,))
    # crop at (0, 2) of the padded image: shifted down by 1 and left by 1,
    # fill on the top row and the right column; then flipped; then the cutout
    expected = torch.tensor(
        [
            [9, 9, 9, 9],
            [9, 103, 102, 101],
            [9, 9, 106, 105],
            [9, 9, 110, 109],
        ],
        dtype=torch.uint8,
    ).view(1, 4, 4)
    assert torch.equal(out, expected)


def test_values_stay_those_of_the_image_or_the_fill():
    x = images(64, 3, 16, 16, low=100)
    fill = (1, 2, 3)
    spec = AugmentSpec(pad=4, flip=True, cutout=6)
    out = augment_batch(x, draw(64, 16, 16, spec, torch.Generator().manual_seed(0)), spec, fill)
    for ch in range(3):
        allowed = set(x[:, ch].unique().tolist()) | {fill[ch]}
        assert set(out[:, ch].unique().tolist()) <= allowed
    # every image has its full cutout square (36 pixels per channel at the fill)
    assert ((out[:, 0] == 1).flatten(1).sum(1) >= 36).all()


def test_draws_are_seeded_reproducible_and_cover_their_ranges():
    spec = AugmentSpec(pad=4, flip=True, cutout=8)

    def params(seed):
        return draw(4000, 28, 28, spec, torch.Generator().manual_seed(seed))

    a, b, other = params(5), params(5), params(6)
    for name in ("dy", "dx", "flip", "cy", "cx"):
        assert torch.equal(getattr(a, name), getattr(b, name))
        assert not torch.equal(getattr(a, name), getattr(other, name))
    assert set(a.dy.tolist()) == set(range(9)) == set(a.dx.tolist())
    assert set(a.cy.tolist()) == set(range(21)) == set(a.cx.tolist())
    assert 0.45 < a.flip.float().mean() < 0.55
    x = images(4000, 1, 28, 28)
    assert torch.equal(augment_batch(x, a, spec, (0,)), augment_batch(x, b, spec, (0,)))


def test_disabled_augmentations_change_nothing():
    spec = AugmentSpec(pad=0, flip=False, cutout=0)
    x = images(10, 3, 8, 8)
    params = draw(10, 8, 8, spec, torch.Generator().manual_seed(0))
    assert not params.flip.any()
    assert torch.equal(augment_batch(x, params, spec, (0, 0, 0)), x)
    assert torch.equal(per_sample_transforms(spec, 8, (0, 0, 0))(x[0]), x[0])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="pad and cutout"):
        AugmentSpec(pad=-1)
    with pytest.raises(ValueError, match="does not fit"):
        draw(2, 4, 4, AugmentSpec(cutout=5), torch.Generator())
    with pytest.raises(ValueError, match="fill has 2 values"):
        augment_one(images(1, 3, 4, 4)[0], 0, 0, False, 0, 0, AugmentSpec(pad=1), (1, 2))


def test_fill_colour_is_the_mean_in_uint8():
    assert fill_colour((0.0, 0.5, 1.0)) == (0, 128, 255)


def matches_some_params(out, x, spec, fill, candidates) -> bool:
    return any(torch.equal(out, augment_one(x, *p, spec=spec, fill=fill)) for p in candidates)


def test_torchvision_crop_and_flip_are_the_definitions_crop_and_flip():
    spec = AugmentSpec(pad=2, flip=True, cutout=0)
    fill = (5, 6, 7)
    tv = per_sample_transforms(spec, 8, fill)
    x = images(30, 3, 8, 8, low=10)
    torch.manual_seed(0)
    seen = set()
    for img in x:
        out = tv(img)
        hits = [
            (dy, dx, f)
            for dy in range(5)
            for dx in range(5)
            for f in (False, True)
            if torch.equal(out, augment_one(img, dy, dx, f, 0, 0, spec, fill))
        ]
        assert hits, "torchvision's output is no crop-and-flip of the definition"
        seen.update(hits)
    assert {f for _, _, f in seen} == {False, True}


def test_torchvision_cutout_is_the_definitions_cutout():
    spec = AugmentSpec(pad=0, flip=False, cutout=3)
    tv = per_sample_transforms(spec, 10, (0,))
    x = images(30, 1, 10, 10, low=1)
    torch.manual_seed(0)
    corners = [(cy, cx) for cy in range(8) for cx in range(8)]
    for img in x:
        out = tv(img)
        assert matches_some_params(out, img, spec, (0,), [(0, 0, False, *c) for c in corners])


def test_precompute_gives_one_augmented_copy_per_epoch():
    spec = AugmentSpec()
    x = images(50, 1, 28, 28)
    gens = [torch.Generator().manual_seed(e) for e in range(3)]
    out = precompute(x, spec, (0,), gens)
    assert out.shape == (3, 50, 1, 28, 28) and out.dtype == torch.uint8
    for e in range(3):
        params = draw(50, 28, 28, spec, torch.Generator().manual_seed(e))
        assert torch.equal(out[e], augment_batch(x, params, spec, (0,)))
    assert not torch.equal(out[0], out[1])
