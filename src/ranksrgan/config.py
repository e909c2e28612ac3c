"""Configuration validation with one-line errors naming the key and the file.

Used by ``workflow/rules/common.smk`` at DAG load. The schema (JSON Schema draft 7, YAML)
lives in ``workflow/schemas/config.schema.yaml`` and ships as package data
(``ranksrgan/schemas/config.schema.yaml`` is a link to it, a copy in a wheel:
`schema_file()`); every object sets ``additionalProperties: false`` so that a typo is an
error rather than a silent default. No code path uses a config without validating it: a
missing schema is an error, never a skip.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.contracts import HR
from ranksrgan.presets import rank_term_keys


def packaged_schema(name: str, what: str) -> Path:
    """A schema shipped with the package (``ranksrgan/schemas/<name>``: in a checkout a link
    to ``workflow/schemas/<name>``); one line when it is missing, since nothing is ever used
    unvalidated. ``what`` names what it validates, for that line."""
    path = Path(str(resources.files("ranksrgan") / "schemas" / name))
    if not path.is_file():
        raise RankSRGANError(
            f"{path}: {what} schema not found (broken install?); {what} is never used "
            "unvalidated"
        )
    return path


def schema_file() -> Path:
    """The config schema shipped with the package (the checkout's workflow/schemas file)."""
    return packaged_schema("config.schema.yaml", "the config")


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:
            parts.append(extra[0])
            return ".".join(parts) + " (unknown key)"
    if error.validator == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        if missing:
            parts.append(missing[0])
            return ".".join(parts) + " (missing key)"
    return ".".join(parts) or "<top level>"


# A config is a few thousand values; YAML aliases can make a small file expand into billions
# (nine levels of nine aliases), and jsonschema formats an instance into its messages. Both
# limits are checked before anything walks or formats the config.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 200_000


def _check_size(config: Any, source: str) -> None:
    """Refuse a config that expands to more than MAX_CONFIG_VALUES values (aliases counted at
    every use), walking at most that many nodes, whatever the expanded size."""
    count = 0
    stack = [config]
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise RankSRGANError(
                f"{source}: config expands to more than {MAX_CONFIG_VALUES:,} values "
                "(YAML aliases repeated at every level?); refused before validation"
            )
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)


def _error_order(error: jsonschema.ValidationError) -> tuple:
    # Never str(error): that pretty-prints the whole instance and schema (the message is
    # already formatted, and bounded once _check_size has passed).
    return (len(error.absolute_path), error.message[:200], [str(p) for p in error.absolute_path])


def _schema_errors(config: dict[str, Any], schema: dict[str, Any], source: str) -> None:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(config), key=_error_order)
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        message = err.message if len(err.message) < 200 else err.message[:200] + "..."
        raise RankSRGANError(f"{source}: config key '{_key_path(err)}': {message}")


def validate_config(
    config: dict[str, Any], schema_path: str | os.PathLike | None, source: str
) -> None:
    """Validate ``config`` against the YAML schema (None: the packaged one) and cross-check
    references; raise one line naming key and ``source``."""
    path = Path(schema_path) if schema_path is not None else schema_file()
    _check_size(config, source)
    _schema_errors(config, yaml.safe_load(path.read_text()), source)
    _check_references(config, source)
    _check_weight_name_hashes(config, source)


def _check_weight_name_hashes(config: dict[str, Any], source: str) -> None:
    """A weight file name's sha256 prefix (``vgg19-dcbb9e9d.pth``) must agree with its sha256."""
    for name, entry in (config.get("weights") or {}).items():
        m = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", entry.get("url") or "")
        want = (entry.get("sha256") or "").lower()
        if m and want and not (want.startswith(m.group(1)) or m.group(1).startswith(want)):
            raise RankSRGANError(
                f"{source}: config key 'weights.{name}.sha256': {want} disagrees with the hash "
                f"prefix {m.group(1)} in the file name"
            )


def _check_references(config: dict[str, Any], source: str) -> None:
    """Names that must refer to entries elsewhere in the config (the schema cannot say so)."""
    archives = config.get("archives", {})
    datasets = config.get("datasets", {})
    refs = [
        (f"datasets.{name}.archive", spec.get("archive"), archives, "archive")
        for name, spec in datasets.items()
    ]
    methods = config.get("methods", {})
    for section in ("data", "sr", "score"):
        refs += [
            (f"{section}.datasets[{i}]", name, datasets, "dataset")
            for i, name in enumerate(config.get(section, {}).get("datasets", []))
        ]
    refs += [
        (f"sr.methods[{i}]", name, methods, "method")
        for i, name in enumerate(config.get("sr", {}).get("methods", []))
    ]
    # Score rows may also be the pseudo-method HR (the reference images themselves).
    refs += [
        (f"score.methods[{i}]", name, {HR: None, **methods}, "method")
        for i, name in enumerate(config.get("score", {}).get("methods", []))
    ]
    refs += [
        (f"methods.{m}.weights", spec["weights"], config.get("weights", {}), "weights")
        for m, spec in methods.items()
        if isinstance(spec.get("weights"), str)
    ]
    refs += [  # a list of names: the first present one is used (weights_choice)
        (f"methods.{m}.weights[{i}]", w, config.get("weights", {}), "weights")
        for m, spec in methods.items()
        if isinstance(spec.get("weights"), list)
        for i, w in enumerate(spec["weights"])
    ]
    refs += _train_references(config, datasets)
    refs += _rankdata_references(config, datasets, methods)
    refs += _report_references(config, datasets, methods)
    for key, value, known, kind in refs:
        if value not in known:
            raise RankSRGANError(
                f"{source}: config key '{key}': unknown {kind} '{value}' "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
    _check_network_methods(config, source)
    _check_trained_methods(config, source)
    _check_rankdata(config, source)
    _check_stage_rankers(config, source)
    _check_score_models(config, source)
    _check_vgg19(config, source)
    _check_metric_names(config.get("score", {}).get("metrics", []), source)


def _report_references(
    config: dict[str, Any], datasets: dict[str, Any], methods: dict[str, Any]
) -> list[tuple]:
    """Names the report section maps paper rows and datasets to, and those paper labels
    themselves (rows and datasets of ``report.paper_results``): a typo would read "not run".
    ``report.tables.<table>.<section>`` likewise: ``<table>`` a table of the paper results,
    its labels rows of that table, its methods our methods."""
    rep = config.get("report") or {}
    presets = (config.get("train") or {}).get("presets", {})
    refs: list[tuple] = [
        (f"report.datasets.{k}.dataset", v["dataset"], datasets, "dataset")
        for k, v in (rep.get("datasets") or {}).items()
    ]
    per_table = rep.get("tables") or {}
    for prefix, section in [("report.methods", rep.get("methods"))] + [
        (f"report.tables.{t}.methods", (over or {}).get("methods"))
        for t, over in per_table.items()
    ]:
        refs += [(f"{prefix}.{k}", v, {HR: None, **methods}, "method")
                 for k, v in (section or {}).items()]
    refs += [
        (f"report.curves.{k}", v, presets, "train preset")
        for k, v in (rep.get("curves") or {}).items()
    ]
    if (rep.get("crops") or {}).get("dataset"):
        refs.append(("report.crops.dataset", rep["crops"]["dataset"], datasets, "dataset"))
    mini = rep.get("mini_study") or {}
    if mini:
        # the study reads score Parquets: its dataset and arms must be scored, not just defined
        score = config.get("score") or {}
        scored = dict.fromkeys(score.get("methods", []))
        refs.append(("report.mini_study.dataset", mini["dataset"],
                     dict.fromkeys(score.get("datasets", [])), "score dataset"))
        if mini.get("ranker"):
            refs.append(("report.mini_study.ranker", mini["ranker"],
                         config.get("ranker") or {}, "ranker"))
        for i, pair in enumerate(mini["seeds"]):
            refs += [(f"report.mini_study.seeds[{i}].{arm}", pair[arm], scored, "scored method")
                     for arm in ("srgan", "ranksrgan")]
    if rep.get("paper_results"):
        # The mapping's keys are labels of the paper's tables: a typo (RankSRGAN-n, VGG12)
        # matches no row and reads "not run" in every cell. Checked against the published
        # numbers themselves (schema-validated on load; torch- and pandas-free).
        from ranksrgan.paper_results import load, mapping_labels, resolve_path, table_labels

        paper = rep["paper_results"]
        path = resolve_path(paper)
        if not path.is_file():
            raise RankSRGANError(
                f"{paper}: paper results file not found (config key 'report.paper_results')"
            )
        data = load(path)
        labels = mapping_labels(data)
        what = {"datasets": "dataset of a score table", "methods": "row of a score table",
                "rankers": "row of a Ranker table (SROCC, E|SR1-SR2|)",
                "rankdata": "row of a rank-dataset table (Data size (k))"}
        for section, kind in what.items():
            known = dict.fromkeys(labels[section])
            refs += [(f"report.{section}.{k}", k, known, f"{kind} in {paper}")
                     for k in (rep.get(section) or {})]
        tables = data["tables"]
        for t, over in per_table.items():
            refs.append((f"report.tables.{t}", t, tables, f"table of {paper}"))
            if t not in tables:
                continue
            rows = table_labels(tables[t])
            for section, kind in what.items():
                if section == "datasets":
                    continue
                known = dict.fromkeys(rows[section])
                refs += [(f"report.tables.{t}.{section}.{k}", k, known,
                          f"{kind} of {t} in {paper}") for k in ((over or {}).get(section) or {})]
    return refs


def _train_references(config: dict[str, Any], datasets: dict[str, Any]) -> list[tuple]:
    """(key, value, known, kind) for every name the train section and methods refer to.

    Checked at DAG load so that a typo stops with one line instead of Snakemake's
    ``MissingInputException`` (or a failure after hours of training).
    """
    train = config.get("train", {})
    presets = train.get("presets", {})
    refs: list[tuple] = [
        (f"train.targets[{i}]", name, presets, "train preset")
        for i, name in enumerate(train.get("targets", []))
    ]
    refs += [
        (f"methods.{m}.train_preset", spec["train_preset"], presets, "train preset")
        for m, spec in config.get("methods", {}).items()
        if "train_preset" in spec
    ]
    rankers = config.get("ranker", {})
    for name, preset in presets.items():
        if preset.get("extends") is not None:
            refs.append((f"train.presets.{name}.extends", preset["extends"], presets, "preset"))
        if preset.get("init") is not None:
            refs.append((f"train.presets.{name}.init", preset["init"], presets, "preset"))
        data = preset.get("data") or {}
        refs += [
            (f"train.presets.{name}.data.train[{i}]", d, datasets, "dataset")
            for i, d in enumerate(data.get("train") or [])
        ]
        if data.get("val"):
            refs.append((f"train.presets.{name}.data.val", data["val"], datasets, "dataset"))
        for key, term in rank_term_keys(preset):
            ranker = term.get("ranker") or {}
            # a preset that `extends` may name only the Ranker (the source is inherited)
            if ranker.get("source", "stage") == "stage" and "name" in ranker:
                refs.append(
                    (f"train.presets.{name}.{key}.ranker.name", ranker.get("name"),
                     rankers, "ranker")
                )
    refs += [
        (f"ranker.{name}.rankdata", spec.get("rankdata"), config.get("rankdata") or {},
         "rank dataset")
        for name, spec in rankers.items()
    ]
    return refs


def _check_stage_rankers(config: dict[str, Any], source: str) -> None:
    """A preset's stage Ranker must be built as the preset says (arch and options).

    Only the preset's own keys are compared (``extends`` chains are resolved by the train
    stage, which also checks the loaded weights strictly).
    """
    rankers = config.get("ranker") or {}
    for name, preset in ((config.get("train") or {}).get("presets") or {}).items():
        for rank_key, term in rank_term_keys(preset):
            spec = term.get("ranker") or {}
            stage = spec.get("source", "stage") == "stage"
            built = rankers.get(spec.get("name")) if stage else None
            if built is None:
                continue
            key = f"train.presets.{name}.{rank_key}.ranker"
            if "arch" in spec and spec["arch"] != built["arch"]:
                raise RankSRGANError(
                    f"{source}: config key '{key}.arch': {spec['arch']}, but ranker.{spec['name']} "
                    f"trains {built['arch']}"
                )
            if "options" in spec and spec["options"] != built.get("arch_options", {}):
                raise RankSRGANError(
                    f"{source}: config key '{key}.options': {spec['options']}, but "
                    f"ranker.{spec['name']}.arch_options is {built.get('arch_options', {})}"
                )


def _rankdata_references(
    config: dict[str, Any], datasets: dict[str, Any], methods: dict[str, Any]
) -> list[tuple]:
    """(key, value, known, kind) for the sources and level methods of each rank dataset."""
    refs: list[tuple] = []
    for name, spec in (config.get("rankdata") or {}).items():
        refs += [
            (f"rankdata.{name}.sources[{i}]", d, datasets, "dataset")
            for i, d in enumerate(spec.get("sources", []))
        ]
        # A level may be the pseudo-method HR (the data stage's HR image, RankSRGAN-HR).
        refs += [
            (f"rankdata.{name}.methods[{i}]", m, {HR: None, **methods}, "method")
            for i, m in enumerate(spec.get("methods", []))
        ]
    return refs


# Smallest patch side each rank-dataset metric accepts: NIQE's 96 px block (+ the labels'
# 4 px shave on each side), NRQM's 64 px (ranksrgan.metrics; kept here torch-free).
_RANKDATA_MIN_SIZE = {"niqe": 96 + 8, "pi": 96 + 8, "ma": 64 + 8, "niqe_gap": 96}


def _check_rankdata(config: dict[str, Any], source: str) -> None:
    """Rank datasets: distinct levels, a metric model for Ma/PI, patches the metrics accept."""
    for name, spec in (config.get("rankdata") or {}).items():
        key = f"rankdata.{name}"
        methods = spec.get("methods", [])
        if len(set(methods)) != len(methods):
            raise RankSRGANError(f"{source}: config key '{key}.methods': a method repeats")
        metric, size = spec.get("metric"), spec.get("size", 0)
        if metric in ("ma", "pi") and not (config.get("metric_models") or {}).get("nrqm"):
            raise RankSRGANError(
                f"{source}: config key 'metric_models.nrqm' (missing key): "
                f"{key}.metric {metric} needs the NRQM model"
            )
        need = _RANKDATA_MIN_SIZE.get(metric, 1)
        if (spec.get("selection") or {}).get("niqe_gap_min") is not None:
            need = max(need, _RANKDATA_MIN_SIZE["niqe_gap"])
        if size < need:
            raise RankSRGANError(
                f"{source}: config key '{key}.size': {size} px is below the {need} px "
                f"the {metric} label (and NIQE-distance rule) needs"
            )


def method_network(config: dict[str, Any], method: str) -> tuple[str, dict[str, Any]]:
    """(arch, arch options) a network method runs: its own ``arch`` / ``arch_options``, or,
    when it has a ``train_preset`` and leaves them out, the preset's generator (one statement
    of the network: the preset's)."""
    from ranksrgan.presets import resolve_preset

    spec = config["methods"][method]
    arch, options = spec.get("arch"), spec.get("arch_options")
    if (arch is None or options is None) and spec.get("train_preset"):
        presets = (config.get("train") or {}).get("presets") or {}
        gen = resolve_preset(presets, spec["train_preset"]).get("generator") or {}
        arch = arch if arch is not None else gen.get("arch")
        options = options if options is not None else gen.get("options", {})
    if arch is None:
        raise RankSRGANError(f"config key 'methods.{method}.arch' (missing key)")
    return arch, dict(options or {})


def _check_network_methods(config: dict[str, Any], source: str) -> None:
    """A network method names weights or a train preset, and an arch (its own or its
    preset's generator): decided when the config loads, not when a job needs it."""
    presets = (config.get("train") or {}).get("presets") or {}
    for m, spec in (config.get("methods") or {}).items():
        if spec["kind"] != "network":
            continue
        if "weights" not in spec and "train_preset" not in spec:
            raise RankSRGANError(
                f"{source}: config key 'methods.{m}': give 'weights' or 'train_preset' (or both)"
            )
        if spec.get("weights_variant") == "ema":
            from ranksrgan.presets import resolve_preset

            preset = spec.get("train_preset")
            if preset not in presets or not resolve_preset(presets, preset).get("ema_decay"):
                raise RankSRGANError(
                    f"{source}: config key 'methods.{m}.weights_variant': ema needs a "
                    f"train_preset with ema_decay > 0 (train.presets.{preset}.ema_decay)"
                )
        if "arch" not in spec and spec.get("train_preset") not in presets:
            raise RankSRGANError(
                f"{source}: config key 'methods.{m}.arch' (missing key): needed unless the "
                "method's train_preset names the generator"
            )


def _check_score_models(config: dict[str, Any], source: str) -> None:
    """Ma / PI scores need the NRQM model."""
    metrics = set((config.get("score") or {}).get("metrics", []))
    if {"ma", "nrqm", "pi"} & metrics and not (config.get("metric_models") or {}).get("nrqm"):
        raise RankSRGANError(
            f"{source}: config key 'metric_models.nrqm' (missing key): ma/pi need the NRQM model"
        )


def _check_vgg19(config: dict[str, Any], source: str) -> None:
    """A preset whose perceptual loss uses ImageNet VGG19 needs ``weights.vgg19``."""
    from ranksrgan.presets import needs_vgg19

    presets = (config.get("train") or {}).get("presets") or {}
    if (config.get("weights") or {}).get("vgg19") is not None:
        return
    for name in presets:
        if needs_vgg19(presets, name):
            raise RankSRGANError(
                f"{source}: config key 'weights.vgg19' (missing key): needed by "
                f"train.presets.{name}.losses.perceptual.weights: vgg19"
            )


def _check_trained_methods(config: dict[str, Any], source: str) -> None:
    """A trained method must build the network its preset trains (else sr fails late)."""
    presets = config.get("train", {}).get("presets", {})
    if not presets:
        return
    from ranksrgan.presets import resolve_preset

    for m, spec in config.get("methods", {}).items():
        if "train_preset" not in spec or spec["train_preset"] not in presets:
            continue
        gen = resolve_preset(presets, spec["train_preset"]).get("generator") or {}
        for key, preset_key in (("arch", "arch"), ("arch_options", "options")):
            want = gen.get(preset_key)
            if key not in spec:
                continue  # left out: taken from the preset (method_network)
            have = spec[key]
            if want is not None and have != want:
                raise RankSRGANError(
                    f"{source}: config key 'methods.{m}.{key}': {have} differs from "
                    f"train.presets.{spec['train_preset']}.generator.{preset_key} = {want}"
                )


BUILTIN_METRICS = ("niqe", "ma", "nrqm", "pi", "psnr", "ssim")


def _check_metric_names(names: list[str], source: str) -> None:
    """Metric names must be built in or pyiqa's (pyiqa is imported only for other names)."""
    others = [n for n in names if n.lower() not in BUILTIN_METRICS]
    if not others:
        return
    try:
        import pyiqa

        known = set(pyiqa.list_models())
    except ImportError:
        known = set()
    for i, name in enumerate(names):
        if name in others and name not in known:
            raise RankSRGANError(
                f"{source}: config key 'score.metrics[{i}]': unknown metric '{name}' "
                f"(built in: {', '.join(BUILTIN_METRICS)}; or a pyiqa metric name)"
            )


def weights_present(entry: dict[str, Any]) -> bool:
    """Whether a weights entry can be had: a URL (downloadable) or an existing local ``path``."""
    return bool(entry.get("url")) or Path(str(entry.get("path") or "")).is_file()


def weights_absent_message(name: str | None, entry: dict[str, Any]) -> str:
    """One line for a local weights file that is not there: where to put it and what it is."""
    what = entry.get("description") or "a weights file"
    how = entry.get("obtain")
    label = f"weights '{name}'" if name else "weights"
    return f"{label}: {entry.get('path')} not found ({what}); " + (
        f"{how}, and save it at that path" if how else "put the file at that path"
    )


def weights_choice(
    config: dict[str, Any], method: str
) -> tuple[str | None, dict[str, Any] | None]:
    """The weights a network method uses now: ``(registry name or None, entry)``.

    ``methods.<m>.weights`` is a registry name, an inline entry, or a list of names of which
    the first present one (a URL, or a ``path`` that exists) is taken. When none is present,
    a method with a ``train_preset`` falls back to the training stage's ``G.pth`` and this
    returns ``(None, None)``; without one it raises the first entry's
    :func:`weights_absent_message`. Decided when the DAG loads, so an absent challenge
    model keeps the DAG plannable with the next choice.
    """
    import logging

    spec = config["methods"][method]
    w = spec.get("weights")
    registry = config.get("weights") or {}
    if w is None:
        return None, None
    choices: list[tuple[str | None, dict[str, Any]]]
    if isinstance(w, dict):
        choices = [(None, w)]
    else:
        choices = [(n, registry[n]) for n in ([w] if isinstance(w, str) else w)]
    for i, (n, entry) in enumerate(choices):
        if weights_present(entry):
            if i:
                logging.getLogger(__name__).warning(
                    "method %s: using weights '%s' (%s)",
                    method,
                    n,
                    weights_absent_message(*choices[0]),
                )
            return n, entry
    if spec.get("train_preset"):
        logging.getLogger(__name__).warning(
            "method %s: training preset %s (%s)",
            method,
            spec["train_preset"],
            weights_absent_message(*choices[0]),
        )
        return None, None
    raise RankSRGANError(f"method {method}: {weights_absent_message(*choices[0])}")


def validate_train_section(train: dict[str, Any], source: str) -> None:
    """Validate a ``train`` section alone against the schema's ``train`` part (one line naming
    the key): what a job gets as a resolved preset, the rest of the config left out."""
    schema = dict(yaml.safe_load(schema_file().read_text()))
    schema["required"] = []  # only `train` is there; its own required keys still apply
    _schema_errors({"train": train}, schema, source)


def load_config(
    path: str | os.PathLike, schema_path: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Read a YAML config file and validate it (``schema_path`` None: the packaged schema)."""
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: config file not found")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise RankSRGANError(
            f"{p}: config file is {p.stat().st_size:,} bytes, more than the "
            f"{MAX_CONFIG_BYTES:,} a config may have"
        )
    try:
        config = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RankSRGANError(f"{p}: invalid YAML ({exc})") from None
    validate_config(config, schema_path, str(p))
    return config
