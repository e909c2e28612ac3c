"""The image reading policy on real and edge-case files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import ImagePolicy, list_images, read_image, write_png


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return data.coffee()[:64, :80]


def test_rgb_png_roundtrip(tmp_path, rgb):
    write_png(tmp_path / "a.png", rgb)
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (64, 80, 3)
    assert np.array_equal(out, rgb)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temporary file


def test_16bit_png_scaled_to_8bit(tmp_path):
    gray16 = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = read_image(tmp_path / "g16.png")
    expected = np.round(gray16.astype(np.float64) / 257.0).astype(np.uint8)
    assert out.shape == (64, 64, 3)
    assert np.array_equal(out[:, :, 0], expected) and np.array_equal(out[:, :, 2], expected)


def test_grayscale_replicated(tmp_path):
    cam = data.camera()[:50, :60]
    Image.fromarray(cam).save(tmp_path / "cam.png")
    out = read_image(tmp_path / "cam.png")
    assert out.shape == (50, 60, 3)
    for c in range(3):
        assert np.array_equal(out[:, :, c], cam)


def _rgba(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, alpha[:, :, None]], axis=2)


@pytest.mark.parametrize("alpha", ["error", "drop", "white"])
def test_opaque_rgba_drops_alpha_under_every_policy(tmp_path, rgb, alpha):
    Image.fromarray(_rgba(rgb, np.full(rgb.shape[:2], 255, np.uint8))).save(tmp_path / "o.png")
    assert np.array_equal(read_image(tmp_path / "o.png", ImagePolicy(alpha=alpha)), rgb)


def test_transparent_rgba_policies(tmp_path, rgb):
    a = np.full(rgb.shape[:2], 255, np.uint8)
    a[:10, :10] = 0
    a[10:20, :10] = 128
    Image.fromarray(_rgba(rgb, a)).save(tmp_path / "t.png")
    with pytest.raises(RankSRGANError, match=r"t\.png.*transparency"):
        read_image(tmp_path / "t.png", ImagePolicy(alpha="error"))
    assert np.array_equal(read_image(tmp_path / "t.png", ImagePolicy(alpha="drop")), rgb)
    white = read_image(tmp_path / "t.png", ImagePolicy(alpha="white"))
    assert (white[:10, :10] == 255).all()
    expected = np.round(rgb[10:20, :10] * (128 / 255) + 255 * (1 - 128 / 255))
    assert np.array_equal(white[10:20, :10], expected.astype(np.uint8))
    assert np.array_equal(white[20:], rgb[20:])


def test_palette_image(tmp_path, rgb):
    pal = Image.fromarray(rgb).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    out = read_image(tmp_path / "p.png")
    assert np.array_equal(out, np.asarray(pal.convert("RGB")))


def test_truncated_png(tmp_path, rgb):
    write_png(tmp_path / "full.png", rgb)
    raw = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RankSRGANError, match=r"cut\.png: corrupt or truncated") as exc:
        read_image(tmp_path / "cut.png")
    assert "\n" not in str(exc.value)


def test_garbage_bytes(tmp_path):
    (tmp_path / "junk.png").write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(RankSRGANError, match=r"junk\.png: corrupt"):
        read_image(tmp_path / "junk.png")


def test_too_small(tmp_path, rgb):
    write_png(tmp_path / "tiny.png", rgb[:8, :30])
    with pytest.raises(RankSRGANError, match=r"tiny\.png: image is 8x30, smaller than .* 16"):
        read_image(tmp_path / "tiny.png", ImagePolicy(min_size=16))
    assert read_image(tmp_path / "tiny.png", ImagePolicy(min_size=8)).shape == (8, 30, 3)


def test_missing_file(tmp_path):
    with pytest.raises(RankSRGANError, match=r"nope\.png: image file not found"):
        read_image(tmp_path / "nope.png")


def test_jpeg_real_photo():
    from pathlib import Path

    import skimage

    out = read_image(Path(skimage.__file__).parent / "data" / "rocket.jpg")
    assert out.shape == (427, 640, 3) and out.dtype == np.uint8


def test_list_images_sorted_skips_hidden(tmp_path, rgb):
    for name in ("b.png", "a.jpg", ".a.png.tmp", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.png"]
    with pytest.raises(RankSRGANError, match="image folder not found"):
        list_images(tmp_path / "missing")
