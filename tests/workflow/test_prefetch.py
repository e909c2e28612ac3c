"""Every download is a login-node job (issue 17 item 2) of one of two rules running the one
fetch command, `ranksrgan data download` (issue 23 item 5): `download_archive` for archives,
`fetch_file` for every other file (SR weights, the VGG19 perceptual-loss file, the NRQM model),
with no ruleorder and the retries of the config's `data.download` everywhere; training jobs
get the VGG19 file as an input and never download; `snakemake prefetch` fetches every download
of a config and nothing else."""

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
from tests.support import REPO
from tests.support.http_server import LoopbackServer

SNAKEMAKE = Path(sys.executable).parent / "snakemake"

DOWNLOAD_RULES = {"download_archive", "fetch_file"}


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


def rule_blocks(out: str, rule: str) -> list[str]:
    blocks = re.findall(rf"^rule {rule}:\n((?:    .*\n)+(?:Shell command: .*\n)?)", out,
                        flags=re.MULTILINE)
    assert blocks, f"rule {rule} not planned"
    return blocks


def rule_block(out: str, rule: str) -> str:
    return rule_blocks(out, rule)[0]


def job_output(block: str) -> str:
    return block.splitlines()[0].split("output: ", 1)[1]


def test_paper_prefetch_plans_every_download_and_train_jobs_wait_for_vgg19(tmp_path):
    paper = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cache, results = paper["cache_dir"], tmp_path / "res"  # a planning folder of our own
    out = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml",
                    "--config", f"results_dir={results}",
                    "--", "prefetch", f"{results}/train/srgan/G.pth")
    counts = job_counts(out)
    archives = {spec["archive"] for spec in paper["datasets"].values()}
    assert counts["download_archive"] == len(archives) == 6
    # every other download (ESRGAN's weights, VGG19, the NRQM model): the one rule
    assert counts["fetch_file"] == 3 and not set(counts) - DOWNLOAD_RULES - {
        "prefetch", "train_srgan", "train_srresnet", "prepare_dataset"}
    vgg = f"{cache}/weights/vgg19-dcbb9e9d.pth"
    nrqm = f"{cache}/metric_models/NRQM_model.mat"
    esrgan = f"{cache}/weights/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"
    fetched = {job_output(b): b for b in rule_blocks(out, "fetch_file")}
    assert set(fetched) == {vgg, nrqm, esrgan}
    wanted = [*fetched] + [f"{cache}/archives/{a}.{paper['archives'][a]['type']}" for a in archives]
    prefetch_inputs = rule_block(out, "prefetch").splitlines()[0].split("input: ", 1)[1]
    assert sorted(prefetch_inputs.split(", ")) == sorted(wanted)  # nothing that is computed
    # every download job runs the one command with the config's data.download retries
    dl = paper["data"]["download"]
    retries = (f"--retries {dl['retries']} --backoff-s {dl['backoff_s']} "
               f"--timeout-s {dl['timeout_s']}")
    blocks = [*fetched.values(), *rule_blocks(out, "download_archive")]
    for block in blocks:
        cmd = block.split("Shell command: ", 1)[1]
        assert cmd.startswith("ranksrgan data download --url ") and retries in cmd, cmd
        assert f"--out {job_output(block)} " in cmd
    # each with its entry's size, sha256 and content check
    vgg_entry = paper["weights"]["vgg19"]
    assert f"--sha256 {vgg_entry['sha256']} --size {vgg_entry['size']} --check torch" in (
        fetched[vgg])
    assert "--sha256 none --check nrqm" in fetched[nrqm] and nrqm in fetched[nrqm]
    assert "--check torch --name-prefix" in fetched[esrgan]
    # a training job: the VGG19 file is one of its inputs and handed over as --vgg19
    train = rule_block(out, "train_srgan")
    assert vgg in train.splitlines()[0]
    assert f"--vgg19 {vgg}" in train and "--config" not in train


def test_sr_weights_that_are_the_vgg19_file_are_one_download(tmp_path):
    """The same file named by a method's weights and weights.vgg19 (what needed a ruleorder):
    one fetch_file job, the entries merged; entries that disagree are one line."""
    paper = yaml.safe_load((REPO / "config/config.yaml").read_text())
    vgg = paper["weights"]["vgg19"]
    paper["methods"]["vggnet"] = {"kind": "network", "arch": "srresnet",
                                  "weights": {"url": vgg["url"], "sha256": None}}
    cfg = tmp_path / "vgg_twice.yaml"
    cfg.write_text(yaml.safe_dump(paper))
    out = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", str(cfg),
                    "--config", f"results_dir={tmp_path / 'res'}", "--", "prefetch")
    assert job_counts(out)["fetch_file"] == 3
    block = next(b for b in rule_blocks(out, "fetch_file") if "vgg19-dcbb9e9d.pth" in b)
    assert f"--sha256 {vgg['sha256']} --size {vgg['size']}" in block  # merged, not lost
    paper["methods"]["vggnet"]["weights"]["sha256"] = "0" * 64
    cfg.write_text(yaml.safe_dump(paper))
    proc = subprocess.run([str(SNAKEMAKE), "-n", "--nolock", "--configfile", str(cfg),
                           "--config", f"results_dir={tmp_path / 'res'}", "--", "prefetch"],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0
    assert re.search(r"config keys '.*' and 'weights\.vgg19' both fetch \S+vgg19-dcbb9e9d\.pth, "
                     r"with different sha256", proc.stdout + proc.stderr)


def test_demo_downloads_nothing(tmp_path):
    """Random VGG19 weights, a local archive, a synthetic NRQM model: prefetch is empty."""
    out = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/demo.yaml",
                    "--config", f"results_dir={tmp_path}",
                    "--", "prefetch", f"{tmp_path}/train/esrgan/G.pth")
    counts = job_counts(out)
    # the train target needs the demo's archive, built here and "downloaded" from a file:
    assert "fetch_file" not in counts, counts
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
            assert not list(workflow._ruleorder)  # one rule per downloaded file: no ruleorder
            fetching = {r.name for r in workflow.rules if "download" in (r.shellcmd or "")
                        or "fetch" in (r.shellcmd or "")}
            assert fetching == DOWNLOAD_RULES  # and both run the one fetch command
            assert all(workflow.get_rule(r).shellcmd.startswith("ranksrgan data download ")
                       for r in DOWNLOAD_RULES)
    finally:
        os.chdir(cwd)


def _tiny_vgg_file() -> tuple[str, bytes]:
    """A small real torch file named like torchvision's (name carries its sha256 prefix)."""
    buf = io.BytesIO()
    torch.save({"features.0.weight": torch.arange(27.0).reshape(1, 3, 3, 3)}, buf)
    body = buf.getvalue()
    return f"/models/vgg19-{hashlib.sha256(body).hexdigest()[:8]}.pth", body


def test_fetch_command_downloads_verifies_and_keeps_a_weights_file(tmp_path, capsys):
    path, body = _tiny_vgg_file()
    with LoopbackServer() as srv:
        srv.files[path] = body
        srv.drop_first[path] = 100  # the first transfer is cut short: retried, never kept
        out = tmp_path / "cache" / "weights" / Path(path).name
        args = ["data", "download", "--url", srv.url(path), "--size", str(len(body)),
                "--check", "torch", "--name-prefix", "--out", str(out), "--retries", "3",
                "--backoff-s", "0"]
        assert main(args) == 0
        assert out.read_bytes() == body
        n = len(srv.requests)
        assert main(args) == 0 and len(srv.requests) == n  # verified in the cache: no request
        capsys.readouterr()
        # a wrong hash: one line naming the URL, nothing cached
        bad = tmp_path / "c2" / "weights" / Path(path).name
        rc = main(["data", "download", "--url", srv.url(path), "--sha256", "0" * 64,
                   "--check", "torch", "--out", str(bad), "--retries", "1", "--backoff-s", "0"])
        err = capsys.readouterr().err.strip()
        assert rc == 1 and "sha256" in err and path in err and len(err.splitlines()) == 1
        assert not bad.exists()


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
        # the login node's one target: runs fetch_file (the demo's archive is local)
        out = snakemake("prefetch", "--cores", "1", "--configfile", str(cfg), timeout=300)
        assert "fetch_file" in out
        cached = tmp_path / "cache" / "weights" / Path(path).name
        assert cached.read_bytes() == body
        assert [p for p, _ in srv.requests] == [path]
        assert Path(f"{tmp_path}/res/logs/fetch/{cached}.log").is_file()
