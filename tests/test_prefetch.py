"""Every download is its own login-node rule (issue 17 item 2): the VGG19 perceptual-loss
weights (`train_fetch_vgg19`, `ranksrgan train fetch-vgg19`) beside the archives, SR weights
and NRQM model; training jobs get the file as an input and never download; `snakemake
prefetch` fetches every download of a config and nothing else."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from ranksrgan.cli import main

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
sys.path.insert(0, str(Path(__file__).parent))
from _http_server import LoopbackServer  # noqa: E402

DOWNLOAD_RULES = {"download_archive", "sr_fetch_weights", "train_fetch_vgg19", "score_nrqm_fetch"}


def snakemake(*args: str, timeout: int = 180) -> str:
    proc = subprocess.run([str(SNAKEMAKE), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


def job_counts(out: str) -> dict[str, int]:
    stats = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, flags=re.MULTILINE)}


def rule_block(out: str, rule: str) -> str:
    m = re.search(rf"^rule {rule}:\n((?:    .*\n)+(?:Shell command: .*\n)?)", out,
                  flags=re.MULTILINE)
    assert m, f"rule {rule} not planned"
    return m.group(1)


def test_paper_prefetch_plans_every_download_and_train_jobs_wait_for_vgg19(tmp_path):
    paper = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cache, results = paper["cache_dir"], tmp_path / "res"  # a planning folder of our own
    out = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml",
                    "--config", f"results_dir={results}",
                    "--", "prefetch", f"{results}/train/srgan/G.pth")
    counts = job_counts(out)
    archives = {spec["archive"] for spec in paper["datasets"].values()}
    assert counts["download_archive"] == len(archives) == 6
    assert counts["sr_fetch_weights"] == counts["train_fetch_vgg19"] == 1
    assert counts["score_nrqm_fetch"] == 1
    vgg = f"{cache}/weights/vgg19-dcbb9e9d.pth"
    wanted = [vgg, f"{cache}/metric_models/NRQM_model.mat"]
    wanted += [f"{cache}/archives/{a}.{paper['archives'][a]['type']}" for a in archives]
    prefetch_inputs = rule_block(out, "prefetch").splitlines()[0].split("input: ", 1)[1]
    assert set(wanted) <= set(prefetch_inputs.split(", "))
    assert len(prefetch_inputs.split(", ")) == 9  # + ESRGAN's weights; nothing that is computed
    # the VGG19 rule fetches with the config's size and sha256
    fetch = rule_block(out, "train_fetch_vgg19")
    vgg_entry = paper["weights"]["vgg19"]
    assert f"--size {vgg_entry['size']}" in fetch and vgg_entry["sha256"] in fetch
    # a training job: the VGG19 file is one of its inputs and handed over as --vgg19
    train = rule_block(out, "train_srgan")
    assert vgg in train.splitlines()[0]
    assert f"--vgg19 {vgg}" in train and "--config" not in train


def test_demo_downloads_nothing(tmp_path):
    """Random VGG19 weights, a local archive, a synthetic NRQM model: prefetch is empty."""
    out = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/demo.yaml",
                    "--config", f"results_dir={tmp_path}",
                    "--", "prefetch", f"{tmp_path}/train/esrgan/G.pth")
    counts = job_counts(out)
    # the train target needs the demo's archive, built here and "downloaded" from a file:
    assert not (DOWNLOAD_RULES - {"download_archive"}) & set(counts), counts
    urls = re.findall(r"--url (\S+)", rule_block(out, "download_archive"))
    assert urls and all(u.startswith("file:") for u in urls)
    assert rule_block(out, "prefetch").splitlines()[0].strip().startswith("jobid")  # no input
    assert "--vgg19" not in rule_block(out, "train_esrgan")


def test_download_rules_are_localrules():
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            wf = api.workflow(
                snakefile=REPO / "workflow" / "Snakefile", workdir=REPO,
                config_settings=ConfigSettings(configfiles=[REPO / "config/config.yaml"]),
                resource_settings=ResourceSettings(),
            )
            wf.dag(DAGSettings())
            workflow = wf._workflow
            rules = {r.name for r in workflow.rules}
            assert DOWNLOAD_RULES | {"prefetch"} <= rules
            assert DOWNLOAD_RULES | {"prefetch"} <= set(workflow._localrules)
            assert not {r for r in rules if r.startswith("train_") and r != "train_fetch_vgg19"} & (
                set(workflow._localrules)
            )
    finally:
        os.chdir(cwd)


def _tiny_vgg_file() -> tuple[str, bytes]:
    """A small real torch file named like torchvision's (name carries its sha256 prefix)."""
    buf = io.BytesIO()
    torch.save({"features.0.weight": torch.arange(27.0).reshape(1, 3, 3, 3)}, buf)
    body = buf.getvalue()
    return f"/models/vgg19-{hashlib.sha256(body).hexdigest()[:8]}.pth", body


def test_fetch_vgg19_cli_downloads_verifies_and_keeps(tmp_path, capsys):
    path, body = _tiny_vgg_file()
    with LoopbackServer() as srv:
        srv.files[path] = body
        srv.drop_first[path] = 100  # the first transfer is cut short: retried, never kept
        out = tmp_path / "cache" / "weights" / Path(path).name
        args = ["train", "fetch-vgg19", "--url", srv.url(path), "--size", str(len(body)),
                "--out", str(out), "--retries", "3", "--backoff-s", "0"]
        assert main(args) == 0
        assert out.read_bytes() == body
        n = len(srv.requests)
        assert main(args) == 0 and len(srv.requests) == n  # verified in the cache: no request
        capsys.readouterr()
        # a wrong hash: one line naming the URL, nothing cached
        bad = tmp_path / "c2" / "weights" / Path(path).name
        rc = main(["train", "fetch-vgg19", "--url", srv.url(path), "--sha256", "0" * 64,
                   "--out", str(bad), "--retries", "1", "--backoff-s", "0"])
        err = capsys.readouterr().err.strip()
        assert rc == 1 and "sha256" in err and path in err and len(err.splitlines()) == 1
        assert not bad.exists()
        # --out must be where the cache keeps the file (the train rule's input)
        rc = main(["train", "fetch-vgg19", "--url", srv.url(path),
                   "--out", str(tmp_path / "x.pth")])
        assert rc == 1 and "is not where the cache keeps" in capsys.readouterr().err


def _vgg_config(tmp_path: Path, url: str, body: bytes) -> Path:
    cfg = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    cfg["results_dir"] = str(tmp_path / "res")
    cfg["cache_dir"] = str(tmp_path / "cache")
    cfg["train"]["presets"]["srgan"]["losses"]["perceptual"]["weights"] = "vgg19"
    cfg["weights"]["vgg19"] = {"url": url, "sha256": hashlib.sha256(body).hexdigest(),
                               "size": len(body), "layout": "auto"}
    path = tmp_path / "vgg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_prefetch_runs_the_vgg19_rule_and_training_never_downloads(tmp_path, capsys):
    path, body = _tiny_vgg_file()
    with LoopbackServer() as srv:
        srv.files[path] = body
        cfg = _vgg_config(tmp_path, srv.url(path), body)
        # training by hand from the config file: no cached VGG19 -> one line, no request
        rc = main(["train", "--config", str(cfg), "--preset", "srgan", "--device", "cpu",
                   "--init", str(tmp_path / "G.pth")])
        err = capsys.readouterr().err.strip()
        assert rc == 1 and "training never downloads" in err and not srv.requests
        # the login node's one target: runs train_fetch_vgg19 (the demo's archive is local)
        out = snakemake("prefetch", "--cores", "1", "--configfile", str(cfg), timeout=300)
        assert "train_fetch_vgg19" in out
        cached = tmp_path / "cache" / "weights" / Path(path).name
        assert cached.read_bytes() == body
        assert [p for p, _ in srv.requests] == [path]
        assert (tmp_path / "res" / "logs" / "train" / "fetch_vgg19.log").is_file()
