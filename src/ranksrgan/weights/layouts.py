"""Known key layouts of published state dicts, mapped onto our (the authors') names.

A layout is an ordered list of regex rewrites applied to each source key. ``authors`` is the
identity (RankSRGAN/mmsr names, which ours equal). ESRGAN's RRDBNet was published in two more
layouts: the original ESRGAN release's sequential ``model.N`` one and the BasicSR /
Real-ESRGAN re-export (``body.N.rdbK.convM``, ``conv_body``, ``conv_up1/2``, ``conv_hr``).
"""

from __future__ import annotations

import re

LAYOUTS: dict[str, list[tuple[str, str]]] = {
    "authors": [],
    "esrgan_original": [
        # model.1 is ShortcutBlock(sequential(RRDB x nb, conv)); each conv is Sequential(conv, act)
        (r"^model\.1\.sub\.(\d+)\.(RDB\d)\.(conv\d)\.0\.", r"RRDB_trunk.\1.\2.\3."),
        (r"^model\.1\.sub\.\d+\.(weight|bias)$", r"trunk_conv.\1"),
        (r"^model\.0\.", "conv_first."),
        (r"^model\.3\.", "upconv1."),
        (r"^model\.6\.", "upconv2."),
        (r"^model\.8\.", "HRconv."),
        (r"^model\.10\.", "conv_last."),
    ],
    "basicsr": [
        (r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"RRDB_trunk.\1.RDB\2.conv\3."),
        (r"^conv_body\.", "trunk_conv."),
        (r"^conv_up1\.", "upconv1."),
        (r"^conv_up2\.", "upconv2."),
        (r"^conv_hr\.", "HRconv."),
    ],
}

#: Wrappers some releases nest the state dict under, tried in this order by ``param_key="auto"``.
NESTING_KEYS = ("params_ema", "params", "state_dict", "model")


def map_keys(keys: list[str], layout: str) -> dict[str, str]:
    """Source key -> our key under ``layout`` (first matching rule wins; no match = unchanged)."""
    rules = [(re.compile(p), r) for p, r in LAYOUTS[layout]]
    out = {}
    for k in keys:
        new = k
        for pat, rep in rules:
            if pat.search(k):
                new = pat.sub(rep, k)
                break
        out[k] = new
    return out
