"""Rank-dataset stage (the paper's stage 1): patch positions, selection and labels.

From the data stage's HR images and the sr stage's outputs of several methods in level order
(paper: SRResNet < SRGAN < ESRGAN), the stage picks patch positions with the authors' MATLAB
rules (``datasets/generate_rankdataset/`` of XPixelGroup/RankSRGAN), labels every method's
patch with a no-reference metric and writes one index row per image x position x method:

- :mod:`~ranksrgan.rankdata.positions`: the script's 1-based grid ``1:stride:H-size``;
- :mod:`~ranksrgan.rankdata.selection`: sharpness of the top-level patch, NIQE distance of the
  two top levels, a seeded per-image cap;
- :mod:`~ranksrgan.rankdata.labels`: batched labels under the label protocol (Y, 4-px shave);
- :mod:`~ranksrgan.rankdata.split`: train/validation split by source image (or per patch);
- :mod:`~ranksrgan.rankdata.shard`: one shard of a source dataset, resumable;
- :mod:`~ranksrgan.rankdata.gather`: gather of the shards into ``index.parquet`` + ``stats.json``;
- :mod:`~ranksrgan.rankdata.export`: the authors' folder + label-file layout.

No patch files are written by default: the index names the full image each patch is cropped
from (``path``, relative to the index's folder) and its top-left pixel.
"""
