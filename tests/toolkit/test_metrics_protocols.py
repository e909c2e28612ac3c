"""PSNR/SSIM (distortion) protocols, named: the unrounded vs uint8-rounded Y of the score.

``pirm_matlab`` (uint8-rounded Y, PIRM's MATLAB code, ``quantize=True``) vs ``authors_python``
(unrounded Y, the authors' Python test script, ``quantize=False``): on real photographs the
two differ by the small documented amount, and every report table names the one it used.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch

from ranksrgan.imresize import imresize
from ranksrgan.metrics import create_metric, distortion
from ranksrgan.report.tables import Y_PROTOCOL_NAMES, protocols


def _bicubic_pair(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A real photo (HR, mod-cropped) and its x4 MATLAB-bicubic down-up reconstruction."""
    hr = getattr(skimage.data, name)()
    hr = np.ascontiguousarray(hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4])
    sr = imresize(imresize(hr, 0.25), 4.0)
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].double() / 255  # noqa: E731
    return t(sr), t(hr)


@pytest.mark.parametrize("photo", ["astronaut", "chelsea"])
def test_rounded_and_unrounded_y_differ_by_the_documented_small_amount(photo):
    sr, hr = _bicubic_pair(photo)
    p = {q: float(distortion.psnr(sr, hr, quantize=q)) for q in (True, False)}
    s = {q: float(distortion.ssim(sr, hr, quantize=q)) for q in (True, False)}
    # documented in ranksrgan.metrics.distortion: 0.003-0.014 dB, SSIM about 0.001
    assert 0.001 < p[False] - p[True] < 0.02, p
    assert 0.0002 < s[False] - s[True] < 0.002, s
    # the named protocols are exactly those two settings, through the metric factory too
    for name, quantize in distortion.Y_PROTOCOLS.items():
        m = create_metric("psnr", quantize=quantize)
        assert float(m(sr.float(), hr.float())) == pytest.approx(p[quantize], abs=1e-3)
        assert distortion.protocol_name(quantize) == name


def test_each_report_table_names_its_psnr_ssim_protocol():
    def proto(q):
        return json.dumps({"colour": "y", "shave": 4, "quantize": q})

    cells = pd.DataFrame({"metric": ["PSNR", "SSIM", "NIQE", "PSNR"],
                          "protocol": [proto(True), proto(True), proto(True), proto(False)]})
    out = protocols(cells)
    named = {(p["metric"], p.get("y_protocol")) for p in out}
    assert ("PSNR", Y_PROTOCOL_NAMES[True]) in named and ("SSIM", Y_PROTOCOL_NAMES[True]) in named
    assert ("PSNR", Y_PROTOCOL_NAMES[False]) in named
    assert ("NIQE", None) in named  # only PSNR/SSIM have the two protocols
    assert Y_PROTOCOL_NAMES[True].startswith("pirm_matlab")
    assert Y_PROTOCOL_NAMES[False].startswith("authors_python")
    assert set(distortion.Y_PROTOCOLS) == {v.split(" ")[0] for v in Y_PROTOCOL_NAMES.values()}
