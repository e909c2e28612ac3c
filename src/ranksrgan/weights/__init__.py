"""Weight registry toolkit: fetch (download/verify/cache) and load (safe, layout-mapping).

- ``fetch(entry, cache_dir) -> Path``: a config weights entry (``url`` or ``path``,
  ``sha256``, ``layout``) to a verified local file (downloads go to ``cache_dir/weights/``,
  by the one cached-file policy :func:`ranksrgan.io.fetch.fetch_cached`).
- ``load(model, path, layout="auto", sha256=None) -> sha256``: ``torch.load(weights_only=True)``,
  unwrap ``params_ema``/``params``, map known layouts onto our names, strict load.
"""

from ranksrgan.weights.fetch import cached_path, fetch, name_hash_prefix, verify_sha256
from ranksrgan.weights.layouts import LAYOUTS
from ranksrgan.weights.loader import convert_state_dict, load, read_state_dict

__all__ = [
    "LAYOUTS",
    "cached_path",
    "convert_state_dict",
    "fetch",
    "load",
    "name_hash_prefix",
    "read_state_dict",
    "verify_sha256",
]
