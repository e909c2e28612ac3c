"""Score stage end to end on a tiny manifest built from scikit-image photos."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data

from ranksrgan.cli import main
from ranksrgan.imresize import imresize
from ranksrgan.io import write_png
from ranksrgan.score import shard as shard_mod

METRICS = ["niqe", "psnr", "ssim"]


@pytest.fixture()
def tiny(tmp_path):
    """HR + bicubic 'SR' of three photos, one corrupt SR file and one too-small image."""
    photos = {
        "a_coffee": skimage.data.coffee()[:160, :200],
        "b_chelsea": skimage.data.chelsea()[:160, :240],
        "c_small": skimage.data.astronaut()[:64, :64],
        "d_corrupt": skimage.data.rocket()[:160, :200],
    }
    rows, sr_rows = [], []
    for name, hr in photos.items():
        hr_p, sr_p = tmp_path / "HR" / f"{name}.png", tmp_path / "SR" / f"{name}.png"
        write_png(hr_p, np.ascontiguousarray(hr))
        write_png(sr_p, imresize(imresize(hr, 0.25), 4.0))
        rows.append(
            {
                "image": name,
                "hr_path": str(hr_p),
                "lr_path": "",
                "height": hr.shape[0],
                "width": hr.shape[1],
                "hr_sha256": "",
                "lr_sha256": "",
            }
        )
        sr_rows.append({"image": name, "method": "bicubic", "path": str(sr_p)})
    (tmp_path / "SR" / "d_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    pd.DataFrame(rows).to_parquet(tmp_path / "data.parquet")
    pd.DataFrame(sr_rows).to_parquet(tmp_path / "sr.parquet")
    return tmp_path


def _run(tiny, method, out, shard=None):
    argv = [
        "score",
        "run",
        "--dataset",
        "tiny",
        "--method",
        method,
        "--data-manifest",
        str(tiny / "data.parquet"),
        "--metrics",
        *METRICS,
        "--out",
        str(out),
    ]
    if method != "HR":
        argv += ["--sr-manifest", str(tiny / "sr.parquet")]
    if shard is not None:
        argv += ["--shard", str(shard), "--shard-size", "2"]
    return main(argv)


def test_shards_errors_and_gather(tiny):
    outs = [tiny / f"s{k}.parquet" for k in (0, 1)]
    for k, out in enumerate(outs):
        assert _run(tiny, "bicubic", out, shard=k) == 0
    assert main(["score", "gather", "--out", str(tiny / "all.parquet"), *map(str, outs)]) == 0
    df = pd.read_parquet(tiny / "all.parquet")
    assert len(df) == 4 * len(METRICS)
    assert set(shard_mod.COLUMNS) <= set(df.columns)
    ok = df[df["error"] == ""]
    assert ok["value"].notna().all()  # no silent NaN
    assert df[df["error"] != ""]["value"].isna().all()
    corrupt = df[df["image"] == "d_corrupt"]
    assert (corrupt["error"].str.contains("corrupt")).all()
    small = df[(df["image"] == "c_small") & (df["metric"] == "niqe")].iloc[0]
    assert "niqe needs at least 104 px" in small["error"] and small["height"] == 64
    assert not df[(df["image"] == "c_small") & (df["metric"] == "psnr")]["error"].iloc[0]
    niqe = df[(df["metric"] == "niqe") & (df["error"] == "")]
    assert (niqe["shave"] == 4).all() and (niqe["colour"] == "y").all()
    assert niqe["params_hash"].nunique() == 1 and (df["stand_in"] == "").all()


def test_hr_pseudo_method_uses_hr_images(tiny):
    out = tiny / "hr.parquet"
    assert _run(tiny, "HR", out) == 0
    df = pd.read_parquet(out)
    psnr = df[(df["metric"] == "psnr") & (df["image"] == "a_coffee")]["value"].iloc[0]
    assert psnr == float("inf")
    assert (df[df["image"] == "d_corrupt"]["error"] == "").all()  # its HR file is fine


def test_resume_skips_scored_images(tiny, monkeypatch):
    out = tiny / "resume.parquet"
    calls = []
    real = shard_mod.score_item

    def failing(dataset, method, item, metrics, policy):
        calls.append(item.image)
        if item.image == "b_chelsea":
            raise KeyboardInterrupt  # simulate a killed job after the first image
        return real(dataset, method, item, metrics, policy)

    monkeypatch.setattr(shard_mod, "score_item", failing)
    with pytest.raises(KeyboardInterrupt):
        _run(tiny, "bicubic", out)
    assert not out.exists() and (tiny / "resume.parquet.partial.parquet").exists()
    calls.clear()
    monkeypatch.setattr(shard_mod, "score_item", lambda *a: (calls.append(a[2].image), real(*a))[1])
    assert _run(tiny, "bicubic", out) == 0
    assert "a_coffee" not in calls and "b_chelsea" in calls
    assert pd.read_parquet(out)["image"].nunique() == 4
    assert not (tiny / "resume.parquet.partial.parquet").exists()


def test_missing_sr_output_is_one_line_error(tiny, capsys):
    sr = pd.read_parquet(tiny / "sr.parquet").iloc[:2]
    sr.to_parquet(tiny / "sr.parquet")
    assert _run(tiny, "bicubic", tiny / "x.parquet") == 1
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("error: ")
        and "no bicubic output for image c_small" in err
        and "\n" not in err
    )


def test_stand_in_sr_method_marks_every_row(tiny):
    # An SR output from a demo-trained network must not pass as a real method's score.
    sr = pd.read_parquet(tiny / "sr.parquet")
    sr["stand_in"] = ["tiny demo run"] + [""] * (len(sr) - 1)
    sr.to_parquet(tiny / "sr.parquet")
    out = tiny / "stand_in.parquet"
    assert _run(tiny, "bicubic", out) == 0
    df = pd.read_parquet(out)
    first = df["image"] == sr["image"].iloc[0]
    assert (df[first]["stand_in"] == "tiny demo run").all() and "stand_in_note" not in df
    assert (df[~first]["stand_in"] == "").all()


def test_resume_rescores_an_image_replaced_after_a_kill(tiny, monkeypatch):
    # Issue 19 item 3: rows in the partial file are reused only for the same input bytes.
    out = tiny / "stale.parquet"
    real = shard_mod.score_item

    def killed_after_first(dataset, method, item, metrics, policy):
        if item.image == "b_chelsea":
            raise KeyboardInterrupt
        return real(dataset, method, item, metrics, policy)

    monkeypatch.setattr(shard_mod, "score_item", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        _run(tiny, "bicubic", out)
    monkeypatch.setattr(shard_mod, "score_item", real)
    # the sr stage reran between the kill and the rerun: a_coffee's SR image is now the HR one
    (tiny / "SR" / "a_coffee.png").write_bytes((tiny / "HR" / "a_coffee.png").read_bytes())
    assert _run(tiny, "bicubic", out) == 0
    df = pd.read_parquet(out).set_index(["image", "metric"])
    assert df.loc[("a_coffee", "psnr"), "value"] == float("inf")  # stale: a finite PSNR
    fresh = tiny / "fresh.parquet"
    assert _run(tiny, "bicubic", fresh) == 0
    want = pd.read_parquet(fresh).set_index(["image", "metric"])
    assert df.loc["a_coffee", "value"].equals(want.loc["a_coffee", "value"])


def test_cuda_out_of_memory_fails_the_job_not_an_error_row(tiny, monkeypatch, capsys):
    # Issue 19: a transient OOM must not become a permanent error row in a finished shard.
    import torch

    from ranksrgan import metrics

    real = metrics.create_metric

    def create(name, device="cpu", **opts):
        m = real(name, device, **opts)
        if name == "ssim":

            def oom(*a):
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

            m._fn = oom
        return m

    monkeypatch.setattr(metrics, "create_metric", create)
    out = tiny / "oom.parquet"
    with pytest.raises(torch.cuda.OutOfMemoryError):
        shard_mod.score_shard(
            "tiny",
            "bicubic",
            shard_mod.shard_items(tiny / "data.parquet", tiny / "sr.parquet", "bicubic", None, 1),
            [create(n) for n in METRICS],
            out,
        )
    assert not out.exists()
    assert _run(tiny, "bicubic", out) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "out of memory" in err[-1] and not out.exists()


def _relative_manifests(tiny):
    """Rewrite the fixture's manifests with paths relative to their own folder (as written)."""
    for name, cols in (("data.parquet", ["hr_path"]), ("sr.parquet", ["path"])):
        df = pd.read_parquet(tiny / name)
        for c in cols:
            df[c] = [str(Path(p).relative_to(tiny)) for p in df[c]]
        df.to_parquet(tiny / name)


def test_stage_runs_from_another_working_directory(tiny, tmp_path_factory, monkeypatch):
    # Issue 19: manifest paths resolve against the manifest's folder, not the cwd.
    _relative_manifests(tiny)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    out = tiny / "cwd.parquet"
    assert _run(tiny, "bicubic", out, shard=0) == 0
    df = pd.read_parquet(out)
    assert set(df["image"]) == {"a_coffee", "b_chelsea"} and (df["error"] == "").all()


def test_old_cwd_relative_manifest_still_loads(tiny, monkeypatch):
    _relative_manifests(tiny)  # relative to tiny, which is also the cwd below
    for name in ("data.parquet", "sr.parquet"):
        (tiny / "m").mkdir(exist_ok=True)
        (tiny / name).rename(tiny / "m" / name)
    monkeypatch.chdir(tiny)
    argv = ["score", "run", "--dataset", "tiny", "--method", "bicubic", "--metrics", "psnr"]
    argv += ["--data-manifest", "m/data.parquet", "--sr-manifest", "m/sr.parquet"]
    assert main(argv + ["--shard", "0", "--shard-size", "2", "--out", "old.parquet"]) == 0
    assert (pd.read_parquet(tiny / "old.parquet")["error"] == "").all()


def test_missing_input_file_fails_with_one_line(tiny, capsys):
    (tiny / "HR" / "b_chelsea.png").unlink()
    out = tiny / "missing.parquet"
    assert _run(tiny, "bicubic", out, shard=0) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "b_chelsea.png" in err and "\n" not in err
    assert not out.exists()


def test_cuda_device_without_cuda_is_one_line(tiny, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = ["score", "run", "--dataset", "tiny", "--method", "HR", "--metrics", "psnr"]
    argv += ["--data-manifest", str(tiny / "data.parquet"), "--device", "cuda"]
    assert main(argv + ["--out", str(tiny / "cuda.parquet")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "cuda" in err and "\n" not in err


def test_gather_names_a_corrupt_shard_in_one_line(tiny, capsys):
    s0, s1 = tiny / "g0.parquet", tiny / "g1.parquet"
    assert _run(tiny, "bicubic", s0, shard=0) == 0 and _run(tiny, "bicubic", s1, shard=1) == 0
    s1.write_bytes(s1.read_bytes()[:100])  # a shard cut short (full disk, copy interrupted)
    capsys.readouterr()
    assert main(["score", "gather", "--out", str(tiny / "all.parquet"), str(s0), str(s1)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {s1}: unreadable score shard") and "\n" not in err
    assert not (tiny / "all.parquet").exists()
