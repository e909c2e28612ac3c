"""The train jobs get the RESOLVED config (issue 17 item 3): `--config` overrides and a second
`--configfile` reach the job's command; the CLI trains from that resolved preset; the schema
ships as package data and validation never silently skips."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from ranksrgan.cli import main
from ranksrgan.presets import deep_merge, preset_hash, resolve_preset
from tests.support import REPO
from tests.support.train_inputs import make_dataset

SNAKEMAKE = Path(sys.executable).parent / "snakemake"

# Snakemake's --config reads a nested value with YAML's base loader (all strings): the
# workflow types numbers back, so an override validates and reaches the job as an integer.
# srresnet (and fsrcnn, which extends it) made tiny enough to train here.
TINY = {"iterations": 3, "checkpoint_every": 3, "val_every": 3, "log_every": 1,
        "data": {"hr_patch": 32, "batch_size": 2}}
OVERRIDE = ("train={presets: {srgan: {iterations: 7}, srresnet: {iterations: 3, "
            "checkpoint_every: 3, val_every: 3, log_every: 1, "
            "data: {hr_patch: 32, batch_size: 2}}}}")


def dry_run(*args: str) -> str:
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n", "-p", "--forceall", "--nolock", *args],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


def train_commands(out: str) -> dict[str, list[str]]:
    """preset -> argv of its `ranksrgan train` shell command in a `-p` dry run."""
    cmds = {}
    for line in out.splitlines():
        if "ranksrgan train --preset" in line:
            argv = shlex.split(line[line.index("ranksrgan train") :])
            cmds[argv[argv.index("--preset") + 1]] = argv
    return cmds


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.fixture(scope="module")
def overridden(tmp_path_factory):
    """Demo config + a second configfile + --config overrides, planned."""
    tmp = tmp_path_factory.mktemp("reach")
    second = tmp / "second.yaml"
    second.write_text(yaml.safe_dump({"train": {"presets": {"rrdb_psnr": {"seed": 3}}}}))
    results = tmp / "res"
    out = dry_run(
        "--configfile", "config/demo.yaml", str(second),
        "--config", OVERRIDE, f"results_dir={results}",
    )
    merged = deep_merge(
        yaml.safe_load((REPO / "config/demo.yaml").read_text()),
        {"train": {"presets": {"rrdb_psnr": {"seed": 3}, "srgan": {"iterations": 7},
                               "srresnet": TINY}}},
    )
    return train_commands(out), merged, results


def test_overrides_and_second_configfile_reach_the_train_jobs(overridden):
    cmds, merged, results = overridden
    assert set(cmds) == set(merged["train"]["presets"])
    for preset, argv in cmds.items():
        assert "--config" not in argv  # no job re-reads a config file
        sent = json.loads(flag(argv, "--preset-json"))
        # exactly the in-memory config's resolved preset (extends merged) and runtime
        assert sent == {
            "preset": resolve_preset(merged["train"]["presets"], preset),
            "runtime": merged["train"]["runtime"],
        }
        assert flag(argv, "--out") == f"{results}/train/{preset}"
        assert flag(argv, "--device") == "cpu"
    sent = {p: json.loads(flag(a, "--preset-json"))["preset"] for p, a in cmds.items()}
    iters = {p: s["iterations"] for p, s in sent.items()}
    # --config: srgan and the presets extending it; the demo's own value elsewhere
    assert iters["srgan"] == iters["esrgan"] == iters["ranksrgan_niqe"] == 7
    assert iters["srresnet"] == iters["fsrcnn"] == 3 and iters["rrdb_psnr"] == 800
    # the second --configfile: rrdb_psnr's seed, inherited by nothing else
    seeds = {p: s["seed"] for p, s in sent.items()}
    assert seeds["rrdb_psnr"] == 3 and seeds["srresnet"] == seeds["esrgan"] == 10


def test_a_nested_override_that_breaks_the_schema_names_the_key():
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n", "--nolock", "--configfile", "config/demo.yaml",
         "--config", "train={presets: {srgan: {iterations: many}}}"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode != 0
    assert "train.presets.srgan.iterations" in proc.stdout + proc.stderr


def test_the_cli_trains_the_dry_runs_resolved_preset(overridden, tmp_path):
    """A job's command line from the dry run (made tiny via --config), run with local data."""
    argv = overridden[0]["fsrcnn"]  # extends srresnet: gets its overrides
    sent = json.loads(flag(argv, "--preset-json"))
    assert sent["preset"]["iterations"] == 3 and sent["preset"]["generator"]["arch"] == "fsrcnn"
    train = make_dataset(tmp_path, "tr", photos=("astronaut", "coffee"), max_side=128)
    val = make_dataset(tmp_path, "va", photos=("chelsea",), max_side=128)
    args = argv[1 : argv.index(">")]  # drop `ranksrgan` and the log redirect
    for name, value in (("--train-manifest", train), ("--val-manifest", val),
                        ("--out", tmp_path / "out"), ("--cache-dir", tmp_path / "cache")):
        args[args.index(name) + 1] = str(value)
    assert main(args) == 0
    meta = json.loads((tmp_path / "out" / "G.json").read_text())
    assert meta["iterations"] == 3 and meta["arch"] == "fsrcnn"
    assert meta["options"]["data"]["hr_patch"] == 32
    # the same hash as a run from a config file holding these values (resume check, report)
    assert meta["config_sha256"] == preset_hash(sent)
    assert (tmp_path / "out" / "val.parquet").is_file()


def _cli_err(args, capsys) -> tuple[int, str]:
    rc = main(args)
    err = capsys.readouterr().err.strip()
    return rc, err


def test_preset_json_errors_are_one_line(tmp_path, capsys):
    demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    presets, runtime = demo["train"]["presets"], demo["train"]["runtime"]
    base = ["train", "--preset", "srgan", "--out", str(tmp_path / "o"),
            "--train-manifest", str(tmp_path / "m.parquet"), "--cache-dir", str(tmp_path / "c")]
    bad = resolve_preset(presets, "srgan")
    bad["iterations"] = 0
    rc, err = _cli_err(base + ["--preset-json", json.dumps({"preset": bad, "runtime": runtime})],
                       capsys)
    assert rc == 1 and "train.presets.srgan.iterations" in err and len(err.splitlines()) == 1
    typo = {**resolve_preset(presets, "srgan"), "iteratons": 5}
    rc, err = _cli_err(base + ["--preset-json", json.dumps({"preset": typo, "runtime": runtime})],
                       capsys)
    assert rc == 1 and "iteratons (unknown key)" in err
    good = json.dumps({"preset": resolve_preset(presets, "srgan"), "runtime": runtime})
    rc, err = _cli_err(base + ["--preset-json", good], capsys)  # srgan starts from srresnet
    assert rc == 1 and "--init is required" in err
    rc, err = _cli_err(base + ["--preset-json", good, "--config", "config/demo.yaml"], capsys)
    assert rc == 1 and "exactly one of --config" in err
    rc, err = _cli_err(base + ["--preset-json", "{not json"], capsys)
    assert rc == 1 and "invalid JSON" in err


def test_schema_is_package_data_with_one_source():
    from ranksrgan.config import schema_file

    packaged = schema_file()
    assert packaged.samefile(REPO / "workflow/schemas/config.schema.yaml")
    link = REPO / "src/ranksrgan/schemas/config.schema.yaml"
    assert link.is_symlink()  # one source of truth: the workflow's file


def test_wheel_ships_the_schema_file(tmp_path):
    """Build a wheel from a copy of the checkout (links kept): the schema is a real file."""
    src = tmp_path / "src_tree"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "src", src / "src", symlinks=True,
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    shutil.copytree(REPO / "workflow/schemas", src / "workflow/schemas")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "whl")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "whl").glob("ranksrgan-*.whl")
    with zipfile.ZipFile(wheel) as z:
        info = z.getinfo("ranksrgan/schemas/config.schema.yaml")
        assert (info.external_attr >> 16) & 0o170000 == 0o100000  # a regular file, not a link
        assert z.read(info) == (REPO / "workflow/schemas/config.schema.yaml").read_bytes()


def test_a_missing_schema_stops_validation_never_skips(tmp_path, monkeypatch, capsys):
    import ranksrgan.config as cfgmod

    monkeypatch.setattr(cfgmod.resources, "files", lambda pkg: tmp_path)  # a broken install
    rc, err = _cli_err(["train", "--config", "config/demo.yaml", "--preset", "srresnet",
                        "--out", str(tmp_path / "o")], capsys)
    assert rc == 1 and "config schema not found" in err and "never used unvalidated" in err
    assert not (tmp_path / "o").exists()


def test_report_job_does_not_change_with_scheduler_resources():
    """`resources:` sizes jobs for a scheduler; the report job's command (its params, a rerun
    trigger) is the same whatever they are, while a report setting still changes it."""
    import subprocess
    import sys
    from pathlib import Path

    repo = REPO
    snakemake = Path(sys.executable).parent / "snakemake"

    def report_line(*extra: str) -> str:
        proc = subprocess.run(
            [str(snakemake), "-n", "-p", "--forceall", "--nolock", "--rerun-incomplete",
             "--configfile", "config/demo.yaml", *extra],
            cwd=repo, capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        lines = [ln for ln in proc.stdout.splitlines() if "ranksrgan report build" in ln]
        assert len(lines) == 1
        return lines[0]

    base = report_line()
    assert report_line("--config", "resources={light: {runtime: 99}}") == base
    assert report_line("--config", "report={title: other}") != base
