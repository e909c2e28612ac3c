"""Data stage: download + verify archives, extract image sets, mod-crop, x4 MATLAB-bicubic LR.

Modules, one job each:
- :mod:`ranksrgan.data.download` fetch an archive (mirrors, Range resume, retries, sha256 lock);
- :mod:`ranksrgan.data.extract` list and extract archive members safely (glob selection);
- :mod:`ranksrgan.data.prepare` turn one dataset's members into HR/LR PNGs + a manifest;
- :mod:`ranksrgan.data.demo` build the demo archive from scikit-image's bundled photos;
- :mod:`ranksrgan.data.cli` the ``ranksrgan data ...`` subcommands.
"""
