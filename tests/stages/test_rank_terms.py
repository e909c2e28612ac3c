"""Several Rankers at once (the journal version's RankSRGAN-NM): ``losses.rank`` as a list of
rank-content terms, summed with their weights; one Ranker file per stage/path term, in order."""

from __future__ import annotations

import copy
import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml

from ranksrgan.archs import build
from ranksrgan.config import load_config
from ranksrgan.errors import RankSRGANError
from ranksrgan.fit import export_weights, read_metadata, write_metadata
from ranksrgan.presets import rank_terms
from ranksrgan.train.engine import Trainer, TrainPaths
from ranksrgan.train.options import options_from_config
from tests.support import REPO
from tests.support.train_inputs import TINY_GAN, make_dataset

RUNTIME = {"precision": "fp32", "channels_last": False, "compile": False, "workers": 0}


def _term(weight: float, name: str) -> dict:
    return {"weight": weight, "ranker": {"source": "stage", "name": name,
                                         "arch": "ranker_vgg8", "options": {"nf": 4}}}


def _preset(terms) -> dict:
    p = copy.deepcopy(TINY_GAN)
    p.update(discriminator=None, iterations=2, checkpoint_every=10, log_every=1)
    p["data"].update(val=None, val_images=0)
    p["losses"] = {"pixel": {"weight": 1.0, "criterion": "l1"}, "rank": terms}
    return p


@pytest.fixture(scope="module")
def two_rankers(tmp_path_factory):
    """A tiny training set and two different tiny Ranker weight files."""
    root = tmp_path_factory.mktemp("rank-terms")
    manifest = make_dataset(root, "tr", photos=("astronaut",), max_side=160)
    files = []
    for seed, name in ((1, "niqe"), (2, "ma")):
        torch.manual_seed(seed)
        f = root / f"{name}.pth"
        export_weights(build("ranker_vgg8", nf=4), f)
        write_metadata(f, {"arch": "ranker_vgg8", "labels": [f"tiny {name} Ranker"]})
        files.append(f)
    return root, manifest, files


def test_one_mapping_and_a_list_read_as_terms_in_order():
    assert [t["weight"] for t in rank_terms({"losses": {"rank": _term(0.03, "niqe")}})] == [0.03]
    both = {"losses": {"rank": [_term(0.01, "niqe"), _term(0.0, "pi"), _term(0.02, "ma")]}}
    # a weight-0 entry is off, the others keep their order
    assert [t["ranker"]["name"] for t in rank_terms(both)] == ["niqe", "ma"]
    assert rank_terms({"losses": {}}) == []


def test_two_rank_terms_are_summed_with_their_weights(two_rankers):
    root, manifest, files = two_rankers
    train = {"runtime": RUNTIME,
             "presets": {"nm": _preset([_term(0.25, "niqe"), _term(0.75, "ma")])}}
    opts = options_from_config(train, "nm")
    assert [(t.weight, t.ranker.name) for t in opts.losses.rank] == [(0.25, "niqe"), (0.75, "ma")]
    trainer = Trainer(opts, TrainPaths(out_dir=root / "nm", train_manifests=(manifest,),
                                       rankers=tuple(files), cache_dir=root / "cache"),
                      torch.device("cpu"))
    # each term loaded its own file, in order
    for key, f in zip(("rank_0", "rank_1"), files, strict=True):
        want = build("ranker_vgg8", nf=4)
        want.load_state_dict(torch.load(f))
        got = trainer.loss_fns[key].ranker.state_dict()
        assert all(torch.equal(got[k], v) for k, v in want.state_dict().items())
    first = [next(iter(trainer.loss_fns[k].ranker.parameters())) for k in ("rank_0", "rank_1")]
    assert not torch.equal(*first)  # two different networks, not one loaded twice

    # one step by hand: l_rank_i = w_i * sum(sigmoid(R_i(G(x)))), the total their sum + pixel
    lr = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    hr = torch.randint(0, 256, (2, 3, 128, 128), dtype=torch.uint8)
    g0 = copy.deepcopy(trainer.G)
    vals = trainer.step(lr, hr, 0).tolist()
    row = dict(zip(trainer.columns, vals, strict=True))
    assert {"l_pix", "l_rank_0", "l_rank_1", "l_g_total"} <= set(row)
    with torch.no_grad():
        sr = g0(lr.float() / 255)
        for key, w in (("rank_0", 0.25), ("rank_1", 0.75)):
            want = w * trainer.loss_fns[key](sr).item()
            assert row[f"l_{key}"] == pytest.approx(want, rel=1e-5)
    assert row["l_g_total"] == pytest.approx(row["l_pix"] + row["l_rank_0"] + row["l_rank_1"],
                                             rel=1e-5)


def test_generator_metadata_names_every_ranker_and_its_labels(two_rankers):
    root, manifest, files = two_rankers
    train = {"runtime": RUNTIME, "presets": {"nm": _preset([_term(0.5, "niqe"),
                                                            _term(0.5, "ma")])}}
    trainer = Trainer(options_from_config(train, "nm"),
                      TrainPaths(out_dir=root / "meta", train_manifests=(manifest,),
                                 rankers=tuple(files), cache_dir=root / "cache"),
                      torch.device("cpu"))
    g = trainer.run()
    meta = read_metadata(g)
    assert [(r["name"], r["path"]) for r in meta["rankers"]] == [
        ("niqe", str(files[0])), ("ma", str(files[1]))]
    assert all(len(r["sha256"]) == 64 for r in meta["rankers"])
    log = pd.read_parquet(root / "meta" / "train_log.parquet")
    assert {"l_rank_0", "l_rank_1"} <= set(log.columns) and "l_rank" not in log.columns
    assert "Ranker: tiny niqe Ranker" in trainer.labels
    assert "Ranker: tiny ma Ranker" in trainer.labels


def test_one_ranker_file_per_term_else_one_line(two_rankers):
    root, manifest, files = two_rankers
    train = {"runtime": RUNTIME, "presets": {"nm": _preset([_term(0.5, "niqe"),
                                                            _term(0.5, "ma")])}}
    with pytest.raises(RankSRGANError, match="2 Ranker weights file.*1 given"):
        Trainer(options_from_config(train, "nm"),
                TrainPaths(out_dir=root / "short", train_manifests=(manifest,),
                           rankers=(files[0],), cache_dir=root / "cache"),
                torch.device("cpu"))


def test_unknown_ranker_in_a_list_names_the_entry(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["report"]["paper_results"] = str(REPO / "config" / "paper_results.yaml")
    cfg["train"]["presets"]["ranksrgan_nm"]["losses"]["rank"][1]["ranker"]["name"] = "maa"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(RankSRGANError) as err:
        load_config(bad)
    msg = str(err.value)
    assert "train.presets.ranksrgan_nm.losses.rank[1].ranker.name" in msg and "maa" in msg
    assert "\n" not in msg


def test_paper_config_nm_job_gets_both_stage_rankers():
    """The `beyond` target's RankSRGAN-NM job: the NIQE and the Ma Ranker as inputs and as two
    --ranker flags, in the preset's order."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1", "--resources", "gpu=1",
         "--configfile", "config/config.yaml", "--rerun-incomplete", "train_ranksrgan_nm"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if "--preset ranksrgan_nm" in ln)
    flags = line.split("--ranker ")[1:]
    assert [f.split()[0] for f in flags] == ["results/paper/ranker/niqe/model.pth",
                                             "results/paper/ranker/ma/model.pth"]
