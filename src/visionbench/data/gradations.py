"""Gradations: a procedural texture set of particle-size mixes, at any resolution.

The seed talk classified photos of railway-embankment material into 5
gradations (particle-size mixes). This generator stands in for those photos:
every image is a scene of shaded, elliptical stones over a dark matrix,
described in unit coordinates and rendered at whatever size is asked. The same
scene at 64 px and at 512 px shows the same stones, so a resolution sweep
measures the resolution, not a different data set.

What separates the classes is the grading: the share `g` of the covered area
taken by gravel rather than sand. Each class covers a band of `g`, and the
bands of neighbouring classes overlap, so the middle classes (mixtures) are
genuinely confusable and no model reaches 100% for free. Everything else
varies per image and carries no class information: the mineral palette, a
lighting gradient, and a random 25% brightness and contrast jitter (as in the
talk's training), so mean brightness alone is a weak cue.

Rendering is vectorised (a z-buffer filled with `scatter_reduce`, the stone
footprints from one matrix product per footprint size). Measured on 2 shared
cores: 1,500 images at 64 px take 3-4 s of CPU, 500 at 512 px about 17 s. That
is paid once per process, so sets are cached in-process only: a disk cache
would save little and add invalidation and partial-write failure modes.
Images are deterministic on one machine; another CPU's float32 kernels may
round a stone's edge pixel differently.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from visionbench.data.imageset import ImageSet

GENERATOR_VERSION = 1  # part of the random seed: bump when a change alters the images

CLASSES = ("sand", "gravelly sand", "sand and gravel", "sandy gravel", "gravel")

# Stone sizes as equivalent radii (sqrt of the semi-axes' product), in units of
# the image side, log-uniform within each fraction.
SAND_RADII = (0.007, 0.024)
GRAVEL_RADII = (0.035, 0.14)
COVERAGE = 1.6  # expected stone area per unit area; exp(-1.6): ~20% of the matrix shows
BAND_OVERLAP = 0.05  # how far each class's band of gravel share reaches into its neighbours'
ASPECT = (0.6, 1.0)  # minor/major axis ratio of a stone
JITTER = 0.25  # brightness and contrast factors drawn from 1 +- JITTER
LIGHT_GRADIENT = 0.15  # lighting varies across an image by up to +- this fraction
MIN_RENDER = 128  # smaller images are rendered an integer factor larger, then area-averaged
PIVOT = 0.4  # grey level that contrast jitter scales about

# Mineral colours (RGB, 0..1); each image mixes them in its own proportions.
MINERALS = np.array(
    [
        (0.62, 0.62, 0.60),  # granite grey
        (0.66, 0.50, 0.36),  # sandstone brown
        (0.76, 0.64, 0.42),  # ochre
        (0.64, 0.42, 0.34),  # iron red
        (0.44, 0.45, 0.47),  # basalt
        (0.85, 0.82, 0.76),  # quartz
    ]
)
LIGHT = np.array((-0.45, -0.55, 0.70)) / np.linalg.norm((-0.45, -0.55, 0.70))  # from top left


@dataclass(frozen=True, eq=False)
class Scenes:
    """Every stone of every image, in unit coordinates (x right, y down).

    Stones are sorted by image, and within an image in drawing order (later
    ones lie on top). Nothing here depends on the size the scenes are rendered at.
    """

    labels: np.ndarray  # int64, one per image
    gravel: np.ndarray  # share of the stone area that is gravel, one per image
    image: np.ndarray  # int64, one per stone: the image it belongs to
    centre: np.ndarray  # stones x 2 (x, y)
    axes: np.ndarray  # stones x 2: semi-axes (major, minor)
    angle: np.ndarray  # orientation of the major axis, radians
    colour: np.ndarray  # stones x 3
    matrix: np.ndarray  # images x 3: colour between the stones
    light: np.ndarray  # images x 2: lighting gradient along x and y
    brightness: np.ndarray  # one factor per image
    contrast: np.ndarray  # one factor per image, about PIVOT

    @property
    def count(self) -> int:
        return len(self.labels)


def _mean_area(radii: tuple[float, float]) -> float:
    """Mean of pi r^2 for r log-uniform on radii."""
    lo, hi = radii
    return math.pi * (hi**2 - lo**2) / (2 * math.log(hi / lo))


def make_scenes(count: int, seed: int = 0) -> Scenes:
    """The scenes of `count` images; labels 0, 1, ..., 4, 0, ... (balanced).

    Each fraction is a Boolean model: a Poisson number of stones, centres
    uniform over the image widened by the fraction's largest radius (stones
    that cannot reach the image are then dropped), so the edges are as covered
    as the middle. Within an image the sand comes first and the gravel is
    drawn over it, as fines settle into the gaps between stones.
    """
    if count < 0:
        raise ValueError(f"gradations: count must be >= 0, got {count}")
    rng = np.random.default_rng([GENERATOR_VERSION, seed, count])
    labels = np.arange(count, dtype=np.int64) % len(CLASSES)
    band = 1 / len(CLASSES)
    gravel = rng.uniform(labels * band - BAND_OVERLAP, (labels + 1) * band + BAND_OVERLAP)
    gravel = gravel.clip(0, 1)
    n_sand, n_gravel = (
        rng.poisson(COVERAGE * share * (1 + 2 * radii[1]) ** 2 / _mean_area(radii))
        for share, radii in ((1 - gravel, SAND_RADII), (gravel, GRAVEL_RADII))
    )
    per_image = n_sand + n_gravel
    image = np.repeat(np.arange(count), per_image)
    rank = np.arange(len(image)) - np.repeat(np.cumsum(per_image) - per_image, per_image)
    radii = np.where((rank >= n_sand[image])[:, None], GRAVEL_RADII, SAND_RADII)
    lo, hi = radii[:, 0], radii[:, 1]
    centre = rng.uniform(-hi[:, None], 1 + hi[:, None], size=(len(image), 2))
    radius = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    aspect = rng.uniform(*ASPECT, size=len(image))
    axes = np.stack([radius / np.sqrt(aspect), radius * np.sqrt(aspect)], axis=1)
    keep = np.abs(centre - centre.clip(0, 1)).max(axis=1) <= axes[:, 0]
    image, centre, axes = image[keep], centre[keep], axes[keep]
    n = len(image)
    # Colour: each image has a palette of three minerals (repeats weigh more);
    # each stone is one of them, lighter or darker, slightly tinted.
    palette = rng.integers(0, len(MINERALS), size=(count, 3))
    mineral = palette[image, rng.integers(0, 3, size=n)]
    colour = MINERALS[mineral] * rng.lognormal(0.0, 0.18, size=(n, 1))
    colour += rng.normal(0.0, 0.02, size=(n, 3))
    matrix = MINERALS[palette].mean(axis=1) * rng.uniform(0.2, 0.4, size=(count, 1))
    return Scenes(
        labels=labels,
        gravel=gravel,
        image=image,
        centre=centre,
        axes=axes,
        angle=rng.uniform(0, math.pi, n),
        colour=colour.clip(0, 1),
        matrix=matrix,
        light=rng.uniform(-LIGHT_GRADIENT, LIGHT_GRADIENT, size=(count, 2)),
        brightness=rng.uniform(1 - JITTER, 1 + JITTER, count),
        contrast=rng.uniform(1 - JITTER, 1 + JITTER, count),
    )


def _zbuffer(scenes: Scenes, sel: slice, first: int, n: int, res: int) -> torch.Tensor:
    """Topmost stone over each sample point of n images, as keys (-1: none).

    A key packs the stone's index (in drawing order, so the max is the topmost)
    with its Lambert shading at that point in the low 8 bits. Stones are grouped
    by footprint width w; within a group, the elliptic distance rho^2 and the
    lit part of the normal are quadratic and affine in the sample offsets, so
    one matrix product per group evaluates them over all w x w footprints, and
    one scatter writes them. Footprints may overhang the image: the buffer has a
    margin, cropped at the end.
    """
    f64 = functools.partial(torch.as_tensor, dtype=torch.float64)
    centre, axes = f64(scenes.centre[sel]) * res, f64(scenes.axes[sel]) * res
    angle = f64(scenes.angle[sel])
    image = torch.as_tensor(scenes.image[sel]) - first
    reach = axes[:, 0]
    lo = torch.ceil(centre - reach[:, None] - 0.5).long()  # first sample covered, x and y
    width = (torch.floor(centre + reach[:, None] - 0.5).long() - lo + 1).amax(dim=1)
    margin = int(max(0, -int(lo.min()), int((lo + width[:, None]).max()) - res)) if len(lo) else 0
    side = res + 2 * margin
    # Keys are int32, half the memory traffic of int64 (~10% faster); a chunk
    # holds far fewer than the 2**23 stones that would overflow them.
    if len(lo) >= 2**23:
        raise ValueError(f"gradations: {len(lo)} stones in one chunk overflow int32 keys")
    top = torch.full((n * side * side,), -1, dtype=torch.int32)

    # Everything per stone, sorted by footprint width so each group is a slice.
    width, ids = torch.sort(width)
    lo, centre, axes, image, angle = (t[ids] for t in (lo, centre, axes, image, angle))
    base = (image * side + lo[:, 1] + margin) * side + lo[:, 0] + margin  # int64 index
    ids = ids.int()
    c, s, a, b = torch.cos(angle), torch.sin(angle), axes[:, 0], axes[:, 1]
    lx, ly, lz = LIGHT.tolist()
    group_widths, group_sizes = torch.unique_consecutive(width, return_counts=True)
    start = 0
    for w, size in zip(group_widths.tolist(), group_sizes.tolist(), strict=True):
        g = slice(start, start + size)
        start += size
        half = (w - 1) / 2
        # Sample (ox, oy) of a footprint, ox and oy in -half..half, lies at
        # (ox + ex, oy + ey) samples from the stone's centre.
        ex = lo[g, 0] + half + 0.5 - centre[g, 0]
        ey = lo[g, 1] + half + 0.5 - centre[g, 1]
        # u, v: coordinates along the stone's axes, scaled so its outline is the
        # unit circle; both are affine in (ox, oy): u = U . (ox, oy, 1).
        cg, sg, ag, bg = c[g], s[g], a[g], b[g]
        u = torch.stack([cg / ag, sg / ag, (cg * ex + sg * ey) / ag], dim=1)
        v = torch.stack([-sg / bg, cg / bg, (cg * ey - sg * ex) / bg], dim=1)
        rho2 = torch.stack(
            [
                u[:, 0] ** 2 + v[:, 0] ** 2,
                2 * (u[:, 0] * u[:, 1] + v[:, 0] * v[:, 1]),
                u[:, 1] ** 2 + v[:, 1] ** 2,
                2 * (u[:, 0] * u[:, 2] + v[:, 0] * v[:, 2]),
                2 * (u[:, 1] * u[:, 2] + v[:, 1] * v[:, 2]),
                u[:, 2] ** 2 + v[:, 2] ** 2,
            ],
            dim=1,
        )
        # The normal's in-plane part is (u, v) rotated back to image axes.
        lit = u * (cg * lx + sg * ly)[:, None] + v * (cg * ly - sg * lx)[:, None]
        o = torch.arange(w, dtype=torch.float64) - half
        oy, ox = (t.reshape(-1) for t in torch.meshgrid(o, o, indexing="ij"))
        ones = torch.ones_like(ox)
        r2 = rho2.float() @ torch.stack([ox * ox, ox * oy, oy * oy, ox, oy, ones]).float()
        lin = lit.float() @ torch.stack([ox, oy, ones]).float()
        lambert = lin.add_((1 - r2).clamp_min_(0).sqrt_().mul_(lz)).clamp_(0, 1)
        key = (lambert.mul_(255).round_().int() + ids[g, None] * 256).masked_fill_(r2 > 1, -1)
        offsets = torch.arange(w).repeat(w) + torch.arange(w).repeat_interleave(w) * side
        top.scatter_reduce_(0, (base[g, None] + offsets).view(-1), key.view(-1), reduce="amax")
    top = top.view(n, side, side)
    return top[:, margin : margin + res, margin : margin + res]


def _render_chunk(scenes: Scenes, first: int, n: int, res: int) -> torch.Tensor:
    """Images first..first+n-1 as float RGB (n x 3 x res x res), before any jitter."""
    lo, hi = np.searchsorted(scenes.image, [first, first + n])
    key = _zbuffer(scenes, slice(lo, hi), first, n, res)
    hit = key >= 0
    # One colour table: the stones, then each image's matrix colour for the misses.
    table = torch.as_tensor(
        np.concatenate([scenes.colour[lo:hi], scenes.matrix[first : first + n]]),
        dtype=torch.float32,
    )
    miss = torch.arange(hi - lo, hi - lo + n).view(n, 1, 1)
    row = torch.where(hit, key >> 8, miss)
    shade = torch.where(hit, 0.35 + 0.85 / 255 * (key & 255).float(), 1.0)
    out = table[row] * shade[..., None]  # n x res x res x 3
    return out.permute(0, 3, 1, 2)


@contextlib.contextmanager
def _one_thread():
    """Run torch on one thread, then restore the setting.

    The rendering ops are many and mid-sized; on a 2-core machine shared with
    other work, two OpenMP threads made 1,500 images at 64 px take 30 s instead
    of 4.6 s (each waits for the other to be scheduled). One thread also keeps
    the float32 matrix products, and so the images, independent of thread count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def render(scenes: Scenes, size: int) -> torch.Tensor:
    """The scenes as uint8 RGB images, count x 3 x size x size.

    Sizes below MIN_RENDER are rendered an integer factor larger and
    area-averaged down (supersampling), so a stone smaller than a pixel still
    adds its share to the pixel instead of flickering in or out. Lighting and
    jitter are linear, so they are applied after averaging, at the output size.
    """
    if size < 1:
        raise ValueError(f"gradations: size must be positive, got {size}")
    factor = max(1, math.ceil(MIN_RENDER / size))
    res = size * factor
    coord = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
    per_image = functools.partial(torch.as_tensor, dtype=torch.float32)
    out = torch.empty((scenes.count, 3, size, size), dtype=torch.uint8)
    chunk = max(1, 4_000_000 // (res * res))  # bounds the z-buffer and its temporaries
    with _one_thread():
        for first in range(0, scenes.count, chunk):
            n = min(chunk, scenes.count - first)
            block = _render_chunk(scenes, first, n, res)
            if factor > 1:
                block = F.avg_pool2d(block, factor)
            now = slice(first, first + n)
            light = per_image(scenes.light[now])
            ramp = 1 + light[:, 0, None, None] * coord + light[:, 1, None, None] * coord[:, None]
            gain = ramp * per_image(scenes.brightness[now])[:, None, None]
            contrast = per_image(scenes.contrast[now])[:, None, None, None]
            block = (block * gain[:, None] - PIVOT) * contrast + PIVOT
            out[now] = block.mul_(255).round_().clamp_(0, 255).to(torch.uint8)
    return out


@functools.lru_cache(maxsize=4)
def make_gradations(count: int, size: int, seed: int = 0) -> ImageSet:
    """`count` gradation textures at size x size (RGB, uint8), 5 balanced classes.

    Deterministic from (count, size, seed), and the same scenes at every size.
    Cached in-process, a few sets at most (5,000 images at 256 px are 1 GB).
    """
    scenes = make_scenes(count, seed)
    images = render(scenes, size)
    return ImageSet("gradations", images, torch.from_numpy(scenes.labels), CLASSES)
