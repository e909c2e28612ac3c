"""Model files of the metrics: the vendored NIQE parameters and the NRQM (Ma) forests.

The NRQM model (``NRQM_model.mat``, Ma et al.'s released regression forests) is fetched like
every downloaded file (the one policy, :func:`ranksrgan.io.fetch.fetch_cached`): a URL and
sha256 come from the config, the file lands in a cache folder, and when it is absent and cannot
be downloaded the error is one line naming file and URL.
A synthetic stand-in of the same structure (:mod:`ranksrgan.metrics.synthetic`) carries a
marker variable that :func:`load_nrqm` reports, so a synthetic score cannot pass as real.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import sha256_file
from ranksrgan.io.fetch import fetch_cached
from ranksrgan.io.integrity import check_mat_file
from ranksrgan.io.transport import BACKOFF_S, RETRIES, TIMEOUT_S

NRQM_URL = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/NRQM_model.mat"
SYNTHETIC_MARKER = "synthetic_marker"
ASSETS = Path(__file__).resolve().parents[1] / "assets"
NIQE_PARAMS_SHA256 = "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296"


def niqe_params(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """NIQE pristine mean (36,) and covariance (36, 36), plus the file's sha256.

    ``path`` may be a MATLAB ``.mat`` (``mu_prisparam``/``cov_prisparam``) or the vendored
    ``.npz``; by default the vendored parameters of the LIVE release are used.
    """
    if path is None:
        d = np.load(ASSETS / "niqe" / "niqe_pris_params.npz")
        return np.ravel(d["mu_pris_param"]), np.asarray(d["cov_pris_param"]), NIQE_PARAMS_SHA256
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: NIQE parameter file not found")
    try:
        if p.suffix == ".npz":
            d = np.load(p)
            mu, cov = d["mu_pris_param"], d["cov_pris_param"]
        else:
            d = scipy.io.loadmat(p)
            mu, cov = d["mu_prisparam"], d["cov_prisparam"]
    except (KeyError, ValueError, OSError) as exc:
        raise RankSRGANError(f"{p}: not a NIQE parameter file ({exc})") from None
    return np.ravel(mu).astype(np.float64), np.asarray(cov, dtype=np.float64), sha256_file(p)


@dataclass
class Forest:
    """One regression forest as node arrays (nodes x trees), MATLAB 1-based indices."""

    ldau: np.ndarray
    rdau: np.ndarray
    upper: np.ndarray
    avnode: np.ndarray
    mbest: np.ndarray


@dataclass
class NRQMModel:
    """Three forests (DCT, GSM, SVD feature groups) and the 4-value linear combination."""

    forests: list[Forest]
    linear: np.ndarray
    sha256: str
    synthetic: bool
    note: str = ""
    path: str = ""
    extra: dict = field(default_factory=dict)


def _field(struct: np.ndarray, name: str, index: int) -> np.ndarray:
    names = struct.dtype.names or ()
    return struct[name] if name in names else struct[names[index]]


def load_nrqm(path: str | os.PathLike) -> NRQMModel:
    """Read an ``NRQM_model.mat`` in pyiqa's NRQM layout (``model.rf``, ``model.linear``)."""
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: NRQM model file not found")
    try:
        mat = scipy.io.loadmat(p)
        model = mat["model"]
        linear = np.asarray(model["linear"][0, 0], dtype=np.float64).reshape(-1)
        forests = []
        for i in range(3):
            rf = model["rf"][0, 0][0, i][0, 0]
            forests.append(
                Forest(
                    ldau=np.asarray(_field(rf, "lDau", 0), dtype=np.int64),
                    rdau=np.asarray(_field(rf, "rDau", 1), dtype=np.int64),
                    upper=np.asarray(_field(rf, "upper", 4), dtype=np.float64),
                    avnode=np.asarray(_field(rf, "avnode", 5), dtype=np.float64),
                    mbest=np.asarray(_field(rf, "mbest", 6), dtype=np.int64),
                )
            )
    except (KeyError, IndexError, ValueError, TypeError, OSError) as exc:
        raise RankSRGANError(f"{p}: not an NRQM model file ({exc})") from None
    if linear.shape != (4,):
        raise RankSRGANError(f"{p}: NRQM linear weights must have 4 values, got {linear.shape}")
    note = ""
    synthetic = SYNTHETIC_MARKER in mat
    if synthetic:
        note = str(np.ravel(mat[SYNTHETIC_MARKER])[0])
    return NRQMModel(forests, linear, sha256_file(p), synthetic, note, str(p))


def check_nrqm_file(path: str | os.PathLike) -> None:
    """Show that a file is a whole, real NRQM model: it reads completely
    (:func:`ranksrgan.io.integrity.check_mat_file`), has pyiqa's NRQM layout and is not the
    synthetic stand-in (the content check of a fetched ``metric_models.nrqm``)."""
    check_mat_file(path)
    model = load_nrqm(path)
    if model.synthetic:
        raise RankSRGANError(
            f"{path}: is a SYNTHETIC stand-in ({model.note}); "
            "set metric_models.nrqm.synthetic: true to use it"
        )


def ensure_model_file(
    path: str | os.PathLike,
    url: str | None,
    sha256: str | None,
    *,
    timeout_s: float = TIMEOUT_S,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
) -> Path:
    """Return ``path`` verified: kept when it checks out, else downloaded from ``url`` first.

    The one cached-file policy (:func:`ranksrgan.io.fetch.fetch_cached`: reuse when verified,
    else download with retries, validated resume and an atomic rename, verify, pin). Without
    a full ``sha256`` a ``.mat`` file must read completely (:func:`check_mat_file`) before it
    is kept, and its hash is pinned in ``sha256.lock`` beside it.

    Raises:
        RankSRGANError: one line naming the file and the URL when the file is absent or
            rejected and the download fails, or when a download's sha256 differs from
            ``sha256``.
    """
    p = Path(path)
    fetch_cached(
        [url] if url else [], p, sha256=sha256, sha256_source="configured",
        check=check_mat_file if p.suffix.lower() == ".mat" else None, what="model file",
        retries=retries, backoff_s=backoff_s, timeout_s=timeout_s,
    )
    return p
