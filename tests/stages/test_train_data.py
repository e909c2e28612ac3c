"""Training patches: decoded cache, deterministic keyed sampling, augmentations, loaders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.fit.data import iteration_loader
from ranksrgan.imresize import imresize
from ranksrgan.io import read_image
from ranksrgan.train.data import PatchCache, PatchDataset, augment
from tests.support.train_inputs import make_dataset


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("patches")
    manifest = make_dataset(root, "tr")
    return PatchCache.build([manifest], root / "cache"), manifest, root


def test_cache_holds_decoded_images_and_is_reused(cache):
    pc, manifest, root = cache
    df = pd.read_parquet(manifest).sort_values("image")
    assert pc.images == list(df["image"])
    for i, r in enumerate(df.itertuples()):
        assert np.array_equal(pc.hr(i), read_image(r.hr_path))
        assert np.array_equal(pc.lr(i), read_image(r.lr_path))
    again = PatchCache.build([manifest], root / "cache")
    assert again.folder == pc.folder


def test_patches_are_keyed_aligned_and_deterministic(cache):
    pc, _, _ = cache
    ds = PatchDataset(pc, 64, seed=5, flip=False, rotate=False)
    lr, hr = ds[(7, 1)]
    lr2, hr2 = ds[(7, 1)]
    assert (
        lr.dtype == torch.uint8
        and tuple(lr.shape) == (3, 16, 16)
        and tuple(hr.shape) == (3, 64, 64)
    )
    assert torch.equal(lr, lr2) and torch.equal(hr, hr2)
    other = [ds[(8, j)][1] for j in range(4)]
    assert not all(torch.equal(hr, o) for o in other)
    # LR crop is the x4-downscaled HR crop (up to the crop's border context)
    hr_np = hr.permute(1, 2, 0).numpy()
    lr_np = lr.permute(1, 2, 0).numpy().astype(float)
    own = imresize(np.ascontiguousarray(hr_np), 0.25).astype(float)
    assert np.abs(own[2:-2, 2:-2] - lr_np[2:-2, 2:-2]).max() <= 1.0
    bic = PatchDataset(pc, 64, seed=5, flip=False, rotate=False, lr_source="bicubic")
    lr_b, hr_b = bic[(7, 1)]
    assert torch.equal(hr_b, hr) and np.array_equal(
        lr_b.permute(1, 2, 0).numpy(), own.astype(np.uint8)
    )


def test_augment_applies_same_transform_to_both():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 255, (8, 12, 3)).astype(np.float64)

    def pool(a):  # 4x4 block means commute with flips and transposition
        return a.reshape(a.shape[0] // 4, 4, a.shape[1] // 4, 4, 3).mean(axis=(1, 3))

    lr = pool(hr)
    for flags in [
        (True, False, False),
        (False, True, False),
        (False, False, True),
        (True, True, True),
    ]:
        h2, l2 = augment(hr, lr, *flags)
        assert np.allclose(pool(np.ascontiguousarray(h2)), l2)
    h2, _ = augment(hr, lr, False, False, True)
    assert h2.shape == (12, 8, 3)


def test_loader_batches_do_not_depend_on_workers_or_start(cache):
    pc, _, _ = cache
    ds = PatchDataset(pc, 32, seed=1)
    a = list(iteration_loader(ds, 0, 4, 3, workers=0, pin_memory=False))
    b = list(iteration_loader(ds, 0, 4, 3, workers=2, pin_memory=False))
    c = list(iteration_loader(ds, 2, 4, 3, workers=0, pin_memory=False))  # resumed at iteration 2
    assert len(a) == len(b) == 4 and len(c) == 2
    for (la, ha), (lb, hb) in zip(a, b, strict=True):
        assert torch.equal(la, lb) and torch.equal(ha, hb)
    for (la, ha), (lc, hc) in zip(a[2:], c, strict=True):
        assert torch.equal(la, lc) and torch.equal(ha, hc)


def test_patch_larger_than_image_is_an_error(cache):
    pc, _, _ = cache
    with pytest.raises(RankSRGANError, match="smaller than hr_patch"):
        PatchDataset(pc, 4096, seed=0)
