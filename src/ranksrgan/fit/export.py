"""Exported weights and the metadata file beside them.

``export_weights`` writes a plain fp32 CPU state dict (the authors' key layout: the module's
own names) atomically and byte-for-byte reproducibly: identical states give identical files, so
the ``weights_sha256`` recorded downstream is stable and Snakemake/DVC see no change for an
identical rerun (:func:`ranksrgan.io.save_torch_atomic` serialises under a fixed archive name).

The metadata file is a JSON sibling with the same stem (``G.pth`` -> ``G.json``,
``model.pth`` -> ``model.json``): which network, which options, the stand-in note, the weights'
sha256. The sr stage reads it with :func:`read_metadata`; a trainer that starts from or uses
another trainer's weights reads its stand-in reasons with :func:`metadata_labels`.

The stand-in is recorded in the one encoding of :mod:`ranksrgan.io.contracts`: key
``stand_in``, a note string (``""`` = not a stand-in, else the reasons joined with ``"; "``).
:func:`write_metadata` makes it so whatever the caller hands it: a ``labels`` list (the GAN
trainer's) is folded into that note and not written on its own.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import save_torch_atomic, sha256_file, write_bytes_atomic
from ranksrgan.io.contracts import STAND_IN, stand_in_labels, stand_in_note, stand_in_of


def plain_state(model: nn.Module | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict as detached, contiguous CPU tensors (floating point as fp32)."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    return {
        k: v.detach().to("cpu", torch.float32).contiguous()
        if v.is_floating_point()
        else v.detach().cpu().contiguous()
        for k, v in state.items()
    }


def export_weights(model: nn.Module | dict[str, torch.Tensor], path: str | os.PathLike) -> str:
    """Write ``model``'s plain state dict to ``path`` atomically; return the file's sha256."""
    save_torch_atomic(plain_state(model), path)
    return sha256_file(path)


def metadata_path(weights: str | os.PathLike) -> Path:
    """The metadata file beside ``weights`` (same stem, ``.json``)."""
    return Path(weights).with_suffix(".json")


def json_safe(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> null (strict JSON readers reject ``NaN``), tuples -> lists,
    keys -> str. Every JSON file a trainer writes goes through it (G.json, model.json,
    eval_summary.json): a metric undefined on a run (an SROCC without validation rows, a NIQE
    of a flat image) is ``null``, never the non-standard ``NaN`` token."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_bytes(obj: Any) -> bytes:
    """``obj`` as indented, strict JSON (:func:`json_safe` first; other types as ``str``)."""
    return json.dumps(json_safe(obj), indent=2, default=str, allow_nan=False).encode()


def stand_in_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with its stand-in in the one encoding: ``stand_in`` the note string.

    A ``labels`` list (reasons) is folded into the note, in the place of ``stand_in`` (or of
    ``labels`` when there is no ``stand_in``), and dropped. A ``stand_in`` that is not a
    string may only be the old flag beside its labels, or False / None (no stand-in): True
    without a reason is refused (ValueError: a note needs the reason).
    """
    if STAND_IN not in meta and "labels" not in meta:
        return dict(meta)
    flag, labels = meta.get(STAND_IN), meta.get("labels")
    if labels is not None and not isinstance(labels, list | tuple):
        raise ValueError(f"metadata labels must be a list of reasons, got {labels!r}")
    note = stand_in_note([flag, *(labels or ())])
    if flag is True and not note:
        raise ValueError("metadata stand_in is True but names no reason (pass the note)")
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if k in (STAND_IN, "labels"):
            out.setdefault(STAND_IN, note)
        else:
            out[k] = v
    return out


def write_metadata(weights: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write ``meta`` as indented strict JSON beside ``weights``, atomically; return its path.
    The stand-in goes in the one encoding (:func:`stand_in_metadata`)."""
    path = metadata_path(weights)
    write_bytes_atomic(path, json_bytes(stand_in_metadata(meta)))
    return path


def read_metadata(weights: str | os.PathLike) -> dict[str, Any] | None:
    """The metadata beside ``weights``, or None when there is none (one-line error if broken)."""
    path = metadata_path(weights)
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RankSRGANError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise RankSRGANError(f"{path}: expected a JSON object")
    return meta


def metadata_labels(weights: str | os.PathLike | None) -> list[str]:
    """The stand-in reasons recorded beside ``weights``: its ``stand_in`` note split into
    them ([] when it is not a stand-in or has no metadata file)."""
    if weights is None:
        return []
    meta = read_metadata(weights) or {}
    return stand_in_labels(stand_in_of(meta.get(STAND_IN), metadata_path(weights)))


def load_plain_state(model: nn.Module, path: str | os.PathLike, what: str) -> None:
    """Load a plain state dict file (authors' key layout) into ``model``, strictly."""
    if not Path(path).is_file():
        raise RankSRGANError(f"{path}: {what} weights not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (foreign or torn file: name it)
        raise RankSRGANError(f"{path}: unreadable {what} weights ({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise RankSRGANError(f"{path}: {what} weights are not a state dict")
    for k, v in state.items():
        if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all():
            raise RankSRGANError(f"{path}: {what} weights hold non-finite values ({k})")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        first = lines[1] if len(lines) > 1 else lines[0]
        raise RankSRGANError(
            f"{path}: does not match the {what} architecture ({first.strip()})"
        ) from None
