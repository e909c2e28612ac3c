"""Perceptual (VGG feature) loss.

VGG19 ``features`` truncated after a named layer (default ``conv5_4``, before its ReLU: the
authors' ``features[:35]``), input normalised with the ImageNet mean/std, frozen and in eval
mode. Weights come either from torchvision's ImageNet file (a path handed in by the caller: the
train rule's input, fetched beforehand by its own download rule; nothing is downloaded here) or,
for offline demo/CI runs, from a seeded random initialisation, which must be
asked for explicitly (``weights="random"``) and is logged loudly: features of a random VGG are
not a perceptual metric.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from ranksrgan.errors import RankSRGANError
from ranksrgan.losses.registry import register_loss

log = logging.getLogger(__name__)

# VGG19 "features" layout: blocks of 2, 2, 4, 4, 4 convs, each conv followed by ReLU, each block
# by max-pooling.
_BLOCKS = (2, 2, 4, 4, 4)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layer_index(layer: str) -> int:
    """Index in ``vgg19().features`` of ``convB_K``, ``reluB_K`` or ``poolB``."""
    idx = 0
    for b, n in enumerate(_BLOCKS, start=1):
        for k in range(1, n + 1):
            if layer == f"conv{b}_{k}":
                return idx
            if layer == f"relu{b}_{k}":
                return idx + 1
            idx += 2
        if layer == f"pool{b}":
            return idx
        idx += 1
    raise RankSRGANError(f"perceptual loss: unknown VGG19 layer '{layer}' (e.g. conv5_4, relu5_4)")


def build_vgg19_features(layer: str, weights: str, path: str | os.PathLike | None, seed: int = 0):
    """VGG19 ``features`` up to and including ``layer``, frozen, eval mode."""
    from torchvision.models import vgg19

    end = vgg19_layer_index(layer) + 1
    if weights == "random":
        log.warning(
            "PERCEPTUAL LOSS USES RANDOM VGG19 WEIGHTS (seed %d): a stand-in for offline runs; "
            "every output of this run is marked 'random perceptual weights'",
            seed,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = vgg19(weights=None).features[:end]
    elif weights == "vgg19":
        if path is None or not os.path.isfile(path):
            raise RankSRGANError(f"perceptual loss: VGG19 weight file not found: {path}")
        net = vgg19(weights=None).features[:end]
        state = torch.load(path, map_location="cpu", weights_only=True)
        feats = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        needed = set(net.state_dict())
        missing = needed - set(feats)
        if missing:
            raise RankSRGANError(
                f"{path}: not a torchvision VGG19 file (missing {sorted(missing)[0]})"
            )
        net.load_state_dict({k: feats[k] for k in needed})
    else:
        raise RankSRGANError(
            f"perceptual loss: weights must be 'vgg19' or 'random', got '{weights}'"
        )
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@register_loss("perceptual")
class PerceptualLoss(nn.Module):
    """``criterion(VGG(x), VGG(ref))`` on ImageNet-normalised RGB inputs in [0, 1].

    Args:
        layer: VGG19 layer whose output is compared (``conv5_4`` = before ReLU, the authors').
        criterion: ``l1`` (authors') or ``l2``.
        weights: ``vgg19`` (ImageNet file at ``path``) or ``random`` (loud stand-in).
        path: the torchvision ``vgg19`` state-dict file when ``weights == "vgg19"``.
        seed: initialisation seed of the random stand-in.
    """

    def __init__(
        self,
        layer: str = "conv5_4",
        criterion: str = "l1",
        weights: str = "vgg19",
        path: str | os.PathLike | None = None,
        seed: int = 0,
    ):
        super().__init__()
        if criterion not in ("l1", "l2"):
            raise RankSRGANError(f"perceptual loss: criterion must be l1 or l2, got '{criterion}'")
        self.criterion = criterion
        self.weights = weights
        self.features = build_vgg19_features(layer, weights, path, seed)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:  # the VGG stays in eval mode
        super().train(mode)
        self.features.eval()
        return self

    mean: torch.Tensor
    std: torch.Tensor

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        fx = self.features((x - self.mean) / self.std)
        with torch.no_grad():
            fr = self.features((ref - self.mean) / self.std)
        fx, fr = fx.float(), fr.float()
        return F.l1_loss(fx, fr) if self.criterion == "l1" else F.mse_loss(fx, fr)
