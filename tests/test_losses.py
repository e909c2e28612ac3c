"""Losses: registry, pixel, perceptual (VGG19 layer, weights policy), GAN, rank-content."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import vgg19

from ranksrgan.archs import build
from ranksrgan.errors import RankSRGANError
from ranksrgan.losses import build_loss
from ranksrgan.losses.perceptual import vgg19_layer_index


def test_registry_unknown_and_bad_options():
    with pytest.raises(RankSRGANError, match="unknown loss 'nope'"):
        build_loss("nope")
    with pytest.raises(RankSRGANError, match="gan"):
        build_loss("gan", kind="wgan")


def test_pixel_losses_match_definitions():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    assert torch.allclose(build_loss("l1")(a, b), (a - b).abs().mean())
    assert torch.allclose(build_loss("mse")(a, b), ((a - b) ** 2).mean())


def test_vgg19_layer_indices_follow_torchvision():
    feats = vgg19(weights=None).features
    # The authors' perceptual layer: features[:35] ends on conv5_4 (before its ReLU).
    assert vgg19_layer_index("conv5_4") == 34
    assert isinstance(feats[34], torch.nn.Conv2d) and feats[34].out_channels == 512
    assert isinstance(feats[vgg19_layer_index("relu2_2")], torch.nn.ReLU)
    assert isinstance(feats[vgg19_layer_index("pool3")], torch.nn.MaxPool2d)
    conv_count = sum(
        isinstance(m, torch.nn.Conv2d) for m in feats[: vgg19_layer_index("conv3_1") + 1]
    )
    assert conv_count == 5
    with pytest.raises(RankSRGANError, match="conv6_1"):
        vgg19_layer_index("conv6_1")


def test_perceptual_random_is_seeded_frozen_and_differentiable(caplog):
    with caplog.at_level("WARNING"):
        a = build_loss("perceptual", layer="conv2_2", weights="random", seed=3)
    assert "RANDOM VGG19 WEIGHTS" in caplog.text
    b = build_loss("perceptual", layer="conv2_2", weights="random", seed=3)
    c = build_loss("perceptual", layer="conv2_2", weights="random", seed=4)
    sa, sb, sc = a.features.state_dict(), b.features.state_dict(), c.features.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert not any(p.requires_grad for p in a.parameters())
    a.train()
    assert not a.features.training  # the VGG never leaves eval mode
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    ref = torch.rand(1, 3, 32, 32)
    assert a(ref, ref).item() == 0.0
    loss = a(x, ref)
    loss.backward()
    assert loss.item() > 0 and x.grad is not None and x.grad.abs().sum() > 0


def test_perceptual_vgg19_file_loaded_and_missing_file_is_an_error(tmp_path):
    net = vgg19(weights=None)
    path = tmp_path / "vgg19-test.pth"
    torch.save(net.state_dict(), path)
    loss = build_loss("perceptual", layer="conv1_2", weights="vgg19", path=path)
    assert torch.equal(loss.features[2].weight, net.features[2].weight)
    # ImageNet normalisation applied before the features
    x, ref = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    f = net.features[:3].eval()
    want = F.l1_loss(f((x - mean) / std), f((ref - mean) / std))
    assert torch.allclose(loss(x, ref), want, atol=1e-6)
    with pytest.raises(RankSRGANError, match="not found"):
        build_loss("perceptual", weights="vgg19", path=tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(RankSRGANError, match="not a torchvision VGG19"):
        build_loss("perceptual", weights="vgg19", path=bad)


def test_gan_losses_match_formulas():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(4, 1, generator=g), torch.randn(4, 1, generator=g)
    van = build_loss("gan", kind="vanilla")
    assert torch.allclose(van.generator(fake), F.softplus(-fake).mean())
    assert torch.allclose(
        van.discriminator(real, fake), F.softplus(-real).mean() + F.softplus(fake).mean()
    )
    ra = build_loss("gan", kind="ragan")
    assert ra.needs_real_for_generator and not van.needs_real_for_generator
    dr, df = real - fake.mean(), fake - real.mean()
    want_g = 0.5 * (F.softplus(dr).mean() + F.softplus(-df).mean())
    want_d = 0.5 * (F.softplus(-dr).mean() + F.softplus(df).mean())
    assert torch.allclose(ra.generator(fake, real), want_g)
    assert torch.allclose(ra.discriminator(real, fake), want_d)
    with pytest.raises(RankSRGANError, match="D\\(real\\)"):
        ra.generator(fake)
    # the generator gradient raises the fake logits
    f = fake.clone().requires_grad_(True)
    ra.generator(f, real).backward()
    assert (f.grad < 0).all()


def _ranker():
    torch.manual_seed(0)
    return build("ranker_vgg8", nf=4)


def test_rank_content_is_sum_of_sigmoids_with_frozen_ranker():
    ranker = _ranker()
    before = {k: v.clone() for k, v in ranker.state_dict().items()}
    loss = build_loss("rank_content", ranker=ranker, bias=0.5, bn_mode="batch")
    x = torch.rand(3, 3, 32, 32, requires_grad=True)
    out = loss(x)
    ranker.train()
    want = torch.sigmoid(ranker(x.detach()) - 0.5).sum()
    assert torch.allclose(out, want, atol=1e-6)
    out.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in ranker.parameters())
    after = ranker.state_dict()  # BN buffers stay frozen too (momentum 0)
    assert all(torch.equal(before[k], after[k]) for k in before if "num_batches" not in k)


def test_rank_content_bn_modes():
    x = torch.rand(2, 3, 32, 32)
    y = torch.rand(2, 3, 32, 32)
    batch = build_loss("rank_content", ranker=_ranker(), bn_mode="batch")
    ev = build_loss("rank_content", ranker=_ranker(), bn_mode="eval")
    batch.train()
    ev.train()
    assert batch.ranker.training and not ev.ranker.training
    # batch statistics: one image's score depends on its batch companions; eval: it does not
    s_b1 = batch.ranker(torch.cat([x[:1], x[1:]]))[0]
    s_b2 = batch.ranker(torch.cat([x[:1], y[1:]]))[0]
    assert not torch.allclose(s_b1, s_b2)
    s_e1 = ev.ranker(torch.cat([x[:1], x[1:]]))[0]
    s_e2 = ev.ranker(torch.cat([x[:1], y[1:]]))[0]
    assert torch.allclose(s_e1, s_e2, atol=1e-6)
    with pytest.raises(RankSRGANError, match="bn_mode"):
        build_loss("rank_content", ranker=_ranker(), bn_mode="frozen")
