"""The results layout, stated once: where every stage's outputs live, and each stage's targets.

Every path a rule file, ``ranksrgan status``, the train CLI's by-hand ``--config`` mode or the
report needs under ``results_dir`` (``R``) or ``cache_dir`` (``C``) is built here and nowhere
else (docs/architecture.md "Files between stages" describes what is in each file):

- data: ``R/data/{dataset}/manifest.parquet``
- sr: ``R/sr/{method}/{dataset}/manifest.parquet`` (+ ``shards/{k}.parquet``)
- score: ``R/scores/{dataset}/{method}.parquet`` (+ ``{method}/shards/{k}.parquet``)
- rankdata: ``R/rankdata/{name}/{index.parquet, images.parquet, stats.json}`` (+ shards)
- ranker: ``R/ranker/{name}/{model.pth, model.json, eval.parquet, eval_summary.json}``
- train: ``R/train/{preset}/{G.pth, G.json, val.parquet, train_log.parquet}`` (+ ``G_ema.pth``,
  ``G_ema.json`` for a preset with ``ema_decay``)
- report: ``R/report/index.html``; one table's page ``R/report/tables/{table}/index.html``
- cache: ``C/archives/{archive}.{type}``, ``C/weights/{url file name}``

Torch-free and Snakemake-free (the workflow imports it at DAG load; a test imports it with
torch made unimportable). Paths are strings joined with ``/`` exactly as the config spells
``results_dir``, so they equal the paths Snakemake matches.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from ranksrgan.errors import RankSRGANError

# Stages in the order the DAG first reaches them, and the folder each writes under R
# (dvc.yaml tracks these folders as whole outs).
STAGES = ("data", "sr", "score", "rankdata", "ranker", "train", "report")
STAGE_FOLDERS = {
    "data": "data",
    "sr": "sr",
    "score": "scores",
    "rankdata": "rankdata",
    "ranker": "ranker",
    "train": "train",
    "report": "report",
}
RANKDATA_FILES = ("index.parquet", "images.parquet", "stats.json")
RANKER_TARGET_FILES = ("model.pth", "eval.parquet", "eval_summary.json")


class Layout:
    """Paths of one results folder (``results``) and one cache folder (``cache``)."""

    def __init__(self, results: str, cache: str | None = None) -> None:
        self.results = str(results)
        self.cache = None if cache is None else str(cache)

    @classmethod
    def of(cls, config: dict[str, Any]) -> Layout:
        """The layout of a (validated) config: its ``results_dir`` and ``cache_dir``."""
        return cls(config["results_dir"], config.get("cache_dir"))

    def stage_folder(self, stage: str) -> str:
        """The folder a stage writes (one DVC out in dvc.yaml)."""
        return f"{self.results}/{STAGE_FOLDERS[stage]}"

    # --- data -----------------------------------------------------------------------------
    def data_dir(self, dataset: str) -> str:
        return f"{self.results}/data/{dataset}"

    def data_manifest(self, dataset: str) -> str:
        """The data stage's manifest of one dataset (HR and LR paths per image)."""
        return f"{self.data_dir(dataset)}/manifest.parquet"

    # --- sr -------------------------------------------------------------------------------
    def sr_dir(self, method: str, dataset: str) -> str:
        return f"{self.results}/sr/{method}/{dataset}"

    def sr_manifest(self, method: str, dataset: str) -> str:
        """The sr stage's gathered manifest of one method on one dataset."""
        return f"{self.sr_dir(method, dataset)}/manifest.parquet"

    def sr_shard_dir(self, method: str, dataset: str) -> str:
        return f"{self.sr_dir(method, dataset)}/shards"

    def sr_shard(self, method: str, dataset: str, k: int | str) -> str:
        """One sr shard's manifest (``k`` may be a wildcard pattern)."""
        return f"{self.sr_shard_dir(method, dataset)}/{k}.parquet"

    # --- score ----------------------------------------------------------------------------
    def score_table(self, dataset: str, method: str) -> str:
        """The gathered score table of one method on one dataset (long format)."""
        return f"{self.results}/scores/{dataset}/{method}.parquet"

    def score_shard_dir(self, dataset: str, method: str) -> str:
        return f"{self.results}/scores/{dataset}/{method}/shards"

    def score_shard(self, dataset: str, method: str, k: int | str) -> str:
        """One score shard (``k`` may be a wildcard pattern)."""
        return f"{self.score_shard_dir(dataset, method)}/{k}.parquet"

    # --- rankdata -------------------------------------------------------------------------
    def rankdata_dir(self, name: str) -> str:
        return f"{self.results}/rankdata/{name}"

    def rank_index(self, name: str) -> str:
        """The gathered rank index of one rank dataset."""
        return f"{self.rankdata_dir(name)}/index.parquet"

    def rankdata_shard_dir(self, name: str, dataset: str) -> str:
        return f"{self.rankdata_dir(name)}/shards/{dataset}"

    def rankdata_shard(self, name: str, dataset: str, k: int | str, images: bool = False) -> str:
        """One rank-data shard's patch rows, or (``images``) its per-image table."""
        suffix = ".images.parquet" if images else ".parquet"
        return f"{self.rankdata_shard_dir(name, dataset)}/{k}{suffix}"

    def rankdata_file(self, name: str, file: str) -> str:
        """``index.parquet``, ``images.parquet`` or ``stats.json`` of a rank dataset."""
        return f"{self.rankdata_dir(name)}/{file}"

    # --- ranker ---------------------------------------------------------------------------
    def ranker_dir(self, name: str) -> str:
        return f"{self.results}/ranker/{name}"

    def ranker_model(self, name: str) -> str:
        """A trained Ranker's weights (authors' key layout)."""
        return f"{self.ranker_dir(name)}/model.pth"

    def ranker_eval(self, name: str) -> str:
        return f"{self.ranker_dir(name)}/eval.parquet"

    # --- train ----------------------------------------------------------------------------
    def train_dir(self, preset: str) -> str:
        return f"{self.results}/train/{preset}"

    def train_generator(self, preset: str, variant: str | None = None) -> str:
        """Exported generator weights (authors' key layout) of a training preset;
        ``variant="ema"``: the generator's exponential moving average (``G_ema.pth``)."""
        stem = {None: "G", "ema": "G_ema"}[variant]
        return f"{self.train_dir(preset)}/{stem}.pth"

    def train_meta(self, preset: str) -> str:
        """``G.json`` beside the exported generator."""
        return f"{self.train_dir(preset)}/G.json"

    def train_patch_cache(self) -> str:
        """The training stage's decoded-patch cache (shared by every preset)."""
        return f"{self._cache()}/train_patches"

    def ranker_image_cache(self) -> str:
        """The Ranker stage's decode-once image cache (shared by every Ranker)."""
        return f"{self._cache()}/ranker_images"

    # --- report ---------------------------------------------------------------------------
    def report_page(self) -> str:
        return f"{self.results}/report/index.html"

    def report_markdown(self) -> str:
        """The page's Markdown twin."""
        return f"{self.results}/report/index.md"

    def logs(self) -> str:
        """Every job's log folder (``R/logs/<stage>/...``)."""
        return f"{self.results}/logs"

    def table_report(self, table: str) -> str:
        """The report page of one paper table's target (``snakemake ... tableN``)."""
        return f"{self.results}/report/tables/{table}/index.html"

    # --- cache ----------------------------------------------------------------------------
    def _cache(self) -> str:
        if self.cache is None:
            raise RankSRGANError("config key 'cache_dir' (missing key): needed for downloads")
        return self.cache

    def archive(self, name: str, kind: str) -> str:
        """A downloaded archive (``kind``: zip, tar, tar.gz ...)."""
        return self.archive_file(f"{name}.{kind}")

    def archive_file(self, file_name: str) -> str:
        """A downloaded archive by its file name (``{archive}.{type}``; may be a pattern)."""
        return f"{self._cache()}/archives/{file_name}"

    def metric_model(self, file_name: str) -> str:
        """A metric model file kept in the cache (e.g. the synthetic NRQM stand-in)."""
        return f"{self._cache()}/metric_models/{file_name}"

    def cached_weights(self, entry: dict[str, Any]) -> str:
        """Where a weights entry's file lives: its local ``path``, or ``C/weights/<URL file
        name>`` for a ``url`` entry (what the fetch command writes)."""
        if entry.get("path"):
            return str(entry["path"])
        url = entry.get("url")
        if not url:
            raise RankSRGANError(f"weights entry {sorted(entry)}: needs 'url' or 'path'")
        name = PurePosixPath(urllib.parse.urlparse(url).path).name
        if not name:
            raise RankSRGANError(f"{url}: URL has no file name")
        return f"{self._cache()}/weights/{name}"


def stage_targets(config: dict[str, Any]) -> dict[str, list[str]]:
    """Target paths of each stage for a config, as ``rule all`` collects them."""
    lay = Layout.of(config)
    sr = config.get("sr") or {}
    score = config.get("score") or {}
    train = config.get("train") or {}
    return {
        "data": [lay.data_manifest(d) for d in (config.get("data") or {}).get("datasets", [])],
        "sr": [
            lay.sr_manifest(m, d) for m in sr.get("methods", []) for d in sr.get("datasets", [])
        ],
        "score": [
            lay.score_table(d, m)
            for d in score.get("datasets", [])
            for m in score.get("methods", [])
        ],
        "rankdata": [
            f"{lay.rankdata_dir(n)}/{f}"
            for n in config.get("rankdata") or {}
            for f in RANKDATA_FILES
        ],
        "ranker": [
            f"{lay.ranker_dir(n)}/{f}"
            for n in config.get("ranker") or {}
            for f in RANKER_TARGET_FILES
        ],
        "train": [lay.train_generator(p) for p in train.get("targets", [])],
        "report": [lay.report_page()] if config.get("report") else [],
    }


def targets_of(stage: str) -> Callable[[dict[str, Any]], list[str]]:
    """A function config -> the targets of one stage (for the rule files' ``<stage>_targets``)."""

    def targets(config: dict[str, Any]) -> list[str]:
        return stage_targets(config)[stage]

    return targets
