"""Augmentation: pad + random crop, horizontal flip, cutout, on uint8 images.

One definition, three implementations that the data-loading bench compares:

- `augment_one`: the definition, one image at a time, with given parameters
  (the reference the tests hold the others to);
- `augment_batch`: the same for a whole batch on its device, with the
  parameters of every image drawn at once (`draw`) from a seeded
  torch.Generator. It is fast because it never loops over images: crops are
  one indexing op on a strided view of every possible crop (no copy per
  image, no group per offset), one indexed flip and one scatter for cutout;
- `per_sample_transforms`: torchvision's RandomCrop, RandomHorizontalFlip and
  RandomErasing, configured to draw from the same distributions, for a
  DataLoader that augments one image at a time (the usual way).

`examples` is the "1000 seconds" article's grid: a few images as they are, under
each augmentation alone and under all of them, as 0..255 levels a report draws.

Everything works on uint8 before normalisation: a quarter of the bytes of
float32, and the value range stays 0..255. Padding and cutout use a fill
colour, normally each channel's mean, which is 0 after normalisation (the
seed article normalises, then pads and cuts out with zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # imported where used: a torch without its torchvision still augments batches
    from torchvision.transforms import v2


@dataclass(frozen=True)
class AugmentSpec:
    """Which augmentations, and how strong."""

    pad: int = 4  # pixels added on each side before a random crop back to the size (0: none)
    flip: bool = True  # flip left-right with probability 1/2
    cutout: int = 8  # side in pixels of a square set to the fill colour, inside the image (0: none)

    def __post_init__(self) -> None:
        if self.pad < 0 or self.cutout < 0:
            raise ValueError(f"AugmentSpec: pad and cutout must be >= 0, got {self}")

    def check(self, height: int, width: int) -> None:
        if self.cutout > min(height, width):
            raise ValueError(
                f"cutout of {self.cutout} px does not fit in {height} x {width} images"
            )


@dataclass(frozen=True)
class AugmentParams:
    """The random choices for n images (int64 / bool tensors of length n)."""

    dy: torch.Tensor  # crop offset from the padded image's top, 0..2 pad
    dx: torch.Tensor  # crop offset from the padded image's left, 0..2 pad
    flip: torch.Tensor  # bool: flip left-right (after cropping)
    cy: torch.Tensor  # cutout square's top row, 0..height - cutout
    cx: torch.Tensor  # cutout square's left column, 0..width - cutout

    def __len__(self) -> int:
        return len(self.dy)

    def to(self, device: torch.device | str) -> AugmentParams:
        return AugmentParams(
            *(t.to(device) for t in (self.dy, self.dx, self.flip, self.cy, self.cx))
        )

    def select(self, index: torch.Tensor) -> AugmentParams:
        return AugmentParams(*(t[index] for t in (self.dy, self.dx, self.flip, self.cy, self.cx)))


def draw(
    n: int, height: int, width: int, spec: AugmentSpec, generator: torch.Generator
) -> AugmentParams:
    """Random parameters for n images of height x width, on the generator's device."""
    spec.check(height, width)
    device = generator.device

    def ints(high: int) -> torch.Tensor:  # uniform on 0..high
        return torch.randint(0, high + 1, (n,), generator=generator, device=device)

    flip = torch.rand(n, generator=generator, device=device) < 0.5
    if not spec.flip:
        flip = torch.zeros(n, dtype=torch.bool, device=device)
    return AugmentParams(
        dy=ints(2 * spec.pad),
        dx=ints(2 * spec.pad),
        flip=flip,
        cy=ints(height - spec.cutout),
        cx=ints(width - spec.cutout),
    )


def fill_colour(mean: tuple[float, ...]) -> tuple[int, ...]:
    """Per-channel means (0..1) as uint8 values: padding and cutout become 0 once normalised."""
    return tuple(min(255, max(0, round(m * 255))) for m in mean)


def _fill(fill: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """fill as a uint8 tensor that broadcasts over (N x) C x H x W."""
    channels = like.shape[-3]
    if len(fill) not in (1, channels):
        raise ValueError(f"fill has {len(fill)} values for {channels}-channel images")
    value = torch.tensor(fill, dtype=torch.uint8, device=like.device)
    return value.expand(channels).view(channels, 1, 1)


def augment_one(
    image: torch.Tensor,
    dy: int,
    dx: int,
    flip: bool,
    cy: int,
    cx: int,
    spec: AugmentSpec,
    fill: tuple[int, ...],
) -> torch.Tensor:
    """The definition, for one C x H x W uint8 image: pad by spec.pad with `fill`,
    crop H x W at (dy, dx), flip left-right if asked, then fill the cutout square
    whose top-left corner is (cy, cx)."""
    c, h, w = image.shape
    p = spec.pad
    padded = _fill(fill, image).expand(c, h + 2 * p, w + 2 * p).clone()
    padded[:, p : p + h, p : p + w] = image
    out = padded[:, dy : dy + h, dx : dx + w].clone()
    if flip:
        out = out.flip(-1)
    if spec.cutout:
        out[:, cy : cy + spec.cutout, cx : cx + spec.cutout] = _fill(fill, image)
    return out


def pad(images: torch.Tensor, pad: int, fill: tuple[int, ...]) -> torch.Tensor:
    """N x C x H x W uint8 images with `pad` pixels of `fill` on every side."""
    n, c, h, w = images.shape
    padded = _fill(fill, images).expand(n, c, h + 2 * pad, w + 2 * pad).contiguous()
    padded[:, :, pad : pad + h, pad : pad + w] = images
    return padded


def augment_padded(
    padded: torch.Tensor,
    index: torch.Tensor,
    params: AugmentParams,
    spec: AugmentSpec,
    fill: tuple[int, ...],
) -> torch.Tensor:
    """augment_one of the images padded[index] (padded by spec.pad, e.g. once for a
    whole dataset), image k with params[k]: a gather and the crops in one op.

    No loop over images or offsets: the padded images are viewed (as_strided, no
    copy) as every image's (2 pad + 1)^2 possible crops, and one indexing op
    picks each image's crop; the flipped images are flipped in one indexed
    copy, and the cutout squares are written by one scatter of N x cutout^2
    pixels instead of a select over an N x H x W mask.
    """
    total, c, hp, wp = padded.shape
    p = spec.pad
    h, w = hp - 2 * p, wp - 2 * p
    spec.check(h, w)
    n = len(index)
    if len(params) != n:
        raise ValueError(f"{len(params)} augmentation parameters for {n} images")
    sn, sc, sh, sw = padded.stride()
    crops = padded.as_strided((total, 2 * p + 1, 2 * p + 1, c, h, w), (sn, sh, sw, sc, sh, sw))
    out = crops[index, params.dy, params.dx]
    if spec.flip:
        flipped = params.flip.nonzero().squeeze(1)
        out[flipped] = out[flipped].flip(-1)
    if spec.cutout:
        s = spec.cutout
        side = torch.arange(s, device=padded.device)
        rows = (params.cy[:, None] + side) * w  # N x s: first pixel of each row of the square
        pixels = (rows[:, :, None] + params.cx[:, None, None] + side).view(n, 1, s * s)
        fill_t = _fill(fill, out).view(1, c, 1).expand(n, c, s * s)
        out.view(n, c, h * w).scatter_(2, pixels.expand(n, c, s * s), fill_t)
    return out


def augment_batch(
    images: torch.Tensor, params: AugmentParams, spec: AugmentSpec, fill: tuple[int, ...]
) -> torch.Tensor:
    """augment_one for every image of an N x C x H x W uint8 batch, on its device
    (pad, then augment_padded)."""
    index = torch.arange(len(images), device=images.device)
    return augment_padded(pad(images, spec.pad, fill), index, params, spec, fill)


def per_sample_transforms(spec: AugmentSpec, size: int, fill: tuple[int, ...]) -> v2.Transform:
    """torchvision transforms drawing from the same distributions as `draw`, one
    C x size x size uint8 image at a time (RandomErasing with a fixed area and
    aspect ratio 1 is a cutout square that lies inside the image)."""
    from visionbench.core.optional import torchvision

    v2 = torchvision("torchvision.transforms.v2")  # the module, not only its type
    spec.check(size, size)
    steps: list[v2.Transform] = []
    if spec.pad:
        steps.append(v2.RandomCrop(size, padding=spec.pad, fill=list(fill)))
    if spec.flip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    if spec.cutout:
        area = spec.cutout**2 / size**2
        steps.append(
            v2.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0), value=list(fill))
        )
    return v2.Compose(steps) if steps else v2.Identity()


def precompute(
    images: torch.Tensor,
    spec: AugmentSpec,
    fill: tuple[int, ...],
    generators: list[torch.Generator],
) -> torch.Tensor:
    """Every planned epoch's augmented images at once: E x N x C x H x W uint8, epoch
    e drawn from generators[e]. Done once, then only read: augmentation leaves the
    training loop, at the cost of E copies of the data in memory or on disk."""
    n, _, h, w = images.shape
    out = images.new_empty((len(generators), *images.shape))
    for e, gen in enumerate(generators):
        out[e] = augment_batch(images, draw(n, h, w, spec, gen).to(images.device), spec, fill)
    return out


EXAMPLE_IMAGES = 6  # images in the examples grid


def examples(
    images: torch.Tensor,
    spec: AugmentSpec,
    fill: tuple[int, ...],
    count: int = EXAMPLE_IMAGES,
    seed: int = 0,
) -> dict[str, list]:
    """The `augmented_examples` figure (metrics.py): a fixed, seeded set of `count` of the
    N x C x H x W uint8 `images`, as they are, under each augmentation of `spec` alone
    (pad + random crop; the flip, shown on every image; cutout), and under all of them
    drawn as training draws them, as nested lists of 0..255 levels."""
    gen = torch.Generator().manual_seed(seed)
    picked = images[torch.randperm(len(images), generator=gen)[:count]].cpu()
    n, _, h, w = picked.shape

    def alone(pad: int = 0, cutout: int = 0) -> torch.Tensor:
        one = AugmentSpec(pad=pad, flip=False, cutout=cutout)
        return augment_batch(picked, draw(n, h, w, one, gen), one, fill)

    columns = {"original": picked}
    if spec.pad:
        columns["pad+crop"] = alone(pad=spec.pad)
    if spec.flip:
        columns["flip"] = picked.flip(-1)
    if spec.cutout:
        columns["cutout"] = alone(cutout=spec.cutout)
    columns["all"] = augment_batch(picked, draw(n, h, w, spec, gen), spec, fill)
    return {
        "columns": list(columns),
        "images": [[columns[c][i].tolist() for c in columns] for i in range(n)],
    }
