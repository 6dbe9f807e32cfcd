"""Cheap image features for the premodel, each scaled to [0, 1].

Taylor et al. route each image on features that cost far less than the
cheapest CNN: brightness, contrast, hue and edges. Here every feature is a
few batched tensor ops on the uint8 images the models see, on their device,
with no randomness: the same images always give the same features.

Grey images have no hue and their saturation is 0 everywhere, so the colour
features are left out for them (`feature_names(1)` says which remain).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GREY_FEATURES = (
    "brightness",  # mean luminance
    "contrast",  # standard deviation of luminance, x2 (0.5 is the largest possible)
    "bright_share",  # share of pixels above mid grey (ink or stone cover)
    "entropy",  # entropy of a 16-bin luminance histogram, / log 16
    "edge_strength",  # mean Sobel gradient magnitude, / its largest possible value
    "edge_density",  # share of pixels whose gradient magnitude exceeds EDGE_THRESHOLD
    "detail",  # mean |Laplacian| (fine texture), / its largest possible value
)
COLOUR_FEATURES = (
    "hue_cos",  # (cos of the mean hue angle + 1) / 2, chroma-weighted
    "hue_sin",  # (sin of the mean hue angle + 1) / 2
    "saturation",  # mean HSV saturation
    "saturation_spread",  # standard deviation of saturation, x2
)
HIST_BINS = 16
EDGE_THRESHOLD = 0.25  # of the largest Sobel magnitude: a step of about a third of full scale
_SOBEL_MAX = 4 * math.sqrt(2)  # |(gx, gy)| for a full-scale step on [0, 1] images
_LAPLACE_MAX = 8.0  # |4-neighbour Laplacian (kernel sum of |weights|)| on [0, 1]


def feature_names(channels: int) -> tuple[str, ...]:
    """The features of images with this many channels (1: grey, 3: RGB)."""
    if channels == 1:
        return GREY_FEATURES
    if channels == 3:
        return GREY_FEATURES + COLOUR_FEATURES
    raise ValueError(f"features need 1 or 3 channels, got {channels}")


def _kernels(device: torch.device) -> torch.Tensor:
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    laplace = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    return torch.stack([sobel_x, sobel_x.T, laplace]).unsqueeze(1).to(device)


def _grey_features(lum: torch.Tensor) -> list[torch.Tensor]:
    """lum: N x 1 x H x W in [0, 1]."""
    n = lum.shape[0]
    flat = lum.flatten(1)
    bins = (flat * HIST_BINS).long().clamp_(max=HIST_BINS - 1)
    offsets = torch.arange(n, device=lum.device).unsqueeze(1) * HIST_BINS
    counts = torch.bincount((bins + offsets).flatten(), minlength=n * HIST_BINS)
    p = counts.view(n, HIST_BINS).float() / flat.shape[1]
    entropy = -(p * p.clamp_min(1e-12).log()).sum(1) / math.log(HIST_BINS)

    filtered = F.conv2d(F.pad(lum, (1, 1, 1, 1), mode="replicate"), _kernels(lum.device))
    magnitude = filtered[:, :2].pow(2).sum(1).sqrt() / _SOBEL_MAX
    return [
        flat.mean(1),
        flat.std(1, correction=0) * 2,
        (flat > 0.5).float().mean(1),
        entropy,
        magnitude.flatten(1).mean(1),
        (magnitude > EDGE_THRESHOLD).flatten(1).float().mean(1),
        filtered[:, 2].abs().flatten(1).mean(1) / _LAPLACE_MAX,
    ]


def _colour_features(rgb: torch.Tensor) -> list[torch.Tensor]:
    """rgb: N x 3 x H x W in [0, 1]."""
    r, g, b = rgb.unbind(1)
    # Hue as the angle in the opponent plane (the hexagonal hue of HSV, smooth);
    # the mean of the opponent vectors weights each pixel's hue by its chroma.
    a = (2 * r - g - b).flatten(1).mean(1) / 2
    bb = (g - b).flatten(1).mean(1) * (math.sqrt(3) / 2)
    angle = torch.atan2(bb, a)  # atan2(0, 0) = 0: a grey image gets hue 0
    hi, lo = rgb.amax(1), rgb.amin(1)
    saturation = ((hi - lo) / hi.clamp_min(1e-6)).flatten(1)
    return [
        (angle.cos() + 1) / 2,
        (angle.sin() + 1) / 2,
        saturation.mean(1),
        saturation.std(1, correction=0) * 2,
    ]


@torch.no_grad()
def extract(images: torch.Tensor) -> torch.Tensor:
    """Features of uint8 images (N x C x H x W, C 1 or 3): float32 N x F in [0, 1],
    in the order of `feature_names(C)`, on the images' device."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(
            f"features need uint8 N x C x H x W images, got {images.dtype} {tuple(images.shape)}"
        )
    channels = images.shape[1]
    feature_names(channels)  # checks the channel count
    x = images.float() / 255
    if channels == 1:
        cols = _grey_features(x)
    else:
        weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        cols = _grey_features((x * weights).sum(1, keepdim=True)) + _colour_features(x)
    return torch.stack(cols, dim=1).clamp_(0.0, 1.0)
