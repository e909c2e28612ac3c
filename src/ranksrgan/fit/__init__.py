"""Training toolkit shared by the GAN trainer (``ranksrgan.train``) and the Ranker trainer
(``ranksrgan.ranker``): the training loop around a step (:mod:`ranksrgan.fit.loop`),
when to resume (:mod:`ranksrgan.fit.resume`), checkpoints, RNG state, device choice,
exported weights with their metadata file, the non-finite step check and the decode-once
image cache.

Both stages import from here and never from each other.
"""

from ranksrgan.fit.checkpoint import load_checkpoint, save_checkpoint
from ranksrgan.fit.export import (
    export_weights,
    load_plain_state,
    read_metadata,
    write_metadata,
)
from ranksrgan.fit.finite import check_finite
from ranksrgan.fit.rng import rng_state, seed_all, set_rng_state

__all__ = [
    "check_finite",
    "export_weights",
    "load_checkpoint",
    "load_plain_state",
    "read_metadata",
    "rng_state",
    "save_checkpoint",
    "seed_all",
    "set_rng_state",
    "write_metadata",
]
