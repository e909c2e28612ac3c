"""The training toolkit both trainers share: reproducible weight files, the metadata file the
sr stage reads, and a training step that turns non-finite stops naming its iteration.
"""

from __future__ import annotations

import copy

import pytest
import torch

from ranksrgan.archs import build
from ranksrgan.errors import RankSRGANError
from ranksrgan.fit import (
    check_finite,
    export_weights,
    load_checkpoint,
    read_metadata,
    write_metadata,
)
from ranksrgan.io import save_torch_atomic
from ranksrgan.train.engine import Trainer, TrainPaths
from ranksrgan.train.options import options_from_config
from tests.support.train_inputs import TINY_GAN, make_dataset


def test_identical_states_give_identical_weight_files(tmp_path):
    """issue 19: G.pth bytes differed between identical runs (random temp name in the zip)."""
    torch.manual_seed(0)
    state = build("srresnet", nf=8, nb=1).state_dict()
    a, b = tmp_path / "a" / "G.pth", tmp_path / "b" / "G.pth"
    save_torch_atomic(state, a)
    save_torch_atomic(copy.deepcopy(state), b)
    assert a.read_bytes() == b.read_bytes()
    sha_a = export_weights(state, tmp_path / "c" / "G.pth")
    net = build("srresnet", nf=8, nb=1)
    net.load_state_dict(state)
    sha_b = export_weights(net, tmp_path / "d" / "model.pth")  # a module or its state: same file
    assert sha_a == sha_b
    assert (tmp_path / "c" / "G.pth").read_bytes() == (tmp_path / "d" / "model.pth").read_bytes()
    loaded = torch.load(tmp_path / "c" / "G.pth", weights_only=True)
    assert list(loaded) == list(state) and all(torch.equal(loaded[k], state[k]) for k in state)


def test_metadata_beside_weights_is_what_the_sr_stage_reads(tmp_path):
    from ranksrgan.sr.shard import read_weights_sidecar

    w = tmp_path / "G.pth"
    assert read_metadata(w) is None and read_weights_sidecar(w) is None
    write_metadata(w, {"arch": "srresnet", "labels": ["tiny demo run"]})
    assert (tmp_path / "G.json").is_file()
    assert (
        read_weights_sidecar(w)
        == read_metadata(w)
        == {
            "arch": "srresnet",
            "stand_in": "tiny demo run",  # a labels list is written as the one stand-in note
        }
    )
    (tmp_path / "G.json").write_text("{not json")
    with pytest.raises(RankSRGANError, match="G.json: invalid JSON"):
        read_weights_sidecar(w)


def test_check_finite_names_first_bad_step_and_term():
    vals = torch.tensor([[1.0, 2.0], [1.0, 2.0], [float("inf"), float("nan")], [float("nan"), 0]])
    check_finite(vals[:2], ["l_pix", "l_g_total"], 1, "preset p")
    with pytest.raises(RankSRGANError) as exc:
        check_finite(vals, ["l_pix", "l_g_total"], 9, "preset p")
    msg = str(exc.value)
    assert "preset p" in msg and "iteration 11" in msg and "l_pix = inf" in msg
    assert "\n" not in msg


def _tiny_pixel_options(root):
    preset = copy.deepcopy(TINY_GAN)
    preset.update(iterations=12, checkpoint_every=3, log_every=4, val_every=1000)
    preset["discriminator"] = None
    preset["losses"] = {"pixel": {"weight": 1.0, "criterion": "l1"}}
    preset["data"].update(val=None, val_images=0)
    train = {
        "runtime": {"precision": "fp32", "channels_last": False, "compile": False, "workers": 0},
        "presets": {"tiny": preset},
    }
    opts = options_from_config(train, "tiny")
    manifest = make_dataset(root, "tr", photos=("astronaut",), max_side=160)
    return opts, TrainPaths(
        out_dir=root / "out", train_manifests=(manifest,), cache_dir=root / "cache"
    )


def test_nonfinite_training_step_stops_naming_the_iteration(tmp_path):
    opts, paths = _tiny_pixel_options(tmp_path)
    trainer = Trainer(opts, paths, torch.device("cpu"))
    calls = {"n": 0}
    g = trainer.G

    def g_with_nan(x):  # the 5th step's generator output turns NaN (e.g. an fp16 overflow)
        calls["n"] += 1
        out = g(x)
        return out * float("nan") if calls["n"] == 5 else out

    trainer.G_run = g_with_nan
    with pytest.raises(RankSRGANError) as exc:
        trainer.run()
    msg = str(exc.value)
    assert "preset tiny" in msg and "iteration 5 " in msg and "l_pix = nan" in msg
    # the diverged state is neither exported nor checkpointed: the last checkpoint is iteration 3
    assert not (paths.out_dir / "G.pth").exists()
    assert load_checkpoint(paths.out_dir / "checkpoint")["iteration"] == 3


def test_stage_ranker_is_loaded_and_its_labels_reach_the_generator(tmp_path):
    """A RankSRGAN preset with `ranker.source: stage` loads the Ranker stage's model.pth
    strictly and carries its stand-in labels (model.json) into G.json's labels."""
    opts, paths = _tiny_pixel_options(tmp_path)
    ranker = build("ranker_vgg8", nf=4)
    weights = tmp_path / "ranker" / "niqe" / "model.pth"
    export_weights(ranker, weights)
    write_metadata(weights, {"arch": "ranker_vgg8", "labels": ["tiny demo Ranker"]})
    preset = copy.deepcopy(TINY_GAN)
    preset.update(discriminator=None, iterations=2, checkpoint_every=10, log_every=1)
    preset["data"].update(val=None, val_images=0)
    preset["losses"] = {
        "pixel": {"weight": 1.0, "criterion": "l1"},
        "rank": {
            "weight": 3.0e-2,
            "ranker": {
                "source": "stage",
                "name": "niqe",
                "arch": "ranker_vgg8",
                "options": {"nf": 4},
            },
        },
    }
    train = {
        "runtime": {"precision": "fp32", "channels_last": False, "compile": False, "workers": 0},
        "presets": {"rk": preset},
    }
    opts = options_from_config(train, "rk")
    trainer = Trainer(
        opts,
        TrainPaths(
            out_dir=tmp_path / "rk",
            train_manifests=paths.train_manifests,
            rankers=(weights,),
            cache_dir=paths.cache_dir,
        ),
        torch.device("cpu"),
    )
    loaded = trainer.loss_fns["rank"].ranker.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in ranker.state_dict().items())
    g = trainer.run()
    meta = read_metadata(g)
    assert "Ranker: tiny demo Ranker" in meta["stand_in"].split("; ") and "labels" not in meta
    assert [r["path"] for r in meta["rankers"]] == [str(weights)]
    assert len(meta["rankers"][0]["sha256"]) == 64

    wrong = tmp_path / "wrong.pth"
    export_weights(build("ranker_vgg8", nf=8), wrong)
    with pytest.raises(RankSRGANError, match="does not match the Ranker"):
        Trainer(
            opts,
            TrainPaths(
                out_dir=tmp_path / "w", train_manifests=paths.train_manifests, rankers=(wrong,)
            ),
            torch.device("cpu"),
        )
