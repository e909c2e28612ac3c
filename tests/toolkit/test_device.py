"""One device chooser (ranksrgan.io.device.pick_device) for sr, score/metrics, train and ranker."""

from __future__ import annotations

import pytest
import torch

from ranksrgan.cli import main
from ranksrgan.errors import RankSRGANError
from ranksrgan.io.device import pick_device


def test_every_stage_uses_the_one_chooser():
    import ranksrgan.fit as fit
    import ranksrgan.metrics as metrics
    import ranksrgan.sr.inference as inference
    import ranksrgan.sr.shard as sr_shard

    assert not hasattr(fit, "pick_device")  # no alias of the one chooser left behind
    assert not hasattr(inference, "select_device")  # no second chooser left behind
    assert sr_shard.pick_device is pick_device
    assert metrics.create_metric("psnr", "cpu").device == torch.device("cpu")


def test_names():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "gpu", "cuda:x", ""):
        with pytest.raises(RankSRGANError, match="unknown device"):
            pick_device(bad)


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_one_line(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RankSRGANError) as info:
        pick_device(name)
    msg = str(info.value)
    assert "no CUDA device" in msg and f"'{name}'" in msg and "\n" not in msg
    # the metrics toolkit (score, rankdata, train validation) says the same
    from ranksrgan.metrics import create_metric

    with pytest.raises(RankSRGANError, match="no CUDA device"):
        create_metric("niqe", name)


def test_cuda_index_beyond_the_host(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RankSRGANError, match="1 CUDA device"):
        pick_device("cuda:3")


def test_ranker_cli_cuda_without_cuda_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc = main(["ranker", "train", "--index", str(tmp_path / "index.parquet"),
               "--out", str(tmp_path / "r"), "--device", "cuda"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.startswith("error: ") and "no CUDA device" in err
    assert len(err.splitlines()) == 1
