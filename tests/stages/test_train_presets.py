"""Presets (extends, paper values, demo consistency) and short in-process engine runs."""

from __future__ import annotations

import copy
import json
import logging

import pytest
import torch

from ranksrgan.archs import build
from ranksrgan.cli import main
from ranksrgan.config import load_config
from ranksrgan.errors import RankSRGANError
from ranksrgan.presets import resolve_preset
from ranksrgan.train.options import options_from_config
from tests.support import REPO
from tests.support.train_inputs import TINY_GAN, make_dataset, write_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module", params=["config.yaml", "demo.yaml"])
def config(request):
    return load_config(REPO / "config" / request.param, SCHEMA)


def test_extends_deep_merges_and_rejects_cycles():
    presets = {
        "a": {"x": 1, "d": {"p": 1, "q": 2}},
        "b": {"extends": "a", "d": {"q": 3}},
        "c": {"extends": "c"},
        "e": {"extends": "zz"},
    }
    assert resolve_preset(presets, "b") == {"x": 1, "d": {"p": 1, "q": 3}}
    nets = {
        "a": {"g": {"arch": "srresnet", "options": {"nf": 8}}},
        "b": {"extends": "a", "g": {"arch": "fsrcnn", "options": {"d": 8}}},
        "c": {"extends": "a", "g": {"options": {"nb": 2}}},
    }
    assert resolve_preset(nets, "b")["g"] == {"arch": "fsrcnn", "options": {"d": 8}}
    assert resolve_preset(nets, "c")["g"] == {"arch": "srresnet", "options": {"nf": 8, "nb": 2}}
    with pytest.raises(RankSRGANError, match="cycle"):
        resolve_preset(presets, "c")
    with pytest.raises(RankSRGANError, match="train.presets.e.extends.*zz"):
        resolve_preset(presets, "e")


def test_every_preset_resolves_and_targets_exist(config):
    train = config["train"]
    for name in train["presets"]:
        opts = options_from_config(train, name)
        build(opts.generator.arch, **opts.generator.options)  # arch options are valid
        if opts.init:
            assert opts.init in train["presets"]
            init = options_from_config(train, opts.init)
            assert init.generator == opts.generator  # init weights fit the generator
    assert set(train["targets"]) <= set(train["presets"])


def test_methods_use_their_train_preset_architecture(config):
    from ranksrgan.config import method_network

    for m, spec in (config.get("methods") or {}).items():
        if spec.get("train_preset") in config["train"]["presets"]:
            g = options_from_config(config["train"], spec["train_preset"]).generator
            # the method's own arch, or (left out) its preset's generator
            assert method_network(config, m) == (g.arch, g.options), m


def test_paper_values():
    train = load_config(REPO / "config" / "config.yaml", SCHEMA)["train"]
    r = options_from_config(train, "ranksrgan_niqe")
    lo = r.losses
    assert (lo.perceptual_weight, lo.gan_weight, [t.weight for t in lo.rank]) == (1.0, 5e-3, [3e-2])
    assert lo.perceptual_layer == "conv5_4" and lo.perceptual_weights == "vgg19"
    assert lo.gan_kind == "vanilla" and lo.rank[0].bn_mode == "batch" and lo.pixel_weight == 0
    assert (r.data.hr_patch, r.data.batch_size, r.lr_g, r.lr_d) == (296, 8, 1e-4, 1e-4)
    assert r.milestones == (50000, 100000, 200000, 300000) and r.gamma == 0.5
    assert r.iterations == 500000 and r.init == "srresnet" and r.seed == 10
    assert r.discriminator.arch == "discriminator_vgg296"
    assert options_from_config(train, "ranksrgan_niqe_m1").losses.mse_weight == 1.0
    assert options_from_config(train, "ranksrgan_niqe_m5").losses.mse_weight == 5.0
    assert options_from_config(train, "ranksrgan_ma").losses.rank[0].ranker.name == "ma"
    assert options_from_config(train, "srgan").losses.rank == ()
    e = options_from_config(train, "esrgan")
    assert e.losses.gan_kind == "ragan" and e.init == "rrdb_psnr" and e.losses.pixel_weight == 1e-2
    assert e.generator.options == {"nf": 64, "nb": 23, "gc": 32}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    make_dataset(root, "tr", photos=("astronaut", "coffee"), max_side=256)
    return root


def _esrgan_like():
    p = copy.deepcopy(TINY_GAN)
    p["generator"] = {"arch": "rrdbnet", "options": {"nf": 8, "nb": 1, "gc": 4}}
    p["losses"] = {
        "pixel": {"weight": 1.0e-2, "criterion": "l1"},
        "perceptual": {"weight": 1.0, "layer": "conv1_2", "weights": "random"},
        "gan": {"weight": 5.0e-3, "kind": "ragan"},
    }
    p["data"]["val"] = None
    p["iterations"] = 3
    return p


def test_ragan_run_from_init_exports_authors_layout(root):
    torch.manual_seed(7)
    init = build("rrdbnet", nf=8, nb=1, gc=4).state_dict()
    torch.save(init, root / "init.pth")
    cfg = write_config(root, {"esr": _esrgan_like()})
    out = root / "esr"
    args = ["train", "--config", str(cfg), "--preset", "esr", "--out", str(out)]
    args += ["--init", str(root / "init.pth"), "--device", "cpu"]
    assert main(args) == 0
    g = torch.load(out / "G.pth", weights_only=True)
    assert list(g) == list(init)
    assert any(k.startswith("RRDB_trunk.0.RDB1") for k in g)
    changed = [k for k in g if not torch.equal(g[k], init[k])]
    assert changed  # trained from the init weights
    meta = json.loads((out / "G.json").read_text())
    assert meta["init_from"].endswith("init.pth") and meta["iterations"] == 3
    # rerunning a finished preset only re-exports (the checkpoint is at the last iteration)
    assert main(args) == 0
    assert all(
        torch.equal(g[k], v) for k, v in torch.load(out / "G.pth", weights_only=True).items()
    )


def test_one_line_errors(root, capsys, caplog):
    p = _esrgan_like()
    p["losses"]["perceptual"]["weights"] = "vgg19"
    cfg = write_config(root, {"esr": _esrgan_like(), "vgg": p})
    rc = main(
        [
            "train",
            "--config",
            str(cfg),
            "--preset",
            "vgg",
            "--out",
            str(root / "vgg"),
            "--vgg19",
            str(root / "missing-vgg19.pth"),
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err[-1].startswith("error:") and "missing-vgg19.pth" in err[-1]
    # a checkpoint made under another configuration is not resumed: the run starts over
    manifest = str(root / "data/tr/manifest.parquet")
    def run(config):
        args = ["train", "--config", str(config), "--preset", "esr", "--out", str(root / "esr2")]
        return main(args + ["--device", "cpu", "--train-manifest", manifest])

    assert run(cfg) == 0
    changed = _esrgan_like()
    changed["optim"]["lr_g"] = 5e-4
    cfg2 = write_config(root / "other", {"esr": changed})
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        rc = run(cfg2)
    assert rc == 0
    assert "(options changed): starting over" in caplog.text, caplog.text
