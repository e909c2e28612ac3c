"""The toolkit's one shard mechanism: shard membership, partial-row resume, sidecars, gather."""

from __future__ import annotations

import pandas as pd
import pytest

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.shards import (
    PartialRows,
    fingerprint,
    n_shards,
    partial_path,
    read_shards,
    read_sidecar,
    require_files,
    shard_rows,
    sidecar_path,
    write_sidecar,
)

COLS = ["image", "metric", "value"]


def test_shard_membership_follows_sorted_names():
    df = pd.DataFrame({"image": ["e", "a", "d", "b", "c"], "n": range(5)})
    assert n_shards(5, 2) == 3 and n_shards(4, 2) == 2 and n_shards(0, 2) == 0
    assert [list(shard_rows(df, k, 2)["image"]) for k in range(3)] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
    ]
    assert list(shard_rows(df, None, 2)["image"]) == list("abcde")
    with pytest.raises(RankSRGANError, match=r"^m\.parquet: shard 3 out of range \(5 images"):
        shard_rows(df, 3, 2, source="m.parquet")
    with pytest.raises(RankSRGANError, match="shard_size 0"):
        shard_rows(df, 0, 0)


def test_partial_rows_resume_only_under_the_same_fingerprint(tmp_path):
    out = tmp_path / "s" / "0.parquet"
    store = PartialRows(out, COLS)
    assert store.reuse("a", "fp-a") is None
    store.add("a", "fp-a", [{"image": "a", "metric": "m", "value": 1.0}])
    store.add("b", "fp-b", [{"image": "b", "metric": "m", "value": 2.0}])
    assert partial_path(out).is_file() and not out.exists()  # "killed" here

    again = PartialRows(out, COLS)
    assert again.reuse("a", "fp-a")["value"].tolist() == [1.0]
    assert again.reuse("b", "fp-b-changed") is None  # input changed: recompute
    again.add("b", "fp-b-changed", [{"image": "b", "metric": "m", "value": 3.0}])
    df = again.finish(["b", "a"])
    assert list(df.columns) == COLS and df["value"].tolist() == [3.0, 1.0]
    assert not partial_path(out).exists() and pd.read_parquet(out).equals(df)


def test_damaged_partial_file_is_ignored(tmp_path):
    out = tmp_path / "0.parquet"
    partial_path(out).write_bytes(b"PAR1 torn")
    store = PartialRows(out, COLS)
    assert store.reuse("a", "x") is None
    with pytest.raises(RankSRGANError, match="no rows for image a"):
        store.finish(["a"])


def test_fingerprint_is_order_free_for_dicts_and_sensitive_to_values():
    assert fingerprint("h", {"a": 1, "b": 2}) == fingerprint("h", {"b": 2, "a": 1})
    assert fingerprint("h", {"a": 1}) != fingerprint("h2", {"a": 1})


def test_sidecar_reuse_needs_same_fingerprint_and_intact_output(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"image bytes")
    side = sidecar_path(tmp_path, "a")
    write_sidecar(png, side, "fp", height=4)
    assert read_sidecar(png, side, "fp")["height"] == 4
    assert read_sidecar(png, side, "other") is None
    png.write_bytes(b"torn")
    assert read_sidecar(png, side, "fp") is None
    side.write_text("{not json")
    assert read_sidecar(png, side, "fp") is None


def test_read_shards_names_missing_corrupt_and_duplicate(tmp_path):
    s0, s1 = tmp_path / "0.parquet", tmp_path / "1.parquet"
    pd.DataFrame({"image": ["a", "b"], "v": [1, 2]}).to_parquet(s0)
    pd.DataFrame({"image": ["c"], "v": [3]}).to_parquet(s1)
    assert read_shards([s0, s1], "out", "shard", unique=["image"])["image"].tolist() == list("abc")
    with pytest.raises(RankSRGANError, match="image a appears in two shards"):
        read_shards([s0, s0], "out", "shard", unique=["image"])
    with pytest.raises(RankSRGANError, match="2.parquet: shard not found"):
        read_shards([s0, tmp_path / "2.parquet"], "out", "shard")
    s1.write_bytes(s1.read_bytes()[:40])  # truncated by a full disk
    with pytest.raises(RankSRGANError) as exc:
        read_shards([s0, s1], "out", "shard")
    msg = str(exc.value)
    assert msg.startswith(f"{s1}: unreadable shard") and "\n" not in msg
    with pytest.raises(RankSRGANError, match="out: no shards to gather"):
        read_shards([], "out", "shard")


def test_require_files_names_the_missing_input(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    require_files([("a", tmp_path / "a.png")])
    with pytest.raises(RankSRGANError, match=r"b\.png: SR image of image b not found"):
        require_files([("a", tmp_path / "a.png"), ("b", tmp_path / "b.png")], "SR image")
