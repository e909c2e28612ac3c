"""Load a state dict file into a network: safe unpickling, sha256 check, layout mapping.

``torch.load(..., weights_only=True)`` never runs code from the file: a pickle that tries
to is refused with one line ("contains pickled code, refused (not loaded)" and what it
references). A file holding NaN or infinite values is refused too, naming the first such
tensor: loaded, it would give black images (NaN maps to 0 in uint8) and exit 0. Every
mismatch (keys, shapes) is one line naming the file and the first offending keys.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch
from torch import nn

from ranksrgan.errors import RankSRGANError
from ranksrgan.weights.fetch import verify_sha256
from ranksrgan.weights.layouts import LAYOUTS, NESTING_KEYS, map_keys

_OPTIONAL = ("num_batches_tracked",)  # BN counters absent from pre-0.4.1 files; not weights


def read_state_dict(path: str | os.PathLike, param_key: str = "auto") -> dict[str, torch.Tensor]:
    """Read a plain tensor state dict (unwrapping ``params_ema``/``params``/... and ``module.``)."""
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: weights file not found")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if _looks_pickled(p):
            raise RankSRGANError(
                f"{p}: contains pickled code, refused (not loaded): {_unpickling_reason(str(exc))}"
            ) from None
        # Anything else (an HTML error page, random bytes) fails as a pickle opcode too.
        raise RankSRGANError(
            f"{p}: not a readable PyTorch weights file, truncated or corrupt "
            f"(starts with {p.read_bytes()[:8]!r})"
        ) from None
    except Exception as exc:  # noqa: BLE001  (RuntimeError, EOFError, KeyError, zip errors...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise RankSRGANError(
            f"{p}: not a readable PyTorch weights file, truncated or corrupt "
            f"({type(exc).__name__}: {first[:120]})"
        ) from None
    if not isinstance(obj, dict):
        raise RankSRGANError(f"{p}: expected a dict of tensors, got {type(obj).__name__}")
    if param_key != "auto":
        if param_key not in obj:
            raise RankSRGANError(f"{p}: no '{param_key}' entry (has {sorted(obj)[:5]})")
        obj = obj[param_key]
    else:
        for key in NESTING_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors or len(tensors) != len(obj):
        bad = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
        raise RankSRGANError(f"{p}: not a state dict of tensors (entry '{bad}')")
    if all(k.startswith("module.") for k in tensors):  # saved from DataParallel
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    check_finite(tensors, str(p))
    return tensors


def check_finite(tensors: dict[str, torch.Tensor], source: str) -> None:
    """Raise naming ``source`` and the first tensor (file order) holding NaN or +-inf values."""
    for key, v in tensors.items():
        if (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all()):
            bad = v.numel() - int(torch.isfinite(v).sum())
            kinds = "NaN" if bool(torch.isnan(v).any()) else "infinite"
            if kinds == "NaN" and bool(torch.isinf(v).any()):
                kinds = "NaN and infinite"
            raise RankSRGANError(
                f"{source}: non-finite weights, refused (not loaded): tensor '{key}' has "
                f"{bad} {kinds} value(s) of {v.numel()} (a diverged run or an fp16 overflow?)"
            )


def _looks_pickled(path: Path) -> bool:
    """A torch zip file, or a pickle stream of protocol 2 or later (the legacy format)."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    return head == b"PK" or (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def _unpickling_reason(text: str) -> str:
    """The short reason in torch's long weights_only refusal (which global, which opcode)."""
    if m := re.search(r"GLOBAL ([\w.]+)", text):
        return f"it references {m.group(1)}, which is not a tensor or a plain container"
    if m := re.search(r"[Uu]nsupported operand (\S+)", text):
        return f"pickle opcode {m.group(1)} is not allowed for weights"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    detail = next((ln.split("error:", 1)[1].strip() for ln in lines if "error:" in ln), "")
    return (detail or (lines[-1] if lines else "unsupported pickle content"))[:120]


def _mismatch(
    src: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]
) -> tuple[list[str], list[str]]:
    missing = [k for k in ours if k not in src and not k.endswith(_OPTIONAL)]
    unexpected = [k for k in src if k not in ours]
    return missing, unexpected


def convert_state_dict(
    state: dict[str, torch.Tensor],
    model: nn.Module,
    layout: str = "auto",
    source: str = "<state dict>",
) -> tuple[dict[str, torch.Tensor], str]:
    """Rename ``state`` into ``model``'s keys; return ``(mapped, layout_used)``.

    ``layout="auto"`` tries every known layout and takes the one whose keys match exactly.
    """
    ours = model.state_dict()
    if layout != "auto" and layout not in LAYOUTS:
        raise RankSRGANError(
            f"{source}: unknown weights layout '{layout}' (known: auto, {', '.join(LAYOUTS)})"
        )
    candidates = list(LAYOUTS) if layout == "auto" else [layout]
    best = None
    for name in candidates:
        names = map_keys(list(state), name)
        mapped = {names[k]: v for k, v in state.items()}
        if len(mapped) != len(state):
            continue  # two source keys collapsed onto one: not this layout
        missing, unexpected = _mismatch(mapped, ours)
        if not missing and not unexpected:
            for k, v in mapped.items():
                if v.shape != ours[k].shape:
                    raise RankSRGANError(
                        f"{source}: shape mismatch at '{k}' (layout {name}): "
                        f"file {tuple(v.shape)}, model {tuple(ours[k].shape)}"
                    )
            return mapped, name
        score = len(missing) + len(unexpected)
        if best is None or score < best[0]:
            best = (score, name, missing, unexpected)
    assert best is not None  # LAYOUTS is never empty
    _, name, missing, unexpected = best
    raise RankSRGANError(
        f"{source}: keys do not match {type(model).__name__} (closest layout '{name}'): "
        f"{len(missing)} missing e.g. {missing[:3]}, "
        f"{len(unexpected)} unexpected e.g. {unexpected[:3]}"
    )


def load(
    model: nn.Module,
    path: str | os.PathLike,
    layout: str = "auto",
    sha256: str | None = None,
    param_key: str = "auto",
) -> str:
    """Verify ``path`` (sha256 or its file-name prefix), map its keys, load into ``model`` strictly.

    Returns the file's full sha256 (recorded in manifests). The model remembers the file as
    ``model.weights_source`` so that later failures (a non-finite output) can name it.
    """
    digest = verify_sha256(path, sha256)
    state = read_state_dict(path, param_key)
    mapped, _ = convert_state_dict(state, model, layout, source=str(path))
    # BN counters missing from old files keep the model's value (strict otherwise).
    full = model.state_dict()
    full.update(mapped)
    model.load_state_dict(full, strict=True)
    model.weights_source = str(path)  # type: ignore[assignment]  # a plain attribute
    return digest
