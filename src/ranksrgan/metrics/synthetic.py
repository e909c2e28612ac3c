"""A SYNTHETIC NRQM model file with the real one's structure, for tests and the offline demo.

The real ``NRQM_model.mat`` (Ma et al.) cannot be downloaded on the machines this project is
built on. This writes a file pyiqa's NRQM and ours both load: three regression forests of
``n_trees`` trees (node arrays 2881 x n_trees: ``lDau``, ``rDau``, ``mbest`` int32; ``upper``,
``avnode`` float64) over feature groups of 18, 45 and 75 values, and a 4-value linear
combination. Trees are random (seeded), thresholds are drawn inside the range of features of
a few real photos so that images take different paths. The file carries the variable
``synthetic_marker``; :func:`ranksrgan.metrics.models.load_nrqm` reports it and every score
made with it is labelled ``nrqm_model=SYNTHETIC`` / ``stand_in="SYNTHETIC NRQM model"``. Its
scores mean nothing.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.io

from ranksrgan.io import atomic_path
from ranksrgan.metrics.models import SYNTHETIC_MARKER

N_NODES = 2881
GROUP_SIZES = (18, 45, 75)


def _feature_ranges() -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-feature (low, high) of the three groups on three crops of scikit-image photos."""
    import skimage.data
    import torch

    from ranksrgan.metrics.colour import rgb_to_luma
    from ranksrgan.metrics.nrqm import nrqm_features

    crops = [
        skimage.data.astronaut()[100:260, 150:310],
        skimage.data.coffee()[100:260, 200:360],
        skimage.data.chelsea()[50:210, 100:260],
    ]
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).double() / 255.0
    feats = nrqm_features(rgb_to_luma(x, "y"))
    out = []
    for t in feats:
        f = t.numpy()
        lo, hi = f.min(0), f.max(0)
        pad = 0.1 * (hi - lo) + 1e-6
        out.append((lo - pad, hi + pad))
    return out


def _forest(rng: np.random.Generator, n_trees: int, lo: np.ndarray, hi: np.ndarray) -> dict:
    n_feat = lo.size
    ldau = np.zeros((N_NODES, n_trees), np.int32)
    rdau = np.zeros((N_NODES, n_trees), np.int32)
    mbest = np.zeros((N_NODES, n_trees), np.int32)
    upper = np.zeros((N_NODES, n_trees), np.float64)
    depth = np.zeros((N_NODES, n_trees), np.int32)
    count = np.ones(n_trees, np.int64)  # nodes allocated per tree (root = node 1)
    cols = np.arange(n_trees)
    for j in range(N_NODES):
        exists = j < count
        if not exists.any():
            break
        p_split = np.where(depth[j] < 4, 0.97, 0.62)
        split = exists & (rng.random(n_trees) < p_split) & (count + 2 <= N_NODES)
        t = cols[split]
        ldau[j, t] = count[t] + 1
        rdau[j, t] = count[t] + 2
        depth[count[t], t] = depth[j, t] + 1
        depth[count[t] + 1, t] = depth[j, t] + 1
        f = rng.integers(0, n_feat, t.size)
        mbest[j, t] = f + 1
        upper[j, t] = rng.uniform(lo[f], hi[f])
        count[t] += 2
    avnode = rng.uniform(0.0, 10.0, (N_NODES, n_trees))
    avnode[np.arange(N_NODES)[:, None] >= count[None, :]] = 0.0
    nodestatus = np.where(ldau > 0, -3, -1).astype(np.int32)
    nodestatus[np.arange(N_NODES)[:, None] >= count[None, :]] = 0
    return {
        "lDau": ldau,
        "rDau": rdau,
        "nodestatus": nodestatus,
        "nrnodes": np.array([[N_NODES]], np.int32),
        "upper": upper,
        "avnode": avnode,
        "mbest": mbest,
        "ndtree": count.astype(np.int32)[None, :],
    }


def build_synthetic_nrqm(seed: int = 0, n_trees: int = 2000) -> dict:
    """The synthetic model as the dict written to ``.mat`` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    ranges = _feature_ranges()
    forests = [_forest(rng, n_trees, lo, hi) for lo, hi in ranges]
    rf = np.empty((1, 3), dtype=object)
    for i, f in enumerate(forests):
        rf[0, i] = f
    linear = np.array([[rng.uniform(-1, 1)], [0.4], [0.35], [0.3]]) + rng.normal(0, 0.02, (4, 1))
    note = (
        f"SYNTHETIC NRQM stand-in (seed {seed}, {n_trees} trees): not Ma et al.'s model; "
        "scores made with it are meaningless"
    )
    return {"model": {"rf": rf, "linear": linear}, SYNTHETIC_MARKER: note}


def write_synthetic_nrqm(path: str | os.PathLike, seed: int = 0, n_trees: int = 2000) -> None:
    """Write the synthetic model to ``path`` atomically."""
    data = build_synthetic_nrqm(seed, n_trees)
    with atomic_path(path, suffix=".mat") as tmp:
        scipy.io.savemat(tmp, data, do_compression=True)
