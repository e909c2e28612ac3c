"""RankSRGAN study, rebuilt as a reproducible pipeline.

Toolkit entry points re-exported here: :func:`imresize` (MATLAB-compatible bicubic).
"""

from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize

__all__ = ["RankSRGANError", "imresize", "__version__"]
__version__ = "0.1.0"
