"""Preset resolution: ``extends`` chains of config sections, merged and hashed.

Torch-free and below every stage: the config check (``ranksrgan.config``), the workflow's
input functions and the train stage resolve presets the same way. A preset may name
``extends: <other preset>``; the chain is deep-merged (mappings merge key by key, any other
value replaces; a network mapping with a different ``arch`` replaces the inherited one whole).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from ranksrgan.errors import RankSRGANError


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` (mappings recursively, else replaced).

    A mapping naming a different ``arch`` than the one it overrides replaces it whole: the
    options of one network mean nothing to another.
    """
    out = copy.deepcopy(base)
    for k, v in over.items():
        other_net = (
            isinstance(v, dict) and "arch" in v and v["arch"] != (out.get(k) or {}).get("arch")
        )
        if isinstance(v, dict) and isinstance(out.get(k), dict) and not other_net:
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_preset(presets: dict[str, Any], name: str) -> dict[str, Any]:
    """The fully merged preset ``name`` (``extends`` followed, cycles rejected)."""
    chain: list[str] = []
    cur: str | None = name
    while cur is not None:
        if cur not in presets:
            where = f"train.presets.{chain[-1]}.extends" if chain else "train.presets"
            raise RankSRGANError(f"config key '{where}': unknown preset '{cur}'")
        if cur in chain:
            raise RankSRGANError(
                f"config key 'train.presets.{name}': extends cycle {chain + [cur]}"
            )
        chain.append(cur)
        cur = presets[cur].get("extends")
    merged: dict[str, Any] = {}
    for n in reversed(chain):
        merged = deep_merge(merged, {k: v for k, v in presets[n].items() if k != "extends"})
    return merged


def rank_terms(preset: dict[str, Any]) -> list[dict[str, Any]]:
    """The preset's rank-content terms with a weight > 0, in order: ``losses.rank`` is one
    term (a mapping, the paper) or a list of them (several Rankers at once, the journal
    version's RankSRGAN-NM). The one reading of that key: the config check, the workflow's
    inputs and the train stage all go through here."""
    return [t for _, t in rank_term_keys(preset) if t.get("weight")]


def rank_term_keys(preset: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(config key, term) of every rank-content term as the preset writes it, weight 0
    included (for error messages: ``...losses.rank`` or ``...losses.rank[i]``)."""
    rank = (preset.get("losses") or {}).get("rank") or []
    if isinstance(rank, dict):
        return [("losses.rank", rank)]
    return [(f"losses.rank[{i}]", t) for i, t in enumerate(rank)]


def with_stage_ranker(preset: dict[str, Any], rankers: dict[str, Any]) -> dict[str, Any]:
    """A resolved preset whose stage Rankers (``losses.rank[...].ranker.source: stage``) take
    the network they load, ``arch`` and ``options``, from that Ranker's section
    (``ranker.<name>.arch`` / ``arch_options``) where the preset leaves them out: the network
    is stated once, by the stage that trains it. A copy; the preset itself is not changed."""
    out = copy.deepcopy(preset)
    for _, term in rank_term_keys(out):
        spec = term.get("ranker") or {}
        stage = spec.get("source", "stage") == "stage"
        section = rankers.get(str(spec.get("name"))) if stage else None
        if section:
            spec.setdefault("arch", section["arch"])
            spec.setdefault("options", dict(section.get("arch_options") or {}))
    return out


def needs_vgg19(presets: dict[str, Any], name: str) -> bool:
    """Whether preset ``name``'s perceptual loss uses the ImageNet VGG19 file (not the
    random stand-in)."""
    per = (resolve_preset(presets, name).get("losses") or {}).get("perceptual") or {}
    return bool(per.get("weight")) and per.get("weights", "vgg19") == "vgg19"


def preset_hash(preset: dict[str, Any]) -> str:
    """sha256 of the resolved preset's canonical JSON (recorded in G.json)."""
    return hashlib.sha256(json.dumps(preset, sort_keys=True).encode()).hexdigest()
