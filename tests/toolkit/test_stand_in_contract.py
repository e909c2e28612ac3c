"""The one encoding of a stand-in (``ranksrgan.io.contracts``): a note string under
``stand_in``, ``""`` = not a stand-in, written by every stage and read by the report through
the same helpers; and the manifest reader's default containment root."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import skimage.data

from ranksrgan.errors import RankSRGANError
from ranksrgan.fit.export import metadata_labels, read_metadata, write_metadata
from ranksrgan.io import write_png
from ranksrgan.io.contracts import (
    SCORE_COLUMNS,
    is_stand_in,
    stand_in_labels,
    stand_in_mask,
    stand_in_note,
    stand_in_notes,
    stand_in_of,
)
from ranksrgan.io.parquet import read_manifest
from ranksrgan.metrics import create_metric
from ranksrgan.metrics.synthetic import write_synthetic_nrqm
from ranksrgan.report.inputs import read_scores
from ranksrgan.report.render import footnotes
from ranksrgan.report.tables import (
    RunMapping,
    compare,
    rankdata_summary,
    ranker_summary,
    score_summary,
)
from ranksrgan.score.shard import score_shard, shard_items

SYNTH = "SYNTHETIC NRQM model"


# ------------------------------------------------------------------------------ the encoding

def test_note_joins_reasons_once_in_order():
    assert stand_in_note([]) == ""
    assert stand_in_note(["tiny demo run", "", None, "random Ranker", "tiny demo run"]) == (
        "tiny demo run; random Ranker")
    # notes are split into their reasons before the repeats go
    assert stand_in_note(["a; b", "b", "c"]) == "a; b; c"
    assert stand_in_note("a; b") == "a; b"  # one string is one note, not its characters
    assert stand_in_labels("a; b;  ; c") == ["a", "b", "c"]


@pytest.mark.parametrize("value", ["", "  ", None, math.nan, np.nan, pd.NA, False, True, 0, 1])
def test_only_a_non_empty_string_is_a_stand_in(value):
    assert not is_stand_in(value) and stand_in_labels(value) == []


def test_table_helpers_read_the_column_and_tolerate_its_absence():
    df = pd.DataFrame({"stand_in": ["x", None, "", "y; x", np.nan]})
    assert list(stand_in_notes(df)) == ["x", "", "", "y; x", ""]
    assert list(stand_in_mask(df)) == [True, False, False, True, False]
    assert stand_in_note(stand_in_notes(df)) == "x; y"
    no_column = pd.DataFrame({"image": ["a", "b"]})
    assert list(stand_in_mask(no_column)) == [False, False]
    assert list(stand_in_notes(no_column)) == ["", ""]


def test_a_true_flag_of_an_older_file_is_refused_not_read_as_real(tmp_path):
    # read as "not a stand-in", an old True flag would pass a synthetic number as real
    assert stand_in_of(False, "x") == "" and stand_in_of(None, "x") == ""
    assert stand_in_of(np.False_, "x") == "" and stand_in_of(" a; b ", "x") == "a; b"
    for flag in (True, np.True_):
        with pytest.raises(RankSRGANError, match="x: stand_in is True, not a note"):
            stand_in_of(flag, "x")
    old = tmp_path / "scores" / "old.parquet"
    old.parent.mkdir()
    pd.DataFrame([{"dataset": "d", "method": "m", "image": "im", "metric": "ma", "value": 1.0,
                   "stand_in": True, "stand_in_note": SYNTH, "error": ""}]).to_parquet(old)
    with pytest.raises(RankSRGANError, match=f"{old}: stand_in is True") as e:
        read_scores([old])
    assert "\n" not in str(e.value)
    w = tmp_path / "G.pth"
    (tmp_path / "G.json").write_text(json.dumps({"stand_in": True, "labels": ["tiny run"]}))
    with pytest.raises(RankSRGANError, match="G.json: stand_in is True"):
        metadata_labels(w)


def test_score_tables_have_one_stand_in_column():
    assert "stand_in" in SCORE_COLUMNS and "stand_in_note" not in SCORE_COLUMNS


# ------------------------------------------------------------------------------ writers

def test_metric_params_carry_the_note(tmp_path):
    model = tmp_path / "NRQM_SYNTHETIC.mat"
    write_synthetic_nrqm(model, seed=1, n_trees=10)
    for name in ("ma", "pi"):
        m = create_metric(name, model_path=str(model))
        assert m.stand_in == SYNTH and m.params["stand_in"] == SYNTH
        assert json.loads(json.dumps(m.params))["stand_in"] == SYNTH  # the protocol column
    niqe = create_metric("niqe")
    assert niqe.stand_in == "" and not is_stand_in(niqe.params.get("stand_in"))


def test_weights_metadata_folds_labels_into_the_note(tmp_path):
    w = tmp_path / "G.pth"
    # the GAN trainer hands a flag and a list: written as the one note, no labels key
    write_metadata(w, {"arch": "srresnet", "stand_in": True,
                       "labels": ["tiny demo run", "random Ranker", "tiny demo run"]})
    meta = read_metadata(w)
    assert meta == {"arch": "srresnet", "stand_in": "tiny demo run; random Ranker"}
    assert metadata_labels(w) == ["tiny demo run", "random Ranker"]
    write_metadata(w, {"arch": "srresnet", "stand_in": False, "labels": []})
    assert read_metadata(w) == {"arch": "srresnet", "stand_in": ""} and metadata_labels(w) == []
    write_metadata(w, {"arch": "srresnet", "stand_in": "random Ranker"})  # a note stays
    assert read_metadata(w)["stand_in"] == "random Ranker"
    with pytest.raises(ValueError, match="names no reason"):
        write_metadata(w, {"arch": "srresnet", "stand_in": True})


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """One photo and its bicubic 'SR', scored with Ma (synthetic NRQM model) and PSNR, once
    with a plain SR manifest (no stand_in column) and once with a stand-in SR method."""
    root = tmp_path_factory.mktemp("stand_in")
    hr = np.ascontiguousarray(skimage.data.coffee()[:96, :96])
    write_png(root / "data" / "HR" / "im.png", hr)
    pd.DataFrame([{"image": "im", "hr_path": "HR/im.png", "lr_path": "", "height": 96,
                   "width": 96}]).to_parquet(root / "data" / "manifest.parquet")
    sr = np.clip(hr.astype(int) + 3, 0, 255).astype(np.uint8)
    model = root / "NRQM_SYNTHETIC.mat"
    write_synthetic_nrqm(model, seed=0, n_trees=10)
    metrics = [create_metric("ma", model_path=str(model)), create_metric("psnr")]
    out = {}
    for method, note in (("plain", None), ("demo", "demo-trained tiny model")):
        d = root / "sr" / method
        write_png(d / "im.png", sr)
        row = {"image": "im", "method": method, "path": "im.png"}
        if note is not None:
            row["stand_in"] = note
        pd.DataFrame([row]).to_parquet(d / "manifest.parquet")
        items = shard_items(root / "data" / "manifest.parquet", d / "manifest.parquet", method,
                            None, 10)
        out[method] = root / "scores" / f"{method}.parquet"
        score_shard("toy", method, items, metrics, out[method])
    return out


def test_score_shard_writes_the_note_of_the_metric_and_the_sr_method(scored):
    plain = pd.read_parquet(scored["plain"]).set_index("metric")
    assert list(plain.columns) == [c for c in SCORE_COLUMNS if c != "metric"]
    assert plain.loc["ma", "stand_in"] == SYNTH  # the synthetic NRQM model says so
    assert plain.loc["psnr", "stand_in"] == ""  # a real number: the empty note
    assert json.loads(plain.loc["ma", "protocol"])["stand_in"] == SYNTH
    demo = pd.read_parquet(scored["demo"]).set_index("metric")
    assert demo.loc["ma", "stand_in"] == f"demo-trained tiny model; {SYNTH}"
    assert demo.loc["psnr", "stand_in"] == "demo-trained tiny model"


PAPER = pd.DataFrame([
    {"table": "t", "row": row, "dataset": "PIRM-Test", "metric": metric, "paper": 1.0,
     "better": better, "note": ""}
    for row in ("Plain", "Demo") for metric, better in (("10-Ma", "lower"), ("PSNR", "higher"))
])


def _cells(scored, dataset_stand_ins=None):
    summary = score_summary(read_scores([scored["plain"], scored["demo"]]))
    mapping = RunMapping(datasets={"PIRM-Test": "toy"}, methods={"Plain": "plain",
                                                                  "Demo": "demo"},
                         dataset_stand_ins=dataset_stand_ins or {})
    cells = compare(PAPER, summary, ranker_summary(pd.DataFrame(columns=["name", "output",
                                                                         "label"])),
                    rankdata_summary(pd.DataFrame(columns=["name", "image", "method"])), mapping)
    return summary, cells.set_index(["row", "metric"])


def test_report_marks_exactly_the_stand_in_cells_with_their_note(scored):
    summary, c = _cells(scored)
    s = summary.set_index(["method", "metric"])
    assert s.loc[("plain", "10-ma"), "stand_in"] == SYNTH  # the summary keeps the one encoding
    assert s.loc[("plain", "psnr"), "stand_in"] == ""
    assert (c["status"] == "ok").all()
    assert c.loc[("Plain", "10-Ma"), "stand_in"]
    assert c.loc[("Plain", "10-Ma"), "stand_in_note"] == SYNTH
    assert not c.loc[("Plain", "PSNR"), "stand_in"]  # no stand-in anywhere: not marked
    assert c.loc[("Plain", "PSNR"), "stand_in_note"] == ""
    assert c.loc[("Demo", "PSNR"), "stand_in"]
    assert c.loc[("Demo", "PSNR"), "stand_in_note"] == "demo-trained tiny model"
    lines = footnotes(c.reset_index())
    assert any(SYNTH in line and "stand-in" in line for line in lines)
    # a dataset that only stands in for the paper's marks every cell of it, its note added
    _, c = _cells(scored, {"PIRM-Test": "demo photos"})
    assert c["stand_in"].all()
    assert c.loc[("Plain", "PSNR"), "stand_in_note"] == "demo photos"
    assert c.loc[("Demo", "10-Ma"), "stand_in_note"] == (
        f"demo-trained tiny model; {SYNTH}; demo photos")


def test_ranker_summary_reads_the_evaluation_and_its_summary_note():
    evals = pd.DataFrame({
        "name": ["fake"] * 4 + ["real"] * 4,
        "output": [0.1, 0.4, 0.2, 0.9] * 2, "label": [1.0, 2.0, 1.5, 3.0] * 2,
        "stand_in": ["rank data: demo"] * 4 + [""] * 4,
    })
    summaries = {"fake": {"stand_in": "random Ranker"}, "real": {"stand_in": ""},
                 "empty": {"stand_in": "tiny demo Ranker"}}
    r = ranker_summary(evals, names=["fake", "real", "empty"], summaries=summaries)
    r = r.set_index("name")
    assert r.loc["fake", "stand_in"] == "rank data: demo; random Ranker"
    assert r.loc["real", "stand_in"] == ""
    assert r.loc["empty", "stand_in"] == "tiny demo Ranker"  # no rows, the summary says so
    # an evaluation without the column (older or hand-made): not a stand-in
    assert ranker_summary(evals.drop(columns="stand_in")).set_index("name").loc[
        "fake", "stand_in"] == ""


# ------------------------------------------------------------------------------ manifests

def test_manifest_reader_keeps_paths_in_the_manifest_folder_by_default(tmp_path):
    d = tmp_path / "sr" / "m"
    d.mkdir(parents=True)
    (tmp_path / "sr" / "outside.png").write_bytes(b"")
    pd.DataFrame([{"image": "im", "path": "../outside.png"}]).to_parquet(d / "manifest.parquet")
    with pytest.raises(RankSRGANError, match="leads outside"):
        read_manifest(d / "manifest.parquet", ("image", "path"), "sr manifest")
    got = read_manifest(d / "manifest.parquet", ("image", "path"), "sr manifest",
                        root=tmp_path / "sr")  # a wider root is the caller's to name
    assert got["path"].iloc[0].endswith("outside.png")
    pd.DataFrame([{"image": "../im", "path": "im.png"}]).to_parquet(d / "bad.parquet")
    with pytest.raises(RankSRGANError, match="image"):
        read_manifest(d / "bad.parquet", ("image", "path"), "sr manifest")
