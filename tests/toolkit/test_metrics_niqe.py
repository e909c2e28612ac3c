"""NIQE: MATLAB reference values (TID2013 calibration images) and agreement with pyiqa."""


import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from ranksrgan.errors import MetricUndefinedError
from ranksrgan.metrics import create_metric
from ranksrgan.metrics.colour import rgb_to_luma, shave
from ranksrgan.metrics.models import niqe_params
from ranksrgan.metrics.niqe import niqe_luma, snapped_pixels
from ranksrgan.metrics.pyiqa_reference import pyiqa_niqe_in_double, use_offline_pyiqa_home
from tests.support import REPO

CALIB = REPO / ".venv/lib/python3.11/site-packages/ResultsCalibra/dist_dir"
# MATLAB niqe_release (rgb2gray, no shave) on pyiqa's calibration images:
# pyiqa's ResultsCalibra/results_official.csv, row "niqe".
MATLAB_NIQE = {
    "I03": 15.7536293917814,
    "I04": 3.65492152353770,
    "I06": 3.23547743716998,
    "I08": 3.18403333858339,
    "I19": 8.63519663862637,
}


def _tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(arr)).permute(2, 0, 1)[None].double() / 255.0


@pytest.mark.skipif(not CALIB.is_dir(), reason="pyiqa calibration images not installed")
def test_niqe_matches_matlab_reference():
    m = create_metric("niqe", colour="gray", shave=0)
    diffs = {}
    for name, ref in MATLAB_NIQE.items():
        x = _tensor(Image.open(CALIB / f"{name}.bmp").convert("RGB"))
        diffs[name] = abs(m(x).item() - ref)
    # I04 has no flat region: the computation is MATLAB's to rounding error.
    assert diffs["I04"] < 1e-9, diffs
    # Images with flat regions depend on how ~1e-13 filter residuals round (see niqe.py).
    assert max(diffs.values()) < 0.05, diffs


def test_niqe_batch_equals_single_and_shave_and_colour_change_result():
    img = skimage.data.chelsea()
    crops = [img[0:150, 0:200], img[100:250, 200:400], img[150:300, 50:250]]
    x = torch.cat([_tensor(c) for c in crops])
    m = create_metric("niqe")
    batch = m(x)
    single = torch.cat([m(x[i : i + 1]) for i in range(3)])
    assert batch.shape == (3,)
    assert torch.allclose(batch, single, atol=1e-10)
    assert m.params["colour"] == "y" and m.params["shave"] == 4 and m.lower_better
    assert abs(create_metric("niqe", colour="gray")(x[:1]).item() - batch[0].item()) > 1e-6
    assert abs(create_metric("niqe", shave=0)(x[:1]).item() - batch[0].item()) > 1e-6
    assert create_metric("niqe", shave=0).params_hash != m.params_hash


def test_niqe_rejects_too_small_image():
    mu, cov, _ = niqe_params()
    with pytest.raises(ValueError, match="at least 96"):
        niqe_luma(
            torch.rand(1, 95, 200, dtype=torch.float64) * 255,
            torch.from_numpy(mu),
            torch.from_numpy(cov),
        )


@pytest.fixture(scope="module")
def pyiqa_niqe(tmp_path_factory):
    use_offline_pyiqa_home(tmp_path_factory.mktemp("torch_home"))
    pyiqa = pytest.importorskip("pyiqa")
    return pyiqa.create_metric("niqe", device="cpu", color_space="ycbcr", crop_border=4)


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_niqe_agrees_with_pyiqa(pyiqa_niqe, name):
    # Photos without flat regions; pyiqa's float32 imresize explains the residual ~1e-4.
    x = _tensor(getattr(skimage.data, name)())
    ours = create_metric("niqe")(x).item()
    theirs = pyiqa_niqe(x.float()).item()
    assert abs(ours - theirs) < 1e-3, (ours, theirs)


def test_niqe_equals_pyiqa_in_double_precision_on_a_photo_without_flat_regions(pyiqa_niqe):
    # pyiqa's float32 steps (Gaussian window, second-scale resize, AGGD shape table) done in
    # double as MATLAB does them: then the two implementations agree to rounding error.
    x = _tensor(skimage.data.chelsea())
    ours = create_metric("niqe")(x).item()
    with pyiqa_niqe_in_double():
        theirs64 = pyiqa_niqe(x).item()
    assert torch.get_default_dtype() == torch.float32
    assert abs(ours - theirs64) < 1e-9, (ours, theirs64)


def _flat_band_luma() -> torch.Tensor:
    """Shaved luma of a photo whose left 120 columns are one flat grey."""
    img = skimage.data.coffee()[:200, :300].copy()
    img[:, :120] = 128
    return shave(rgb_to_luma(_tensor(img)), 4)


def test_niqe_core_is_deterministic_on_flat_regions():
    # A flat band next to texture: the snapped residuals make CPU float orders irrelevant.
    y = _flat_band_luma()
    mu, cov, _ = niqe_params()
    a = niqe_luma(y, torch.from_numpy(mu), torch.from_numpy(cov))
    b = niqe_luma(y.flip(-1).flip(-1).contiguous(), torch.from_numpy(mu), torch.from_numpy(cov))
    assert torch.isfinite(a).all() and torch.equal(a, b)


def test_niqe_banded_work_gives_the_same_scores_as_whole_images():
    # Bands of a few block rows (and single images) must not change a single bit: the MSCN
    # filter sees the real neighbours across band edges and the replicate pad only at borders.
    imgs = [skimage.data.coffee()[:300, :400], skimage.data.chelsea()[:300, :400]]
    y = shave(rgb_to_luma(torch.cat([_tensor(i) for i in imgs])), 4)
    mu, cov = (torch.from_numpy(a) for a in niqe_params()[:2])
    whole = niqe_luma(y, mu, cov, chunk_px=10**9)
    banded = niqe_luma(y, mu, cov, chunk_px=96 * 96)
    assert torch.isfinite(whole).all() and torch.equal(whole, banded)
    assert torch.equal(niqe_luma(y[1:], mu, cov, chunk_px=96 * 96), whole[1:])


def test_snapped_pixels_flags_flat_regions_and_not_textured_photos():
    textured = shave(rgb_to_luma(_tensor(skimage.data.chelsea())), 4)
    assert snapped_pixels(textured).tolist() == [0]
    # the 120-px flat band, less the filter's reach into the texture, at both scales
    assert snapped_pixels(_flat_band_luma()).item() > 100 * 100


# ------------------------------------------------------------ flat images (issue 19)


def _const(side: int, value: int) -> torch.Tensor:
    return _tensor(np.full((side, side, 3), value, np.uint8))


@pytest.mark.parametrize(
    "side,value,luma",
    [(128, 0, 16), (128, 128, 126), (300, 0, 16), (300, 255, 235)],  # 1 block / 9 blocks
)
def test_niqe_on_a_constant_image_says_the_image_is_flat(side, value, luma):
    """Was NaN (one block) or a raw ``linalg.svd`` error (several blocks)."""
    with pytest.raises(MetricUndefinedError) as exc:
        create_metric("niqe")(_const(side, value))
    assert str(exc.value) == (
        f"image is flat (constant luma {luma}): NIQE undefined, no block has local contrast"
    )


def test_niqe_without_a_usable_block_says_why_and_names_the_batch_image():
    # Two flat halves: the one block has an edge but no contrast in every direction.
    half = np.zeros((128, 128, 3), np.uint8)
    half[:, 64:] = 200
    with pytest.raises(MetricUndefinedError, match=r"^NIQE undefined: 0 of 1 blocks have local"):
        create_metric("niqe")(_tensor(half))
    # A batch: the message says which image; the photo alone still gets its score.
    photo = _tensor(skimage.data.coffee()[:128, :128])
    m = create_metric("niqe")
    with pytest.raises(MetricUndefinedError, match=r"^image 2 of the batch of 2: image is flat"):
        m(torch.cat([photo, _const(128, 0)]))
    assert torch.isfinite(m(photo)).all()
    # Several blocks, only one of them with contrast: the covariance needs two.
    one = np.zeros((300, 300, 3), np.uint8)
    one[:96, :96] = skimage.data.coffee()[:96, :96]
    with pytest.raises(MetricUndefinedError, match=r"NIQE undefined: 1 of 9 blocks .* 2 needed"):
        m(_tensor(one))
