"""Losses: registry, pixel, perceptual (VGG19 layer, weights policy), GAN, rank-content."""

from __future__ import annotations

import numpy as np
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


# ------------------------------------------------------------------ Ranker pair losses
def _pair(out_a, out_b, la, lb):
    t = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    return t(out_a), t(out_b), t(la), t(lb)


def test_margin_ranking_label_direction_and_values():
    """Lower label = better = lower Ranker output: the authors' target and clamp."""

    loss = build_loss("margin_ranking", margin=0.5, clamp=5.0)
    # a is worse (higher NIQE label): a's output must exceed b's by the margin -> zero loss
    assert float(loss(*_pair([2.0], [1.0], [6.0], [4.0]))) == 0.0
    # the same outputs with the labels swapped: loss = -(-1)(2 - 1)... = (2 - 1) + 0.5
    assert float(loss(*_pair([2.0], [1.0], [4.0], [6.0]))) == pytest.approx(1.5)
    # inside the margin: 0.5 - 0.2
    assert float(loss(*_pair([1.2], [1.0], [6.0], [4.0]))) == pytest.approx(0.3)
    # equal labels: target +1 (the authors' >=)
    assert float(loss(*_pair([0.0], [0.0], [5.0], [5.0]))) == pytest.approx(0.5)
    # outputs clamped to +-5 before the loss: 9 acts as 5, and its gradient is cut
    a = torch.tensor([9.0], requires_grad=True)
    val = loss(a, torch.tensor([4.0]), torch.tensor([4.0]), torch.tensor([6.0]))
    assert float(val.detach()) == pytest.approx(1.5)
    val.backward()
    assert float(a.grad) == 0.0


def test_fidelity_loss_thurstone_probability():
    from scipy.stats import norm


    loss = build_loss("fidelity")
    a, b = 0.7, -0.3
    p = norm.cdf((a - b) / np.sqrt(2))  # P(a is worse), unit variance per output
    want_worse = 1 - np.sqrt(p)  # label_a > label_b: r = 1
    want_better = 1 - np.sqrt(1 - p)  # label_a < label_b: r = 0
    want_tie = 1 - np.sqrt(0.5 * p) - np.sqrt(0.5 * (1 - p))
    # tolerance: the loss adds eps 1e-8 under each sqrt (sqrt(eps) = 1e-4)
    assert float(loss(*_pair([a], [b], [5.0], [3.0]))) == pytest.approx(want_worse, abs=3e-4)
    assert float(loss(*_pair([a], [b], [3.0], [5.0]))) == pytest.approx(want_better, abs=3e-4)
    assert float(loss(*_pair([a], [b], [4.0], [4.0]))) == pytest.approx(want_tie, abs=3e-4)
    # gradient pushes the worse patch's output up (lower = better direction)
    x = torch.tensor([0.0], requires_grad=True)
    loss(x, torch.tensor([0.0]), torch.tensor([5.0]), torch.tensor([3.0])).backward()
    assert float(x.grad) < 0


def test_rank_regression_is_mse_to_the_labels():

    loss = build_loss("rank_regression")
    got = float(loss(*_pair([1.0, 2.0], [0.0, 0.0], [2.0, 2.0], [1.0, -1.0])))
    assert got == pytest.approx(0.5 * ((1 + 0) / 2 + (1 + 1) / 2))


def test_ranker_loss_names_are_registered():
    from ranksrgan.losses import LOSSES, RANKER_LOSSES

    assert set(RANKER_LOSSES) == {"margin", "regression", "fidelity"}
    assert set(RANKER_LOSSES.values()) <= set(LOSSES)
