"""CI runs the DAG (issue 17.8): the CI config (the demo's stages, fewer iterations) runs end
to end once per session (the ``demo_run`` fixture), and every file contract of
docs/architecture.md holds on what it wrote. A broken rule or contract fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from ranksrgan.io.contracts import stand_in_mask
from ranksrgan.layout import STAGES, stage_targets
from ranksrgan.status import format_status, target_states
from tests.support import REPO

# Keys config/ci.yaml may change from config/demo.yaml (paths: results/ci; sizes of the run).
CI_CHANGES = {
    "results_dir", "cache_dir", "demo_source.output", "archives.demo_photos.urls",
    "metric_models.nrqm.path", "report.title",
    "train.presets.srresnet.iterations", "train.presets.srresnet.checkpoint_every",
    "train.presets.srresnet.val_every", "train.presets.srresnet.scheduler.milestones",
    "train.presets.rrdb_psnr.iterations", "train.presets.rrdb_psnr.scheduler.milestones",
    "train.presets.srgan.iterations", "train.presets.srgan.checkpoint_every",
    "train.presets.srgan.val_every", "train.presets.srgan.log_every",
    "train.presets.srgan.scheduler.milestones",
    "ranker.niqe.iterations", "ranker.niqe.milestones", "ranker.niqe.checkpoint_every",
    "ranker.niqe.log_every",
    # SR and scores on demo_test only, one shard; rank-dataset selection rules off (ci.yaml)
    "sr.datasets", "sr.shard_size", "score.datasets", "score.shard_size",
    "rankdata.niqe.selection.sharpness_min", "rankdata.niqe.selection.niqe_gap_min",
}


def _diff(a, b, prefix=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            yield from _diff(a.get(k), b.get(k), f"{prefix}{k}.")
    elif a != b:
        yield prefix.rstrip(".")


def test_ci_config_is_the_demo_with_fewer_iterations():
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    ci = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    changed = set(_diff(demo, ci))
    assert changed <= CI_CHANGES, sorted(changed - CI_CHANGES)
    assert ci["results_dir"] == "results/ci"
    for key in ("data", "methods", "datasets", "train", "ranker", "rankdata"):
        assert set(ci[key]) == set(demo[key])  # same stages, datasets, methods, presets
    for key in ("methods", "metrics"):
        assert ci["score"][key] == demo["score"][key]
    assert ci["sr"]["methods"] == demo["sr"]["methods"]


def test_status_of_an_empty_folder_is_all_pending(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    states = target_states(cfg, tmp_path)
    assert {s.stage for s in states} == set(STAGES)
    assert {(s.state, s.in_dvc) for s in states} == {("pending", False)}
    assert len(states) == sum(len(t) for t in stage_targets(cfg).values()) == 29


def _read(path: Path, columns: list[str], rows: int | None = None) -> pd.DataFrame:
    assert path.is_file(), path
    df = pd.read_parquet(path)
    assert set(columns) <= set(df.columns), (path, sorted(set(columns) - set(df.columns)))
    if rows is not None:
        assert len(df) == rows, (path, len(df))
    return df


@pytest.mark.slow
def test_demo_dag_runs_end_to_end(demo_run):
    """The run finished and a second plan finds nothing to do."""
    print(f"demo DAG ({demo_run.config}): {demo_run.seconds:.0f} s wall, "
          f"{demo_run.cpu_seconds:.0f} s CPU of its jobs")
    cfg = demo_run.cfg
    missing = [t for ts in stage_targets(cfg).values() for t in ts
               if not (demo_run.root / t).is_file()]
    assert not missing
    from tests.support.demo_dag import snakemake

    plan = snakemake(demo_run.root, demo_run.config, "-n")
    assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr


@pytest.mark.slow
def test_demo_dag_data_and_sr_contracts(demo_run):
    cfg, r = demo_run.cfg, demo_run.results
    for d in cfg["data"]["datasets"]:
        man = r / "data" / d / "manifest.parquet"
        df = _read(man, ["image", "hr_path", "lr_path", "height", "width", "hr_sha256",
                         "lr_sha256"], cfg["datasets"][d]["images"])
        for col in ("hr_path", "lr_path"):
            assert all((man.parent / p).is_file() for p in df[col])  # relative to its folder
        assert (df["height"] % cfg["scale"] == 0).all() and (df["width"] % cfg["scale"] == 0).all()
    for m in cfg["sr"]["methods"]:
        for d in cfg["sr"]["datasets"]:
            man = r / "sr" / m / d / "manifest.parquet"
            df = _read(man, ["image", "method", "path", "height", "width", "sr_sha256",
                             "lr_sha256", "weights_sha256", "runtime_s", "device", "precision",
                             "stand_in"], cfg["datasets"][d]["images"])
            assert set(df["method"]) == {m}
            assert all((man.parent / p).is_file() for p in df["path"])
            trained = "train_preset" in cfg["methods"][m]
            # tiny trained nets say so (the one encoding: a note, "" = not a stand-in)
            assert list(stand_in_mask(df)) == [trained] * len(df)


@pytest.mark.slow
def test_demo_dag_score_contract(demo_run):
    cfg, r = demo_run.cfg, demo_run.results
    for d in cfg["score"]["datasets"]:
        for m in cfg["score"]["methods"]:
            df = _read(r / "scores" / d / f"{m}.parquet",
                       ["dataset", "method", "image", "metric", "value", "protocol",
                        "params_hash", "stand_in", "error"],
                       cfg["datasets"][d]["images"] * len(cfg["score"]["metrics"]))
            assert set(df["metric"]) == set(cfg["score"]["metrics"])
            niqe = df[df["metric"] == "niqe"]
            assert (niqe["error"].fillna("") == "").all()  # "" = no error
            assert niqe["value"].between(0, 100).all()
            # Ma/PI use the synthetic NRQM model: every such row says so
            ma_pi = df[df["metric"].isin(["ma", "pi"])]
            assert ma_pi["stand_in"].str.contains("SYNTHETIC NRQM model", regex=False).all()


@pytest.mark.slow
def test_demo_dag_rankdata_and_ranker_contracts(demo_run):
    cfg, r = demo_run.cfg, demo_run.results
    for name, spec in cfg["rankdata"].items():
        folder = r / "rankdata" / name
        idx = _read(folder / "index.parquet",
                    ["image", "dataset", "x", "y", "size", "method", "level", "path", "score",
                     "label", "metric", "split", "sharpness", "niqe_gap", "sha256",
                     "hr_sha256", "stand_in"])
        assert len(idx) > 0 and set(idx["method"]) == set(spec["methods"])
        assert set(idx["split"]) == {"train", "val"}
        assert (idx["size"] == spec["size"]).all()
        assert all((folder / p).is_file() for p in idx["path"].unique())
        assert (folder / "images.parquet").is_file()
        assert isinstance(json.loads((folder / "stats.json").read_text()), dict)
    for name in cfg["ranker"]:
        folder = r / "ranker" / name
        ev = _read(folder / "eval.parquet",
                   ["dataset", "image", "x", "y", "size", "method", "level", "metric", "score",
                    "label", "output", "ranker", "stand_in"])
        assert len(ev) > 0 and ev["output"].notna().all()
        summary = json.loads((folder / "eval_summary.json").read_text())
        assert {"srocc", "krocc", "plcc", "pair_accuracy", "mean_output", "mean_label",
                "n_patches", "n_positions", "n_pairs"} <= set(summary)
        assert summary["n_patches"] == len(ev)
        assert json.loads((folder / "model.json").read_text())
        state = torch.load(folder / "model.pth", map_location="cpu", weights_only=True)
        assert state and all(isinstance(v, torch.Tensor) for v in state.values())


@pytest.mark.slow
def test_demo_dag_train_contract(demo_run):
    cfg, r = demo_run.cfg, demo_run.results
    for preset in cfg["train"]["targets"]:
        folder = r / "train" / preset
        state = torch.load(folder / "G.pth", map_location="cpu", weights_only=True)
        assert state and all(isinstance(v, torch.Tensor) for v in state.values())
        assert json.loads((folder / "G.json").read_text())
        _read(folder / "val.parquet", ["iteration", "image", "psnr", "niqe"])
        log = pd.read_parquet(folder / "train_log.parquet")
        assert len(log) > 0


@pytest.mark.slow
def test_demo_dag_report_contract(demo_run):
    r = demo_run.results / "report"
    html = (r / "index.html").read_text()
    assert "<html" in html.lower() and (r / "index.md").is_file()
    tables = sorted((r / "tables").glob("*.csv"))
    assert tables
    for t in tables:
        df = pd.read_csv(t)
        assert {"ours", "paper", "delta", "status", "stand_in", "protocol"} <= set(df.columns), t
    assert any(f.suffix == ".png" for f in (r / "figures").iterdir())
    assert "stand-in" in html.lower() or "stand_in" in html.lower()


@pytest.mark.slow
def test_status_of_the_demo_run_is_all_done(demo_run):
    states = target_states(demo_run.cfg, demo_run.root)
    assert {s.state for s in states} == {"done"}  # computed here, no dvc.lock in that folder
    text = format_status(states)
    assert "report         1       0        0" in text


def test_status_cli_targets_json_and_errors(tmp_path, capsys):
    from ranksrgan.cli import main

    config = str(REPO / "config" / "ci.yaml")
    assert main(["status", "--config", config, "--targets", "train"]) == 0
    out = capsys.readouterr().out.split()
    assert out[0] == "results/ci/train/fsrcnn/G.pth" and len(out) == 6
    assert main(["status", "--config", config, "--root", str(tmp_path), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 29 and {r["state"] for r in rows} == {"pending"}
    assert main(["status", "--config", config, "--targets", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --targets nope: unknown stage") and err.count("\n") == 1
