"""Network registry: ``build(name, **options)`` for every generator, discriminator and Ranker.

Names: ``fsrcnn``, ``srresnet``, ``rrdbnet``, ``discriminator_vgg128``,
``discriminator_vgg296``, ``ranker_vgg8``, ``ranker_vgg12``, ``ranker_vgg16``. Module
names and forward passes of the authors' networks match their code, so their state dicts
load unchanged (other published layouts are mapped by :mod:`ranksrgan.weights`).
"""

from ranksrgan.archs import discriminator, fsrcnn, ranker, rrdbnet, srresnet  # noqa: F401  (registration)
from ranksrgan.archs.registry import build, get_arch, list_archs, register

__all__ = ["build", "get_arch", "list_archs", "register"]
