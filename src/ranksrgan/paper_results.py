"""The paper's published numbers (``config/paper_results.yaml``): loading and checking.

Torch- and pandas-free (YAML + JSON Schema only), because config validation uses it at DAG
load: the config's ``report`` section maps paper row labels to our runs, and a label that is
not a row of these tables would silently read "not run" in every cell of that row. The
schema lives in ``workflow/schemas/paper_results.schema.yaml`` and ships as package data
(``ranksrgan/schemas/paper_results.schema.yaml`` is a link to it, like the config schema).
Every error is one line naming the file and the key path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ranksrgan.errors import RankSRGANError

# Paper metric -> our score metric (10-Ma is derived per image from Ma by the report).
SCORE_METRICS = {"NIQE": "niqe", "PI": "pi", "PSNR": "psnr", "10-Ma": "10-ma", "SSIM": "ssim"}
# Metrics a Ranker's evaluation fills (SROCC vs label, Table 5's output distance).
RANKER_METRICS = ("SROCC", "E|SR1-SR2|")
# Metrics a Ranker's own files fill besides its evaluation (eval_summary.json / model.json).
RANKER_PARAM_METRICS = ("Params (K)",)
# Metrics a rank dataset's index fills (its size, supplement Table 1).
RANKDATA_METRICS = ("Data size (k)",)
# The config's report section -> the metrics its labels' rows must have to be filled at all.
MAPPING_METRICS: dict[str, tuple[str, ...]] = {
    "methods": tuple(SCORE_METRICS),
    "rankers": (*RANKER_METRICS, *RANKER_PARAM_METRICS),
    "rankdata": RANKDATA_METRICS,
}


def schema_file() -> Path:
    """The paper-results schema shipped with the package (the checkout's workflow/schemas file)."""
    from ranksrgan.config import packaged_schema

    return packaged_schema("paper_results.schema.yaml", "the paper results")


def resolve_path(value: str | os.PathLike) -> Path:
    """Where a config's ``report.paper_results`` file is.

    Relative to the working directory, as the report rule reads it. When it is not there
    (a run with ``--directory`` elsewhere that plans only some stages), the checkout this
    package was imported from is tried, so that the config's labels are still checked
    against the same published numbers; the report rule itself still needs the file in its
    working directory.
    """
    p = Path(value)
    if p.is_absolute() or p.is_file():
        return p
    checkout = Path(__file__).resolve().parents[2] / p  # src/ranksrgan/ -> the checkout
    return checkout if checkout.is_file() else p


def _key_path(error: jsonschema.ValidationError) -> str:
    """Dotted key of a schema error (list items as ``[i]``), naming an unknown/missing key."""
    key = ""
    for part in error.absolute_path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    extra = ""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        unknown = sorted(map(str, set(error.instance) - set(error.schema.get("properties", {}))))
        extra = f".{unknown[0]} (unknown key)" if unknown else ""
    elif error.validator == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        extra = f".{missing[0]} (missing key)" if missing else ""
    if extra:
        return (key + extra) if key else extra[1:]
    return key or "<top level>"


def _message(error: jsonschema.ValidationError) -> str:
    """The schema's message, cut short: a wrong-typed table would print the whole table."""
    if error.validator == "type":
        got = repr(error.instance)
        got = got if len(got) <= 60 else got[:57] + "..."
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"expected {'an' if want[0] in 'aeiou' else 'a'} {want}, got {got}"
    msg = error.message
    return msg if len(msg) <= 200 else msg[:200] + "..."


def _check_dataset_keys(tables: Any, src: str) -> None:
    """Exactly one of ``dataset`` / ``datasets`` per table (it decides how rows nest), and
    ``dataset`` for a table without published values."""
    if not isinstance(tables, dict):
        return
    for name, t in tables.items():
        if isinstance(t, dict) and ("dataset" in t) == ("datasets" in t):
            raise RankSRGANError(
                f"{src}: key 'tables.{name}': give exactly one of dataset (every row's test "
                "set) and datasets (rows nest dataset -> metric -> value)"
            )
        if isinstance(t, dict) and t.get("published") is False and "datasets" in t:
            raise RankSRGANError(
                f"{src}: key 'tables.{name}.datasets': a table with published: false takes "
                "one test set (dataset)"
            )


def is_published(table: dict[str, Any]) -> bool:
    """Whether a table holds the paper's numbers (``published: false``: rows we run beyond
    the paper, every value null, the paper column reads "—")."""
    return table.get("published", True) is not False


def _check_published(tables: Any, src: str) -> None:
    """A null value only in a ``published: false`` table, and such a table holds only nulls:
    a number there would read as the paper's, a null elsewhere would hide a missing value."""
    if not isinstance(tables, dict):
        return
    for name, t in tables.items():
        if not isinstance(t, dict) or not isinstance(t.get("rows"), dict):
            continue
        if not isinstance(t.get("published", True), bool):
            continue  # the schema names that key
        published = is_published(t)
        for row, vals in t["rows"].items():
            if not isinstance(vals, dict):
                continue
            for metric, v in vals.items():
                key = f"{src}: key 'tables.{name}.rows.{row}.{metric}'"
                if v is None and published:
                    raise RankSRGANError(
                        f"{key}: null (no published value) needs published: false on "
                        f"tables.{name}"
                    )
                if v is not None and not published and not isinstance(v, dict):
                    raise RankSRGANError(
                        f"{key}: tables.{name} has published: false: its values are null "
                        f"(the paper has none), got {v!r}"
                    )


def validate(data: Any, src: str, schema_path: str | os.PathLike | None = None) -> None:
    """Check parsed paper results against the schema and across keys; one line naming ``src``
    and the key path on the first problem."""
    schema = yaml.safe_load(Path(schema_path or schema_file()).read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(data))
    if errors:
        if isinstance(data, dict):
            _check_dataset_keys(data.get("tables"), src)  # explains the rows' shape errors
            _check_published(data.get("tables"), src)
        err = jsonschema.exceptions.best_match(errors)
        raise RankSRGANError(f"{src}: key '{_key_path(err)}': {_message(err)}")
    _check_dataset_keys(data["tables"], src)
    _check_published(data["tables"], src)
    better = data["better"]
    for name, t in data["tables"].items():
        where = f"{src}: key 'tables.{name}"
        for i, metric in enumerate(t["metrics"]):
            if metric not in better:
                raise RankSRGANError(
                    f"{where}.metrics[{i}]': metric '{metric}' has no entry in better "
                    f"(known: {', '.join(sorted(better))})"
                )
        datasets = t.get("datasets")
        for row, vals in t["rows"].items():
            per_ds = vals if datasets else {None: vals}
            for ds, mvals in per_ds.items():
                key = f"{where}.rows.{row}" + (f".{ds}" if ds is not None else "")
                if datasets and ds not in datasets:
                    raise RankSRGANError(
                        f"{key}': dataset '{ds}' is not in tables.{name}.datasets "
                        f"({', '.join(datasets)})"
                    )
                for metric, v in mvals.items():
                    if metric not in t["metrics"]:
                        raise RankSRGANError(
                            f"{key}.{metric}': metric '{metric}' is not in tables.{name}.metrics "
                            f"({', '.join(t['metrics'])})"
                        )
                    if v is not None and not math.isfinite(v):
                        raise RankSRGANError(f"{key}.{metric}': {v} is not a finite number")
        for row in t.get("row_notes") or {}:
            if row not in t["rows"]:
                raise RankSRGANError(
                    f"{where}.row_notes.{row}': '{row}' is not a row of tables.{name}.rows"
                )


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a paper-results file; the parsed mapping (one-line errors naming it)."""
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: paper results file not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise RankSRGANError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RankSRGANError(f"{p}: cannot read paper results ({exc})") from None
    validate({} if data is None else data, str(p))
    return data


def row_datasets(table: dict[str, Any]) -> list[str]:
    """The datasets a table's rows are on (``datasets``, or the one ``dataset``)."""
    return list(table["datasets"]) if table.get("datasets") else [table["dataset"]]


def table_labels(table: dict[str, Any]) -> dict[str, list[str]]:
    """Row labels of one table that each mapping section may use (``methods``, ``rankers``,
    ``rankdata``): all its rows where it has a metric that section fills, else none
    (:data:`MAPPING_METRICS`); what ``report.tables.<table>.<section>`` is checked against."""
    metrics = set(table["metrics"])
    rows = [str(r) for r in table["rows"]]
    return {s: (rows if metrics & set(fills) else []) for s, fills in MAPPING_METRICS.items()}


def mapping_labels(data: dict[str, Any]) -> dict[str, list[str]]:
    """Labels each mapping of the config's ``report`` section may use, in the paper's order.

    ``datasets``: the datasets of tables with a score metric; ``methods`` / ``rankers`` /
    ``rankdata``: the rows of tables that have a metric that section fills
    (:data:`MAPPING_METRICS`): a label elsewhere would fill no cell.
    """
    out: dict[str, list[str]] = {"datasets": [], **{k: [] for k in MAPPING_METRICS}}
    for t in data["tables"].values():
        metrics = set(t["metrics"])
        for section, fills in MAPPING_METRICS.items():
            if metrics & set(fills):
                out[section] += [str(r) for r in t["rows"]]
                if section == "methods":
                    out["datasets"] += row_datasets(t)
    return {k: list(dict.fromkeys(v)) for k, v in out.items()}
