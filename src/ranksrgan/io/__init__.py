"""Toolkit I/O: the image reading policy, atomic writes and Parquet helpers."""

from ranksrgan.io.atomic import (
    atomic_path,
    save_torch_atomic,
    write_bytes_atomic,
    write_parquet_atomic,
)
from ranksrgan.io.hashing import sha256_file
from ranksrgan.io.images import ImagePolicy, list_images, read_image, write_png

__all__ = [
    "ImagePolicy",
    "atomic_path",
    "list_images",
    "read_image",
    "save_torch_atomic",
    "sha256_file",
    "write_bytes_atomic",
    "write_parquet_atomic",
    "write_png",
]
