"""The Ranker stage on a tiny real rank index (blur levels of scikit-image photos):
outputs and their contract, resume after SIGKILL with identical weights, the strict load of an
exported VGG-12 into the authors' ``Ranker_VGG12_296`` layout, the evaluation summary on a
hand-made case, and one-line errors for a bad index.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ranksrgan.cli import main
from ranksrgan.ranker.evaluate import summarise
from tests.support import REPO
from tests.support.kill import kill_after_checkpoint
from tests.support.rank_index import make_rank_index


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    return make_rank_index(tmp_path_factory.mktemp("rank"))


def _args(index: Path, out: Path, *extra: str) -> list[str]:
    return [
        "ranker",
        "train",
        "--index",
        str(index),
        "--out",
        str(out),
        "--arch",
        "ranker_vgg8",
        "--arch-options",
        '{"nf": 4}',
        "--batch-size",
        "4",
        "--lr",
        "1e-3",
        "--milestones",
        "20",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--log-every",
        "5",
        *extra,
    ]


def test_train_writes_model_metadata_and_eval(index, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(_args(index, out, "--iterations", "30", "--label", "tiny test run")) == 0
    printed = capsys.readouterr().out
    assert "validation SROCC" in printed and "STAND-IN" in printed
    state = torch.load(out / "model.pth", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    meta = json.loads((out / "model.json").read_text())
    assert meta["arch"] == "ranker_vgg8" and meta["arch_options"] == {"nf": 4}
    assert meta["iterations"] == 30 and meta["loss"] == "margin"
    assert meta["schedule"]["name"] == "code" and meta["schedule"]["weight_decay"] == 1e-4
    assert meta["schedule"]["lr"] == 1e-3 and meta["schedule"]["batch_size"] == 4
    assert meta["data"]["methods"] == {"blur2": 0, "blur1": 1, "sharp": 2}
    assert meta["data"]["patch"] == 48 and meta["data"]["train_positions"] == 18
    # the one stand-in encoding (ranksrgan.io.contracts): a note string, no labels list
    assert meta["stand_in"] == "tiny test run; rank data: toy labels" and "labels" not in meta
    ev = pd.read_parquet(out / "eval.parquet")
    assert len(ev) == 27 and set(ev["image"]) == {"chelsea"}  # validation split only
    assert {"output", "label", "method", "level"} <= set(ev.columns)
    assert ev["output"].notna().all()
    assert set(ev["stand_in"]) == {meta["stand_in"]}
    summary = json.loads((out / "eval_summary.json").read_text())
    assert summary["stand_in"] == meta["stand_in"]
    again = summarise(ev)
    for k in ("srocc", "krocc", "plcc", "pair_accuracy"):
        assert summary[k] == pytest.approx(again[k]) and summary[k] == meta["eval"][k]
    assert f"SROCC {summary['srocc']:.4f}" in printed
    from ranksrgan.archs import build

    assert summary["n_params"] == sum(p.numel() for p in build("ranker_vgg8", nf=4).parameters())
    log = pd.read_parquet(out / "train_log.parquet")
    assert log["iteration"].tolist() == [5, 10, 15, 20, 25, 30]
    assert log["lr"].iloc[-1] == pytest.approx(5e-4)  # milestone 20, gamma 0.5


@pytest.mark.parametrize("loss", ["regression", "fidelity"])
def test_other_losses_and_augmentation_run(index, tmp_path, loss):
    out = tmp_path / loss
    args = _args(index, out, "--iterations", "6", "--loss", loss, "--augment", "--patch", "32")
    assert main(args) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["loss"] == loss and meta["data"]["patch"] == 32 and meta["data"]["augment"]


def test_training_learns_the_label_order_on_train_patches(index, tmp_path):
    """After a short run the Ranker orders each train position's blur levels as the labels."""
    from ranksrgan import archs
    from ranksrgan.fit import load_plain_state
    from ranksrgan.fit.data import ImageCache, files_key
    from ranksrgan.ranker.evaluate import ranker_outputs
    from ranksrgan.ranker.index import RankIndex, read_rank_index

    out = tmp_path / "learn"
    args = _args(
        index,
        out,
        "--iterations",
        "80",
        "--batch-size",
        "8",
        "--arch-options",
        '{"nf": 8}',
        "--milestones",
    )
    assert main(args) == 0
    idx = read_rank_index(index)
    rows = idx.rows.assign(split=idx.rows["split"].map({"train": "val", "val": "x"}))
    cache = ImageCache.build(idx.files, out / "cache" / f"ranker-{files_key(idx.files)}")
    net = archs.build("ranker_vgg8", nf=8)
    load_plain_state(net, out / "model.pth", "Ranker")
    s = summarise(ranker_outputs(net, RankIndex(rows, idx.files, idx.path), cache, "cpu"))
    assert s["pair_accuracy"] >= 0.8
    m = s["mean_output"]
    assert m["blur2"] > m["blur1"] > m["sharp"]  # lower output = sharper = better label


def _cmd(index: Path, out: Path) -> list[str]:
    args = _args(index, out, "--iterations", "24", "--checkpoint-every", "4", "--log-every", "2")
    args += ["--name", "r"]  # both runs write the same Ranker name into their tables
    return [sys.executable, "-m", "ranksrgan", *args]


def test_sigkill_then_rerun_gives_identical_weights(index, tmp_path):
    ref_out, out = tmp_path / "ref", tmp_path / "killed"
    ref = subprocess.run(
        _cmd(index, ref_out), cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert ref.returncode == 0, ref.stderr[-2000:]
    killed_at, rc = kill_after_checkpoint(_cmd(index, out), REPO, out / "checkpoint", 8)
    assert killed_at is not None and rc == -signal.SIGKILL, "not killed mid-run"
    assert not (out / "model.pth").exists()
    again = subprocess.run(_cmd(index, out), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed at iteration" in again.stderr
    assert (ref_out / "model.pth").read_bytes() == (out / "model.pth").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(ref_out / "train_log.parquet"), pd.read_parquet(out / "train_log.parquet")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(ref_out / "eval.parquet"), pd.read_parquet(out / "eval.parquet")
    )


class RankerVGG12_296(nn.Module):  # noqa: N801  (the authors' class name)
    """The authors' Ranker_VGG12_296, written out with their attribute names."""

    def __init__(self, in_nc: int = 3, base_nf: int = 64):
        super().__init__()
        nf = base_nf
        self.conv0_0 = nn.Conv2d(in_nc, nf, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(nf, nf, 4, 2, 1, bias=True)
        self.bn0_1 = nn.BatchNorm2d(nf, affine=True)
        self.conv1_0 = nn.Conv2d(nf, nf * 2, 3, 1, 1, bias=True)
        self.bn1_0 = nn.BatchNorm2d(nf * 2, affine=True)
        self.conv1_1 = nn.Conv2d(nf * 2, nf * 2, 4, 2, 1, bias=True)
        self.bn1_1 = nn.BatchNorm2d(nf * 2, affine=True)
        self.conv2_0 = nn.Conv2d(nf * 2, nf * 4, 3, 1, 1, bias=True)
        self.bn2_0 = nn.BatchNorm2d(nf * 4, affine=True)
        self.conv2_1 = nn.Conv2d(nf * 4, nf * 4, 4, 2, 1, bias=True)
        self.bn2_1 = nn.BatchNorm2d(nf * 4, affine=True)
        self.conv3_0 = nn.Conv2d(nf * 4, nf * 8, 3, 1, 1, bias=True)
        self.bn3_0 = nn.BatchNorm2d(nf * 8, affine=True)
        self.conv3_1 = nn.Conv2d(nf * 8, nf * 8, 4, 2, 1, bias=True)
        self.bn3_1 = nn.BatchNorm2d(nf * 8, affine=True)
        self.conv4_0 = nn.Conv2d(nf * 8, nf * 8, 3, 1, 1, bias=True)
        self.bn4_0 = nn.BatchNorm2d(nf * 8, affine=True)
        self.conv4_1 = nn.Conv2d(nf * 8, nf * 8, 4, 2, 1, bias=True)
        self.bn4_1 = nn.BatchNorm2d(nf * 8, affine=True)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(nf * 8, 100), nn.LeakyReLU(0.2, True), nn.Linear(100, 1)
        )

    def forward(self, x):
        f = self.lrelu(self.conv0_0(x))
        f = self.lrelu(self.bn0_1(self.conv0_1(f)))
        for s in range(1, 5):
            f = self.lrelu(getattr(self, f"bn{s}_0")(getattr(self, f"conv{s}_0")(f)))
            f = self.lrelu(getattr(self, f"bn{s}_1")(getattr(self, f"conv{s}_1")(f)))
        return self.classifier(self.avgpool(f).flatten(1))


def test_exported_vgg12_loads_strictly_into_the_authors_layout(index, tmp_path):
    out = tmp_path / "vgg12"
    args = _args(index, out, "--iterations", "3")
    args[args.index("ranker_vgg8")] = "ranker_vgg12"
    assert main(args) == 0
    state = torch.load(out / "model.pth", weights_only=True)
    ref = RankerVGG12_296(base_nf=4)
    ref.load_state_dict(state, strict=True)  # every key, every shape
    from ranksrgan import archs
    from ranksrgan.fit import load_plain_state

    ours = archs.build("ranker_vgg12", nf=4)
    load_plain_state(ours, out / "model.pth", "Ranker")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), ref.eval()(x))
    assert F.mse_loss(ours(x), ref(x)) == 0


def test_summary_on_a_hand_made_case():
    rows = []
    # position p1: labels 3 < 5 < 7, outputs in the same order; p2: labels 2 < 4, outputs
    # reversed; p3: a tie (not a pair) and one ordered pair
    for pos, labels, outputs in (
        ("p1", [7.0, 5.0, 3.0], [0.9, 0.5, 0.1]),
        ("p2", [4.0, 2.0], [0.2, 0.3]),
        ("p3", [6.0, 6.0, 1.0], [0.4, 0.6, 0.0]),
    ):
        for level, (lab, o) in enumerate(zip(labels, outputs, strict=True)):
            rows.append(
                {
                    "dataset": "d",
                    "image": pos,
                    "y": 0,
                    "x": 0,
                    "size": 8,
                    "method": f"m{level}",
                    "level": level,
                    "label": lab,
                    "output": o,
                }
            )
    ev = pd.DataFrame(rows)
    s = summarise(ev)
    # pairs with different labels: p1 3 (all agree), p2 1 (disagrees), p3 2 (both agree)
    assert s["n_pairs"] == 6 and s["pair_accuracy"] == pytest.approx(5 / 6)
    assert s["n_patches"] == 8 and s["n_positions"] == 3
    from scipy import stats

    assert s["srocc"] == pytest.approx(stats.spearmanr(ev["output"], ev["label"])[0])
    assert s["krocc"] == pytest.approx(stats.kendalltau(ev["output"], ev["label"])[0])
    assert s["plcc"] == pytest.approx(stats.pearsonr(ev["output"], ev["label"])[0])
    assert s["mean_output"]["m0"] == pytest.approx((0.9 + 0.2 + 0.4) / 3)
    assert list(s["mean_output"]) == ["m0", "m1", "m2"]
    empty = summarise(ev.iloc[:0])
    assert empty["n_patches"] == 0 and math.isnan(empty["srocc"])


def test_bad_index_is_one_line_error(index, tmp_path, capsys):
    df = pd.read_parquet(index)
    bad = tmp_path / "rankdata" / "bad" / "index.parquet"
    bad.parent.mkdir(parents=True)
    df.drop(columns=["label"]).to_parquet(bad)
    assert main(_args(bad, tmp_path / "o1", "--iterations", "2")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {bad}: rank index lacks column 'label'"

    moved = df.assign(path=df["path"].str.replace("..", str(index.parent / ".."), n=1, regex=False))
    moved.loc[0, "x"] = 60  # 60 + 48 > 96: outside the image
    moved.to_parquet(bad)
    assert main(_args(bad, tmp_path / "o2", "--iterations", "2")) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "lies outside the image" in err and "method 'blur2'" in err and "astronaut" in err


def test_nonfinite_ranker_step_stops_naming_the_iteration(index, tmp_path):
    from ranksrgan.errors import RankSRGANError
    from ranksrgan.fit import load_checkpoint
    from ranksrgan.ranker.engine import RankerPaths, RankerTrainer
    from ranksrgan.ranker.options import RankerOptions

    opts = RankerOptions(
        name="nan",
        arch="ranker_vgg8",
        arch_options={"nf": 4},
        batch_size=2,
        iterations=8,
        checkpoint_every=2,
        log_every=4,
        workers=0,
    )
    out = tmp_path / "nan"
    trainer = RankerTrainer(opts, RankerPaths(index=index, out_dir=out), torch.device("cpu"))
    net, calls = trainer.net, {"n": 0}

    def forward_with_nan(x):  # the 6th step's second forward turns NaN
        calls["n"] += 1
        y = net.__class__.forward(net, x)
        return y * float("nan") if calls["n"] == 12 else y

    net.forward = forward_with_nan
    with pytest.raises(RankSRGANError) as exc:
        trainer.run()
    msg = str(exc.value)
    assert msg.startswith("ranker nan: training step at iteration 6 ") and "loss = nan" in msg
    assert load_checkpoint(out / "checkpoint")["iteration"] == 4
    assert not (out / "model.pth").exists()
