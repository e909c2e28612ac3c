"""Helpers of `make test-slurm` (tests/slurm/run.sh): demo configs and the comparison.

    python tests/slurm/demo_run.py config ROOT DEVICE  -> writes ROOT/config.yaml, prints targets
    python tests/slurm/demo_run.py compare SLURM_RESULTS LOCAL_RESULTS
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]


def write_config(root: Path, device: str) -> list[str]:
    """The demo config moved under ``root`` (data, bicubic SR, HR + bicubic scores); returns
    the targets of its data, sr and score stages (the network methods need the train stage)."""
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    results = root / "results"
    cfg["results_dir"] = str(results)
    cfg["cache_dir"] = str(results / "cache")
    cfg["demo_source"]["output"] = str(results / "source" / "demo_photos.zip")
    cfg["archives"]["demo_photos"]["urls"] = [f"file:{cfg['demo_source']['output']}"]
    cfg["metric_models"]["nrqm"]["path"] = str(results / "cache" / "NRQM_model_SYNTHETIC.mat")
    cfg["device"] = device  # auto: the score jobs ask SLURM for a (fake) GPU
    cfg["sr"]["methods"] = ["bicubic"]
    cfg["score"]["methods"] = ["HR", "bicubic"]
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"{results}/data/{d}/manifest.parquet" for d in cfg["data"]["datasets"]]
    targets += [
        f"{results}/sr/{m}/{d}/manifest.parquet"
        for m in cfg["sr"]["methods"]
        for d in cfg["sr"]["datasets"]
    ]
    targets += [
        f"{results}/scores/{d}/{m}.parquet"
        for d in cfg["score"]["datasets"]
        for m in cfg["score"]["methods"]
    ]
    return targets


def compare(slurm: Path, local: Path) -> int:
    """Score tables of the two runs hold the same rows and values; SR images the same bytes."""
    names = sorted(p.relative_to(slurm) for p in (slurm / "scores").glob("*/*.parquet"))
    assert names, f"no score tables under {slurm}"
    assert names == sorted(p.relative_to(local) for p in (local / "scores").glob("*/*.parquet"))
    key = ["dataset", "method", "image", "metric"]
    rows = 0
    for name in names:
        a = pd.read_parquet(slurm / name).sort_values(key).reset_index(drop=True)
        b = pd.read_parquet(local / name).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a[key + ["value"]], b[key + ["value"]], check_exact=True)
        assert a["value"].notna().all(), name
        rows += len(a)
    pngs = sorted(p.relative_to(slurm) for p in (slurm / "sr").rglob("*.png"))
    assert pngs == sorted(p.relative_to(local) for p in (local / "sr").rglob("*.png"))
    for p in pngs:
        assert (slurm / p).read_bytes() == (local / p).read_bytes(), p
    print(f"equal: {len(names)} score tables ({rows} values), {len(pngs)} SR images")
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "config":
        print("\n".join(write_config(Path(sys.argv[2]), sys.argv[3])))
    elif sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
