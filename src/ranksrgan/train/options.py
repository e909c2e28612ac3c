"""Training presets: conversion of a resolved preset to typed options.

A preset in ``config.train.presets`` may name ``extends: <other preset>``; the chain is
resolved by :mod:`ranksrgan.presets`. The resolved preset is turned into
:class:`TrainOptions`, which is what the engine takes: plain values, no config dict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ranksrgan.errors import RankSRGANError
from ranksrgan.presets import preset_hash, rank_term_keys, resolve_preset


@dataclass(frozen=True)
class NetSpec:
    """A network by registry name and constructor options."""

    arch: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RankerSpec:
    """Where the frozen Ranker comes from: ``random`` (stand-in), ``path`` or ``stage``."""

    source: str
    arch: str = "ranker_vgg12"
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    path: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class RankTerm:
    """One rank-content term: ``weight * sum_batch(sigmoid(R(G(x)) - bias))`` with a frozen
    Ranker (:mod:`ranksrgan.losses.rank_content`)."""

    weight: float
    ranker: RankerSpec
    bias: float = 0.0
    bn_mode: str = "batch"


@dataclass(frozen=True)
class LossOptions:
    """Loss weights (0 = term off) and their settings."""

    pixel_weight: float = 0.0
    pixel_criterion: str = "l1"
    mse_weight: float = 0.0
    perceptual_weight: float = 0.0
    perceptual_layer: str = "conv5_4"
    perceptual_criterion: str = "l1"
    perceptual_weights: str = "vgg19"
    gan_weight: float = 0.0
    gan_kind: str = "vanilla"
    # the rank-content terms with a weight > 0, summed (one in the paper; several Rankers
    # at once in the journal version's RankSRGAN-NM)
    rank: tuple[RankTerm, ...] = ()

    def rankers_to_load(self) -> list[RankerSpec]:
        """The terms' Rankers that load weights (source path or stage), in term order: the
        train CLI's ``--ranker`` files are theirs, one each, in this order."""
        return [t.ranker for t in self.rank if t.ranker.source != "random"]


@dataclass(frozen=True)
class DataOptions:
    """Patch sampling."""

    train: tuple[str, ...]
    val: str | None
    val_images: int = 0
    hr_patch: int = 296
    batch_size: int = 8
    flip: bool = True
    rotate: bool = True
    lr_source: str = "manifest"
    workers: int = 4
    # the first commit's 480x480 sub-images (size, step, thresh_size) with their own LR; None = off
    sub_images: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class TrainOptions:
    """Everything the engine needs for one preset."""

    name: str
    generator: NetSpec
    discriminator: NetSpec | None
    init: str | None
    data: DataOptions
    losses: LossOptions
    iterations: int
    seed: int
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    weight_decay_g: float
    weight_decay_d: float
    milestones: tuple[int, ...]
    gamma: float
    d_update_ratio: int = 1
    d_init_iters: int = 0
    bn_replicas: int = 1
    ema_decay: float = 0.0  # BasicSR's generator EMA; 0 = off (the paper presets)
    checkpoint_every: int = 5000
    val_every: int = 5000
    log_every: int = 100
    precision: str = "bf16"
    channels_last: bool = True
    compile: bool = False
    labels: tuple[str, ...] = ()
    config_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (for G.json / logs)."""
        return asdict(self)


def _get(d: dict[str, Any], key: str, where: str):
    if key not in d:
        raise RankSRGANError(f"config key '{where}.{key}' (missing key)")
    return d[key]


def options_from_config(train_cfg: dict[str, Any], name: str) -> TrainOptions:
    """Typed options of preset ``name`` from the config's ``train`` section."""
    presets = train_cfg.get("presets", {})
    p = resolve_preset(presets, name)
    where = f"train.presets.{name}"
    rt = train_cfg.get("runtime", {})
    gen = _get(p, "generator", where)
    disc = p.get("discriminator")
    losses = p.get("losses", {})
    data = _get(p, "data", where)
    optim = _get(p, "optim", where)
    sched = _get(p, "scheduler", where)
    per = losses.get("perceptual") or {}
    gan = losses.get("gan") or {}
    pix = losses.get("pixel") or {}
    rank_spec = []
    for key, term in rank_term_keys(p):
        if not term.get("weight"):
            continue
        r = _get(term, "ranker", f"{where}.{key}")
        rank_spec.append(RankTerm(
            weight=float(term["weight"]),
            bias=term.get("bias", 0.0),
            bn_mode=term.get("bn_mode", "batch"),
            ranker=RankerSpec(
                source=_get(r, "source", f"{where}.{key}.ranker"),
                arch=r.get("arch", "ranker_vgg12"),
                options=r.get("options", {}),
                seed=r.get("seed", 0),
                path=r.get("path"),
                name=r.get("name"),
            ),
        ))
    if gan.get("weight", 0) and not disc:
        raise RankSRGANError(
            f"config key '{where}.discriminator': needed when losses.gan.weight > 0"
        )
    opts = TrainOptions(
        name=name,
        generator=NetSpec(gen["arch"], dict(gen.get("options", {}))),
        discriminator=NetSpec(disc["arch"], dict(disc.get("options", {})))
        if disc and gan.get("weight", 0)
        else None,
        init=p.get("init"),
        data=DataOptions(
            train=tuple(_get(data, "train", f"{where}.data")),
            val=data.get("val"),
            val_images=data.get("val_images", 0),
            hr_patch=_get(data, "hr_patch", f"{where}.data"),
            batch_size=_get(data, "batch_size", f"{where}.data"),
            flip=data.get("flip", True),
            rotate=data.get("rotate", True),
            lr_source=data.get("lr_source", "manifest"),
            workers=rt.get("workers", 4),
            sub_images=(
                (si["size"], si["step"], si.get("thresh_size", 0))
                if (si := data.get("sub_images"))
                else None
            ),
        ),
        losses=LossOptions(
            pixel_weight=pix.get("weight", 0.0),
            pixel_criterion=pix.get("criterion", "l1"),
            mse_weight=(losses.get("mse") or {}).get("weight", 0.0),
            perceptual_weight=per.get("weight", 0.0),
            perceptual_layer=per.get("layer", "conv5_4"),
            perceptual_criterion=per.get("criterion", "l1"),
            perceptual_weights=per.get("weights", "vgg19"),
            gan_weight=gan.get("weight", 0.0),
            gan_kind=gan.get("kind", "vanilla"),
            rank=tuple(rank_spec),
        ),
        iterations=_get(p, "iterations", where),
        seed=p.get("seed", 0),
        lr_g=_get(optim, "lr_g", f"{where}.optim"),
        lr_d=optim.get("lr_d", optim["lr_g"]),
        betas=tuple(optim.get("betas", (0.9, 0.99))),
        weight_decay_g=optim.get("weight_decay_g", 0.0),
        weight_decay_d=optim.get("weight_decay_d", 0.0),
        milestones=tuple(sched.get("milestones", ())),
        gamma=sched.get("gamma", 0.5),
        d_update_ratio=p.get("d_update_ratio", 1),
        d_init_iters=p.get("d_init_iters", 0),
        bn_replicas=p.get("bn_replicas", 1),
        ema_decay=float(p.get("ema_decay") or 0.0),
        checkpoint_every=p.get("checkpoint_every", 5000),
        val_every=p.get("val_every", 5000),
        log_every=p.get("log_every", 100),
        precision=rt.get("precision", "bf16"),
        channels_last=rt.get("channels_last", True),
        compile=rt.get("compile", False),
        labels=tuple(p.get("labels", ())),
        config_sha256=preset_hash({"preset": p, "runtime": rt}),
    )
    if not opts.data.train:
        raise RankSRGANError(f"config key '{where}.data.train': needs at least one dataset")
    if opts.data.hr_patch % 4:
        raise RankSRGANError(
            f"config key '{where}.data.hr_patch': must be a multiple of the scale 4"
        )
    if opts.data.sub_images and opts.data.sub_images[0] < opts.data.hr_patch:
        raise RankSRGANError(
            f"config key '{where}.data.sub_images.size': {opts.data.sub_images[0]} is smaller "
            f"than hr_patch {opts.data.hr_patch}"
        )
    return opts
