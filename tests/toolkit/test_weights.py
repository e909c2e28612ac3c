"""Weights toolkit: reference re-implementations of published layouts load into our networks.

Each reference module is written here from the facts sheet, independently of
``ranksrgan.archs``; its random weights are saved the way that layout's releases are saved,
loaded through ``ranksrgan.weights.load`` and the outputs compared.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ranksrgan import archs, weights
from ranksrgan.errors import RankSRGANError

NF, GC, NB = 8, 4, 2


def _lrelu():
    return nn.LeakyReLU(0.2, inplace=True)


class _RDBOriginal(nn.Module):
    """ESRGAN's first release: each conv wrapped in Sequential(conv[, act]) -> ``convK.0``."""

    def __init__(self):
        super().__init__()
        for k in range(1, 6):
            cin, cout = NF + (k - 1) * GC, (GC if k < 5 else NF)
            layers = [nn.Conv2d(cin, cout, 3, 1, 1)] + ([_lrelu()] if k < 5 else [])
            setattr(self, f"conv{k}", nn.Sequential(*layers))

    def forward(self, x):
        feats = [x]
        for k in range(1, 6):
            feats.append(getattr(self, f"conv{k}")(torch.cat(feats, 1)))
        return feats[-1] * 0.2 + x


class _RRDBOriginal(nn.Module):
    def __init__(self):
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = _RDBOriginal(), _RDBOriginal(), _RDBOriginal()

    def forward(self, x):
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class _Shortcut(nn.Module):
    def __init__(self, sub):
        super().__init__()
        self.sub = sub

    def forward(self, x):
        return x + self.sub(x)


class ESRGANOriginal(nn.Module):
    """The sequential ``model.N`` RRDBNet of the original ESRGAN release."""

    def __init__(self):
        super().__init__()
        up = nn.Upsample(scale_factor=2, mode="nearest")
        self.model = nn.Sequential(
            nn.Conv2d(3, NF, 3, 1, 1),  # 0
            _Shortcut(
                nn.Sequential(*[_RRDBOriginal() for _ in range(NB)], nn.Conv2d(NF, NF, 3, 1, 1))
            ),  # 1
            up,
            nn.Conv2d(NF, NF, 3, 1, 1),
            _lrelu(),  # 2, 3, 4
            up,
            nn.Conv2d(NF, NF, 3, 1, 1),
            _lrelu(),  # 5, 6, 7
            nn.Conv2d(NF, NF, 3, 1, 1),
            _lrelu(),  # 8, 9
            nn.Conv2d(NF, 3, 3, 1, 1),  # 10
        )

    def forward(self, x):
        return self.model(x)


class _RDBBasicSR(nn.Module):
    def __init__(self):
        super().__init__()
        for k in range(1, 6):
            setattr(self, f"conv{k}", nn.Conv2d(NF + (k - 1) * GC, GC if k < 5 else NF, 3, 1, 1))

    def forward(self, x):
        feats = [x]
        for k in range(1, 5):
            feats.append(F.leaky_relu(getattr(self, f"conv{k}")(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class _RRDBBasicSR(nn.Module):
    def __init__(self):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = _RDBBasicSR(), _RDBBasicSR(), _RDBBasicSR()

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNetBasicSR(nn.Module):
    """BasicSR / Real-ESRGAN names of the same network."""

    def __init__(self):
        super().__init__()
        self.conv_first = nn.Conv2d(3, NF, 3, 1, 1)
        self.body = nn.Sequential(*[_RRDBBasicSR() for _ in range(NB)])
        self.conv_body = nn.Conv2d(NF, NF, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(NF, NF, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(NF, NF, 3, 1, 1)
        self.conv_hr = nn.Conv2d(NF, NF, 3, 1, 1)
        self.conv_last = nn.Conv2d(NF, 3, 3, 1, 1)

    def forward(self, x):
        f = self.conv_first(x)
        f = f + self.conv_body(self.body(f))
        f = F.leaky_relu(self.conv_up1(F.interpolate(f, scale_factor=2, mode="nearest")), 0.2)
        f = F.leaky_relu(self.conv_up2(F.interpolate(f, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(f), 0.2))


class _ResBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(NF, NF, 3, 1, 1)
        self.conv2 = nn.Conv2d(NF, NF, 3, 1, 1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class SRResNetAuthors(nn.Module):
    """RankSRGAN's SRResNet as the facts sheet describes it."""

    def __init__(self):
        super().__init__()
        self.conv_first = nn.Conv2d(3, NF, 3, 1, 1)
        self.recon_trunk = nn.Sequential(*[_ResBlock() for _ in range(NB)])
        self.LRconv = nn.Conv2d(NF, NF, 3, 1, 1)
        self.upconv1 = nn.Conv2d(NF, NF * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(NF, NF * 4, 3, 1, 1)
        self.HRconv = nn.Conv2d(NF, NF, 3, 1, 1)
        self.conv_last = nn.Conv2d(NF, 3, 3, 1, 1)

    def forward(self, x):
        fea = self.conv_first(x)
        out = self.LRconv(self.recon_trunk(fea))
        out = F.relu(F.pixel_shuffle(self.upconv1(out + fea), 2))
        out = F.relu(F.pixel_shuffle(self.upconv2(out), 2))
        return self.conv_last(F.relu(self.HRconv(out)))


class RankerVGG12Authors(nn.Module):
    """Ranker_VGG12_296 as the facts sheet describes it (written out layer by layer)."""

    def __init__(self):
        super().__init__()
        c = [NF, NF * 2, NF * 4, NF * 8, NF * 8]
        self.conv0_0 = nn.Conv2d(3, c[0], 3, 1, 1)
        self.conv0_1 = nn.Conv2d(c[0], c[0], 4, 2, 1)
        self.bn0_1 = nn.BatchNorm2d(c[0])
        for s in range(1, 5):
            setattr(self, f"conv{s}_0", nn.Conv2d(c[s - 1], c[s], 3, 1, 1))
            setattr(self, f"bn{s}_0", nn.BatchNorm2d(c[s]))
            setattr(self, f"conv{s}_1", nn.Conv2d(c[s], c[s], 4, 2, 1))
            setattr(self, f"bn{s}_1", nn.BatchNorm2d(c[s]))
        self.classifier = nn.Sequential(nn.Linear(c[4], 100), nn.LeakyReLU(0.2), nn.Linear(100, 1))

    def forward(self, x):
        f = F.leaky_relu(self.conv0_0(x), 0.2)
        f = F.leaky_relu(self.bn0_1(self.conv0_1(f)), 0.2)
        for s in range(1, 5):
            f = F.leaky_relu(getattr(self, f"bn{s}_0")(getattr(self, f"conv{s}_0")(f)), 0.2)
            f = F.leaky_relu(getattr(self, f"bn{s}_1")(getattr(self, f"conv{s}_1")(f)), 0.2)
        return self.classifier(F.adaptive_avg_pool2d(f, 1).flatten(1))


def _randomise(net: nn.Module) -> nn.Module:
    torch.manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.1)
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.1)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
    return net.eval()


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


CASES = [
    ("esrgan_original", ESRGANOriginal, "rrdbnet", {"nf": NF, "nb": NB, "gc": GC}, None, 24),
    ("basicsr", RRDBNetBasicSR, "rrdbnet", {"nf": NF, "nb": NB, "gc": GC}, "params_ema", 24),
    ("basicsr", RRDBNetBasicSR, "rrdbnet", {"nf": NF, "nb": NB, "gc": GC}, "params", 24),
    ("authors", SRResNetAuthors, "srresnet", {"nf": NF, "nb": NB}, None, 24),
    ("authors", RankerVGG12Authors, "ranker_vgg12", {"nf": NF}, None, 64),
]


@pytest.mark.parametrize("layout,ref_cls,arch,opts,nest,side", CASES)
@pytest.mark.parametrize("given_layout", ["auto", "explicit"])
def test_reference_layouts_load_to_identical_outputs(
    tmp_path, layout, ref_cls, arch, opts, nest, side, given_layout
):
    ref = _randomise(ref_cls())
    state = ref.state_dict()
    path = tmp_path / "w.pth"
    torch.save({nest: state} if nest else state, path)
    ours = archs.build(arch, **opts).eval()
    digest = weights.load(
        ours, path, layout="auto" if given_layout == "auto" else layout, sha256=_sha(path)
    )
    assert digest == _sha(path)
    x = torch.rand(2, 3, side, side)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))


def test_old_files_without_bn_counters_load(tmp_path):
    ref = _randomise(RankerVGG12Authors())
    state = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "r.pth")
    ours = archs.build("ranker_vgg12", nf=NF).eval()
    weights.load(ours, tmp_path / "r.pth")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))


def test_wrong_hash_is_one_line_error(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(SRResNetAuthors().state_dict(), path)
    with pytest.raises(RankSRGANError, match="sha256 mismatch") as exc:
        weights.load(archs.build("srresnet", nf=NF, nb=NB), path, sha256="0" * 64)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_file_name_hash_prefix_is_checked(tmp_path):
    src = tmp_path / "w.pth"
    torch.save(SRResNetAuthors().state_dict(), src)
    good = tmp_path / f"srresnet-{_sha(src)[:8]}.pth"
    bad = tmp_path / "srresnet-deadbeef.pth"
    good.write_bytes(src.read_bytes())
    bad.write_bytes(src.read_bytes())
    weights.load(archs.build("srresnet", nf=NF, nb=NB), good)
    with pytest.raises(RankSRGANError, match="file-name prefix deadbeef"):
        weights.load(archs.build("srresnet", nf=NF, nb=NB), bad)


def test_wrong_layout_names_the_first_keys(tmp_path):
    path = tmp_path / "srresnet.pth"
    torch.save(SRResNetAuthors().state_dict(), path)
    with pytest.raises(RankSRGANError) as exc:
        weights.load(archs.build("rrdbnet", nf=NF, nb=NB, gc=GC), path)
    msg = str(exc.value)
    assert str(path) in msg and "missing" in msg and "RRDB_trunk.0.RDB1.conv1" in msg
    assert "recon_trunk" in msg and "\n" not in msg
    with pytest.raises(RankSRGANError, match="unknown weights layout 'nope'"):
        weights.load(archs.build("srresnet", nf=NF, nb=NB), path, layout="nope")


def test_shape_mismatch_is_reported(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(SRResNetAuthors().state_dict(), path)  # nf 8
    with pytest.raises(RankSRGANError, match="shape mismatch at 'conv_first.weight'"):
        weights.load(archs.build("srresnet", nf=16, nb=NB), path)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"conv_first.weight": torch.zeros(1), "payload": _Evil(marker)}, path)
    with pytest.raises(RankSRGANError) as exc:
        weights.load(archs.build("srresnet", nf=NF, nb=NB), path)
    assert not marker.exists() and "\n" not in str(exc.value)
    # Issue 19: the point first, then the short reason (not torch's text cut at 160 chars).
    assert str(exc.value) == (
        f"{path}: contains pickled code, refused (not loaded): it references "
        f"{os.system.__module__}.system, which is not a tensor or a plain container"
    )


def test_truncated_or_garbage_file_is_one_line_error(tmp_path):
    good = tmp_path / "w.pth"
    torch.save(SRResNetAuthors().state_dict(), good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"<html>503 Service Unavailable</html>")
    for path in (cut, junk):
        with pytest.raises(RankSRGANError, match="not a readable PyTorch weights file") as exc:
            weights.read_state_dict(path)
        assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)
        assert "pickled code" not in str(exc.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(tmp_path, bad):
    """Issue 19 item 5: a NaN/inf tensor is refused, naming the file and the first bad key."""
    state = SRResNetAuthors().state_dict()
    key = "recon_trunk.1.conv2.weight"
    state[key] = state[key].clone()
    state[key][0, 0, 1, 1] = bad
    state["upconv1.bias"] = state["upconv1.bias"].clone().fill_(bad)  # a later key
    path = tmp_path / "diverged.pth"
    torch.save(state, path)
    model = archs.build("srresnet", nf=NF, nb=NB)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RankSRGANError) as exc:
        weights.load(model, path)
    msg = str(exc.value)
    assert msg.startswith(
        f"{path}: non-finite weights, refused (not loaded): tensor '{key}' has 1 "
    )
    assert ("NaN" if bad != bad else "infinite") in msg and "\n" not in msg
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched


def test_fetch_downloads_verifies_and_caches(tmp_path):
    src = tmp_path / "srv" / "model.pth"
    src.parent.mkdir()
    torch.save(SRResNetAuthors().state_dict(), src)
    entry = {"url": src.as_uri(), "sha256": _sha(src), "layout": "authors"}
    got = weights.fetch(entry, tmp_path / "cache")
    assert got == tmp_path / "cache" / "weights" / "model.pth" and _sha(got) == _sha(src)
    src.unlink()  # a second fetch must come from the cache
    assert weights.fetch(entry, tmp_path / "cache") == got
    got.write_bytes(b"corrupt")  # a corrupt cache with the source gone: re-download fails clearly
    with pytest.raises(RankSRGANError, match="model.pth"):
        weights.fetch(entry, tmp_path / "cache")


def test_fetch_rejects_and_removes_a_bad_download(tmp_path):
    src = tmp_path / "model.pth"
    src.write_bytes(b"not the expected file")
    entry = {"url": src.as_uri(), "sha256": "a" * 64}
    with pytest.raises(RankSRGANError, match="sha256 mismatch"):
        weights.fetch(entry, tmp_path / "cache")
    assert not (tmp_path / "cache" / "weights" / "model.pth").exists()


def test_fetch_local_path(tmp_path):
    src = tmp_path / "mine.pth"
    torch.save(SRResNetAuthors().state_dict(), src)
    assert weights.fetch({"path": str(src), "sha256": _sha(src)}, tmp_path) == src
    with pytest.raises(RankSRGANError, match="not found"):
        weights.fetch({"path": str(tmp_path / "missing.pth"), "sha256": None}, tmp_path)


# --- downloads through the one cached-file policy (ranksrgan.io.fetch), loopback HTTP


@pytest.fixture
def weight_server():
    from tests.support.http_server import LoopbackServer

    with LoopbackServer() as srv:
        yield srv


def _state_bytes(tmp_path) -> bytes:
    torch.save(SRResNetAuthors().state_dict(), tmp_path / "state.pth")
    return (tmp_path / "state.pth").read_bytes()


def test_weight_download_cut_short_is_not_cached(weight_server, tmp_path):
    """Issue 19 item 6: no sha256, no hash in the name, no Content-Length, body cut short."""
    blob = _state_bytes(tmp_path)
    weight_server.files["/model.pth"] = blob
    weight_server.content_length = False
    weight_server.truncate["/model.pth"] = len(blob) // 2
    entry = {"url": weight_server.url("/model.pth"), "sha256": None}
    with pytest.raises(RankSRGANError, match="not a complete zip archive") as exc:
        weights.fetch(entry, tmp_path / "cache", timeout_s=5)
    assert entry["url"] in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "cache" / "weights" / "model.pth").exists()
    del weight_server.truncate["/model.pth"]
    got = weights.fetch(entry, tmp_path / "cache", timeout_s=5)
    assert got.read_bytes() == blob


def test_weight_download_shorter_than_content_length_is_refused(weight_server, tmp_path):
    blob = _state_bytes(tmp_path)
    weight_server.files["/model.pth"] = blob
    weight_server.etag = False  # nothing to resume under: each retry is cut again
    weight_server.truncate["/model.pth"] = 1000
    entry = {"url": weight_server.url("/model.pth"), "sha256": None}
    with pytest.raises(RankSRGANError, match=f"got 1000 bytes, the server announced {len(blob)}"):
        weights.fetch(entry, tmp_path / "cache", timeout_s=5, retries=1, backoff_s=0.01)
    assert not (tmp_path / "cache" / "weights" / "model.pth").exists()
    assert len(weight_server.requests) == 2


def test_weight_name_prefix_and_size_are_checked(weight_server, tmp_path):
    blob = _state_bytes(tmp_path)
    prefix = hashlib.sha256(blob).hexdigest()[:8]
    weight_server.files[f"/net-{prefix}.pth"] = blob
    weight_server.files["/net-00000000.pth"] = blob
    bad = {"url": weight_server.url("/net-00000000.pth"), "sha256": None}
    with pytest.raises(RankSRGANError, match="sha256 mismatch .*file-name prefix"):
        weights.fetch(bad, tmp_path / "cache", timeout_s=5)
    entry = {"url": weight_server.url(f"/net-{prefix}.pth"), "sha256": None,
             "size": len(blob) + 1}
    with pytest.raises(RankSRGANError, match="the config says size"):
        weights.fetch(entry, tmp_path / "cache", timeout_s=5, retries=0)
    entry["size"] = len(blob)
    assert weights.fetch(entry, tmp_path / "cache", timeout_s=5).read_bytes() == blob
