"""The paper's exact setup as named choices (which ESRGAN / SRGAN, weights lists,
precision, bn_replicas, sub-images, D init, beta2).

Weights slots for the authors' shared-drive files (ESRGAN_SuperSR.pth, BasicSR's SRGAN.pth),
the BasicSR-SRGAN preset, per-replica BatchNorm (2-GPU DataParallel), Kaiming init of D and
480 px sub-images with their own LR.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch

from ranksrgan import archs
from ranksrgan.archs.common import replica_forward
from ranksrgan.config import load_config, weights_choice
from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize
from ranksrgan.io import write_png
from ranksrgan.losses import build_loss
from ranksrgan.train.data import PatchCache, PatchDataset, sub_image_boxes
from ranksrgan.train.options import options_from_config
from ranksrgan.weights import fetch
from tests.support import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def paper():
    return load_config(REPO / "config" / "config.yaml", SCHEMA)


def _with_paths(cfg, tmp_path):
    """The paper config with its shared-drive weight slots pointing into tmp_path."""
    cfg = copy.deepcopy(cfg)
    for name in ("esrgan_supersr", "srgan_basicsr"):
        cfg["weights"][name]["path"] = str(tmp_path / Path(cfg["weights"][name]["path"]).name)
    return cfg


# ---------------------------------------------------------------- 1-2: weights slots
def test_absent_challenge_esrgan_falls_back_to_the_released_weights(paper, tmp_path, caplog):
    cfg = _with_paths(paper, tmp_path)
    assert cfg["methods"]["esrgan"]["weights"] == ["esrgan_supersr", "esrgan_x4_df2kost"]
    with caplog.at_level("WARNING"):
        name, entry = weights_choice(cfg, "esrgan")
    assert name == "esrgan_x4_df2kost" and entry["url"].endswith("ff704c30.pth")
    msg = caplog.records[-1].getMessage()
    assert "\n" not in msg and "ESRGAN_SuperSR.pth" in msg and str(tmp_path) in msg
    # present: the challenge model wins
    (tmp_path / "ESRGAN_SuperSR.pth").write_bytes(b"x")
    assert weights_choice(cfg, "esrgan")[0] == "esrgan_supersr"


def test_absent_file_without_fallback_is_one_line_saying_where_and_what(paper, tmp_path):
    cfg = _with_paths(paper, tmp_path)
    cfg["methods"]["esrgan"]["weights"] = ["esrgan_supersr"]
    with pytest.raises(RankSRGANError) as exc:
        weights_choice(cfg, "esrgan")
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(tmp_path / "ESRGAN_SuperSR.pth") in msg  # where to put it
    assert "PIRM-SR challenge model" in msg and "Google Drive" in msg  # what it is, from where
    # the toolkit's fetch says the same for a local-path entry
    with pytest.raises(RankSRGANError) as exc2:
        fetch(cfg["weights"]["srgan_basicsr"], tmp_path)
    assert "\n" not in str(exc2.value) and "SRGAN.pth" in str(exc2.value)
    assert "BasicSR" in str(exc2.value)


def test_srgan_method_trains_basicsr_recipe_unless_srgan_pth_is_there(paper, tmp_path):
    cfg = _with_paths(paper, tmp_path)
    spec = cfg["methods"]["srgan"]
    assert spec["weights"] == ["srgan_basicsr"] and spec["train_preset"] == "srgan_basicsr"
    assert weights_choice(cfg, "srgan") == (None, None)  # absent: the training stage's G.pth
    (tmp_path / "SRGAN.pth").write_bytes(b"x")
    assert weights_choice(cfg, "srgan")[0] == "srgan_basicsr"
    # RankSRGAN's own 296 px baseline stays, under its own method name
    assert cfg["methods"]["srgan296"]["train_preset"] == "srgan"
    assert cfg["rankdata"]["niqe"]["methods"] == ["srresnet", "srgan", "esrgan"]


def test_srgan_basicsr_preset_resolves_to_basicsr_2018_options(paper):
    o = options_from_config(paper["train"], "srgan_basicsr")
    assert (o.generator.arch, o.generator.options) == ("srresnet", {"nf": 64, "nb": 16})
    assert o.discriminator.arch == "discriminator_vgg128"
    assert o.discriminator.options == {"nf": 64, "init": "kaiming"}
    assert (o.data.hr_patch, o.data.batch_size, o.data.flip, o.data.rotate) == (128, 16, True, True)
    lo = o.losses
    assert (lo.pixel_weight, lo.pixel_criterion) == (1e-2, "l1")
    assert (lo.perceptual_weight, lo.perceptual_layer, lo.perceptual_criterion) == (
        1.0, "conv5_4", "l1")
    assert (lo.gan_weight, lo.gan_kind, lo.rank) == (5e-3, "vanilla", ())
    assert (o.lr_g, o.lr_d, o.betas) == (1e-4, 1e-4, (0.9, 0.999))
    assert o.milestones == (50000, 100000, 200000, 300000) and o.gamma == 0.5
    assert (o.iterations, o.seed, o.init) == (500000, 0, "srresnet")
    # the RankSRGAN baseline keeps RankSRGAN's recipe
    b = options_from_config(paper["train"], "srgan")
    assert (b.discriminator.arch, b.data.hr_patch, b.data.batch_size) == (
        "discriminator_vgg296", 296, 8)
    assert (b.betas, b.seed, b.losses.pixel_weight, b.bn_replicas) == ((0.9, 0.99), 10, 0.0, 1)
    # precision: the paper config trains in fp32 as the authors did
    assert paper["train"]["runtime"]["precision"] == "fp32"


# ---------------------------------------------------------------- 4: per-replica BatchNorm
def _photo_batch(n: int, side: int) -> torch.Tensor:
    img = skimage.data.astronaut()
    crops = [img[i * 40 : i * 40 + side, i * 30 : i * 30 + side] for i in range(n)]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255


def test_bn_replicas_runs_each_half_of_the_batch_on_its_own():
    torch.manual_seed(0)
    d = archs.build("discriminator_vgg128", nf=8).train()
    x = _photo_batch(8, 128)
    with torch.no_grad():
        two = replica_forward(d, x, 2)
        halves = torch.cat([d(x[:4]), d(x[4:])])
        whole = d(x)
    assert torch.allclose(two, halves, atol=1e-6)
    assert not torch.allclose(two, whole, atol=1e-3)  # BN on 4 samples differs from 8
    assert torch.equal(replica_forward(d, x, 1), d(x))


def test_rank_content_loss_with_replicas_normalises_each_chunk():
    torch.manual_seed(1)
    ranker = archs.build("ranker_vgg8", nf=8)
    x = _photo_batch(8, 64)
    two = build_loss("rank_content", ranker=ranker, bn_mode="batch", replicas=2)
    one = build_loss("rank_content", ranker=ranker, bn_mode="batch", replicas=1)
    with torch.no_grad():
        want = one(x[:4]) + one(x[4:])
        assert torch.allclose(two(x), want, atol=1e-6)
        assert not torch.allclose(one(x), want, atol=1e-4)


def test_bn_replicas_is_a_preset_option(paper):
    train = copy.deepcopy(paper["train"])
    train["presets"]["ranksrgan_niqe"]["bn_replicas"] = 2
    assert options_from_config(train, "ranksrgan_niqe").bn_replicas == 2
    assert options_from_config(paper["train"], "ranksrgan_niqe").bn_replicas == 1


# ---------------------------------------------------------------- 5: paper-era options
def test_kaiming_init_changes_the_discriminator_init():
    torch.manual_seed(2)
    default = archs.build("discriminator_vgg296", nf=8)
    torch.manual_seed(2)
    kaiming = archs.build("discriminator_vgg296", nf=8, init="kaiming")
    assert default.conv0_0.bias.abs().sum() > 0 and kaiming.conv0_0.bias.abs().sum() == 0
    assert kaiming.linear1.bias.abs().sum() == 0
    w = kaiming.conv1_0.weight.detach()  # kaiming normal, fan_in, gain sqrt(2)
    fan_in = w.shape[1] * w.shape[2] * w.shape[3]
    assert abs(float(w.std()) / (2.0 / fan_in) ** 0.5 - 1) < 0.05
    # PyTorch's default (kaiming uniform a=sqrt(5)) has std 1/sqrt(3 fan_in): much smaller
    wd = default.conv1_0.weight.detach()
    assert abs(float(wd.std()) * (3.0 * fan_in) ** 0.5 - 1) < 0.05
    with pytest.raises(RankSRGANError, match="init must be default or kaiming"):
        archs.build("discriminator_vgg128", nf=8, init="xavier")


def test_sub_image_grid_is_the_authors_extract_subimgs_single():
    # DIV2K 0001 is 1356 x 2040: rows 0, 240, 480, 720 + 876 (156 px left > 48); columns
    # 0 .. 1440 step 240 + 1560 (120 px left > 48)
    boxes = sub_image_boxes([(1356, 2040), (400, 600)], 480, 240, 48)
    ys = sorted({int(y) for i, y, _ in boxes if i == 0})
    xs = sorted({int(x) for i, _, x in boxes if i == 0})
    assert ys == [0, 240, 480, 720, 876] and xs == [*range(0, 1441, 240), 1560]
    assert len(boxes) == 40  # the 400 px image holds none
    # a leftover of at most thresh_size is dropped
    assert sorted({int(x) for _, _, x in sub_image_boxes([(480, 2040)], 480, 240, 120)}) == [
        *range(0, 1441, 240)]


def test_sub_image_patches_lie_in_one_sub_image_with_its_own_lr(tmp_path):
    img = skimage.data.astronaut()  # 512 x 512
    hr = np.ascontiguousarray(img)
    hp, lp = tmp_path / "HR" / "a.png", tmp_path / "LR" / "a.png"
    write_png(hp, hr)
    write_png(lp, imresize(hr, 0.25))
    man = tmp_path / "manifest.parquet"
    pd.DataFrame([{"image": "a", "hr_path": str(hp), "lr_path": str(lp)}]).to_parquet(man)
    pc = PatchCache.build([man], tmp_path / "cache")
    ds = PatchDataset(pc, 64, seed=3, flip=False, rotate=False, sub_images=(256, 128, 0))
    assert len(ds.subs) == 9
    subs = {(int(y), int(x)): imresize(np.ascontiguousarray(hr[y : y + 256, x : x + 256]), 0.25)
            for _, y, x in ds.subs}
    # a sub-image's own LR differs from the whole image's along the sub-image border
    assert any(not np.array_equal(lr, pc.lr(0)[y // 4 : y // 4 + 64, x // 4 : x // 4 + 64])
               for (y, x), lr in subs.items())
    for slot in range(6):
        p_hr, p_lr = ds.sample(0, slot)
        hits = []
        for (y0, x0), sub_lr in subs.items():
            sub = hr[y0 : y0 + 256, x0 : x0 + 256]
            for yy in range(0, 256 - 64 + 1, 4):
                for xx in range(0, 256 - 64 + 1, 4):
                    if np.array_equal(sub[yy : yy + 64, xx : xx + 64], p_hr) and np.array_equal(
                        sub_lr[yy // 4 : yy // 4 + 16, xx // 4 : xx // 4 + 16], p_lr
                    ):
                        hits.append((y0 + yy, x0 + xx))
        assert hits, f"slot {slot}: patch is not an aligned crop of one sub-image and its LR"


# ---------------------------------------------------------------- 1: manifests say which weights
def test_sr_manifest_records_which_weights_made_the_numbers(tmp_path):
    from ranksrgan.fit import write_metadata
    from ranksrgan.io import sha256_file
    from ranksrgan.io.parquet import read_manifest
    from ranksrgan.sr.shard import SHARD_COLUMNS, MethodSpec, Upscaler, run_shard

    hr = np.ascontiguousarray(skimage.data.chelsea()[:64, :64])
    hp, lp = tmp_path / "HR" / "chelsea.png", tmp_path / "LR" / "chelsea.png"
    write_png(hp, hr)
    write_png(lp, imresize(hr, 0.25))
    man = tmp_path / "manifest.parquet"
    pd.DataFrame([{"image": "chelsea", "hr_path": str(hp), "lr_path": str(lp),
                   "lr_sha256": sha256_file(lp)}]).to_parquet(man)
    torch.manual_seed(0)
    net = archs.build("rrdbnet", nf=8, nb=1, gc=4)
    challenge = tmp_path / "w" / "ESRGAN_SuperSR.pth"
    challenge.parent.mkdir()
    torch.save(net.state_dict(), challenge)
    trained = tmp_path / "train" / "srgan_basicsr" / "G.pth"
    trained.parent.mkdir(parents=True)
    torch.save(net.state_dict(), trained)
    write_metadata(trained, {"preset": "srgan_basicsr", "arch": "rrdbnet",
                             "arch_options": {"nf": 8, "nb": 1, "gc": 4}, "stand_in": False})
    assert "weights" in SHARD_COLUMNS
    for weights, want in ((challenge, "ESRGAN_SuperSR.pth"), (trained, "train:srgan_basicsr")):
        spec = MethodSpec(name="esrgan", arch="rrdbnet", arch_options={"nf": 8, "nb": 1, "gc": 4},
                          weights=str(weights))
        out = tmp_path / "sr" / want.replace(":", "_")
        run_shard(man, 0, 4, out, out / "shards" / "0.parquet", Upscaler(spec, device="cpu"),
                  progress=False)
        # a shard manifest's paths lead out of shards/ (to the method's folder)
        df = read_manifest(out / "shards" / "0.parquet", ("image",), "sr manifest", root=out)
        assert list(df["weights"]) == [want]
        assert list(df["weights_sha256"]) == [sha256_file(weights)]


def test_trainer_runs_d_per_replica_when_bn_replicas_is_2(tmp_path):
    from ranksrgan.train.engine import Trainer, TrainPaths
    from ranksrgan.train.options import DataOptions, LossOptions, NetSpec, TrainOptions

    def trainer(replicas):
        opts = TrainOptions(
            name="bn", generator=NetSpec("srresnet", {"nf": 8, "nb": 1}),
            discriminator=NetSpec("discriminator_vgg128", {"nf": 8}), init=None,
            data=DataOptions(train=("x",), val=None, hr_patch=128, batch_size=8),
            losses=LossOptions(gan_weight=5e-3), iterations=1, seed=0, lr_g=1e-4, lr_d=1e-4,
            betas=(0.9, 0.99), weight_decay_g=0.0, weight_decay_d=0.0, milestones=(),
            gamma=0.5, bn_replicas=replicas)
        return Trainer(opts, TrainPaths(tmp_path / str(replicas), ()), torch.device("cpu"))

    one, two = trainer(1), trainer(2)
    assert torch.equal(one.D.linear2.weight, two.D.linear2.weight)  # same seed, same D
    x = _photo_batch(8, 128)
    with torch.no_grad():
        assert torch.allclose(two._d(x), torch.cat([two.D(x[:4]), two.D(x[4:])]), atol=1e-6)
        assert torch.allclose(one._d(x), one.D(x), atol=1e-6)
        assert not torch.allclose(two._d(x), one._d(x), atol=1e-3)
