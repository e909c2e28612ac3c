"""Network registry: names, shapes, authors' parameter names, parameter counts, receptive field."""

from __future__ import annotations

import pytest
import torch

from ranksrgan import archs
from ranksrgan.errors import RankSRGANError

# Supplement Table 2 (papers/000_*.txt): Ranker parameters in thousands.
SUPPLEMENT_RANKER_K = {"ranker_vgg8": 7069, "ranker_vgg12": 13734, "ranker_vgg16": 19194}


def test_registry_lists_every_required_name():
    required = {
        "fsrcnn",
        "srresnet",
        "rrdbnet",
        "discriminator_vgg128",
        "discriminator_vgg296",
        "ranker_vgg8",
        "ranker_vgg12",
        "ranker_vgg16",
    }
    assert required <= set(archs.list_archs())


def test_unknown_name_and_bad_options_are_one_line_errors():
    with pytest.raises(RankSRGANError, match="unknown architecture 'nope'"):
        archs.build("nope")
    with pytest.raises(RankSRGANError, match="srresnet"):
        archs.build("srresnet", not_an_option=1)


@pytest.mark.parametrize("name", sorted(SUPPLEMENT_RANKER_K))
def test_ranker_parameter_counts_match_supplement(name):
    n = sum(p.numel() for p in archs.build(name).parameters())
    print(f"{name}: {n} parameters = {n / 1000:.3f}K (supplement {SUPPLEMENT_RANKER_K[name]:,}K)")
    # The supplement truncates to whole thousands (7,069,961 is printed as 7,069K).
    assert n // 1000 == SUPPLEMENT_RANKER_K[name]


def test_full_size_generator_parameter_counts():
    # ESRGAN's RRDBNet (nf 64, nb 23, gc 32) is the well-known 16,697,987-parameter network.
    assert sum(p.numel() for p in archs.build("rrdbnet").parameters()) == 16_697_987
    srr = archs.build("srresnet")
    # conv_first 3->64, 16 blocks x 2 convs 64->64, LRconv, 2 upconvs 64->256, HRconv, conv_last
    conv = lambda i, o: i * o * 9 + o  # noqa: E731
    expected = (
        conv(3, 64)
        + 32 * conv(64, 64)
        + conv(64, 64)
        + 2 * conv(64, 256)
        + conv(64, 64)
        + conv(64, 3)
    )
    assert sum(p.numel() for p in srr.parameters()) == expected


def test_authors_parameter_names():
    srr = set(archs.build("srresnet", nb=2).state_dict())
    assert {
        "conv_first.weight",
        "recon_trunk.1.conv2.bias",
        "LRconv.weight",
        "upconv1.weight",
        "upconv2.weight",
        "HRconv.weight",
        "conv_last.bias",
    } <= srr
    rrdb = set(archs.build("rrdbnet", nb=1).state_dict())
    assert {"RRDB_trunk.0.RDB3.conv5.weight", "trunk_conv.weight", "HRconv.bias"} <= rrdb
    rk = archs.build("ranker_vgg12").state_dict()
    assert "bn0_0.weight" not in rk and "bn4_1.running_var" in rk
    assert all(f"conv{s}_{k}.bias" in rk for s in range(5) for k in range(2))
    assert rk["classifier.0.weight"].shape == (100, 512) and rk["classifier.2.weight"].shape == (
        1,
        100,
    )
    d = archs.build("discriminator_vgg296").state_dict()
    assert (
        "conv0_0.bias" in d
        and "conv0_1.bias" not in d
        and d["linear1.weight"].shape == (100, 512 * 9 * 9)
    )


@pytest.mark.parametrize(
    "name,opts",
    [("fsrcnn", {}), ("srresnet", {"nb": 2, "nf": 16}), ("rrdbnet", {"nb": 1, "nf": 16, "gc": 8})],
)
def test_generators_upscale_by_four(name, opts):
    y = archs.build(name, **opts)(torch.rand(2, 3, 11, 7))
    assert y.shape == (2, 3, 44, 28)


def test_critics_output_one_score_per_image():
    for name, side in [
        ("discriminator_vgg128", 128),
        ("discriminator_vgg296", 296),
        ("ranker_vgg8", 296),
    ]:
        assert archs.build(name, nf=8).eval()(torch.rand(2, 3, side, side)).shape == (2, 1)
    with pytest.raises(ValueError, match="296x296"):
        archs.build("discriminator_vgg296", nf=8)(torch.rand(1, 3, 128, 128))


@pytest.mark.parametrize(
    "name,opts",
    [("fsrcnn", {}), ("srresnet", {"nb": 2, "nf": 8}), ("rrdbnet", {"nb": 1, "nf": 8, "gc": 4})],
)
def test_lr_context_bounds_the_receptive_field(name, opts):
    """The tiling context (lr_context) must cover every input pixel an output pixel depends on."""
    torch.manual_seed(0)
    net = archs.build(name, **opts).double()
    for p in net.parameters():  # make every path active so the measured support is the full one
        p.data.uniform_(0.05, 0.15)
    r = net.lr_context
    side = 2 * r + 9
    x = torch.rand(1, 3, side, side, dtype=torch.float64, requires_grad=True)
    c = side // 2
    for dy, dx in [(0, 0), (3, 1)]:  # the 4x4 output pixels of one LR pixel differ in reach
        net(x)[0, :, 4 * c + dy, 4 * c + dx].sum().backward()
        ys, xs = torch.nonzero(x.grad.abs().sum(1)[0], as_tuple=True)
        reach = int(max((ys - c).abs().max(), (xs - c).abs().max()))
        assert reach <= r
        assert reach >= r - 2  # not a wild overestimate either (tiles would be wasteful)
        x.grad = None
