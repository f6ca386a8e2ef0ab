"""Odd inputs decode to the picture a person sees, or fail with a short reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from iqalign.errors import ImageDecodeError
from iqalign.scoring.data.images import CROP, decode_image, resize_center_crop


def _save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def _gradient(width=64, height=48) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None, None]
    return np.concatenate([x + 0 * y, y + 0 * x, 128 + 0 * (x + y)], axis=2).astype(np.uint8)


def test_rgb_passes_through(tmp_path):
    array = _gradient()
    out = decode_image(_save(Image.fromarray(array), tmp_path / "a.png"))
    assert out.mode == "RGB" and np.array_equal(np.asarray(out), array)


def test_greyscale_becomes_three_equal_channels(tmp_path):
    grey = Image.fromarray(_gradient()[..., 0])
    out = np.asarray(decode_image(_save(grey, tmp_path / "g.png")))
    assert out.shape == (48, 64, 3)
    assert np.array_equal(out[..., 0], out[..., 1])
    assert np.array_equal(out[..., 0], _gradient()[..., 0])


def test_rgba_transparency_is_flattened_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red where opaque ...
    rgba[:, :4, 3] = 255
    out = np.asarray(decode_image(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "t.png")))
    assert (out[:, :4] == [200, 0, 0]).all()
    assert (out[:, 4:] == 255).all()  # ... white, not the stored black, where transparent


def test_palette_with_transparency(tmp_path):
    palette = Image.new("P", (6, 6), 0)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.paste(1, (0, 0, 3, 6))
    path = _save(palette, tmp_path / "p.png", transparency=0)
    out = np.asarray(decode_image(path))
    assert (out[:, :3] == [0, 255, 0]).all() and (out[:, 3:] == 255).all()


def test_sixteen_bit_greyscale_is_scaled_by_bit_depth(tmp_path):
    values = np.array([[0, 257 * 100, 65535, 257 * 3]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "w.png")
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(decode_image(path))
    assert out[0, :, 0].tolist() == [0, 100, 255, 3]


def test_cmyk_jpeg(tmp_path):
    rgb = Image.fromarray(_gradient())
    path = _save(rgb.convert("CMYK"), tmp_path / "c.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    out = np.asarray(decode_image(path)).astype(int)
    assert out.shape == (48, 64, 3)
    assert np.abs(out - _gradient().astype(int)).mean() < 6  # same picture, JPEG-close


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:, :10] = 255  # white band on the left of the stored pixels
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = _save(image, tmp_path / "r.jpg", exif=exif, quality=95)
    out = np.asarray(decode_image(path))
    assert out.shape == (40, 20, 3)  # upright: portrait
    assert out[:10].mean() > 200 and out[-10:].mean() < 50  # the band is now on top


def test_tiny_image_is_upscaled_by_the_pipeline(tmp_path):
    tiny = Image.fromarray(_gradient(12, 9))
    crop = resize_center_crop(decode_image(_save(tiny, tmp_path / "tiny.png")))
    assert crop.shape == (CROP, CROP, 3)


def test_huge_jpeg_decodes_at_reduced_scale(tmp_path):
    big = Image.fromarray(_gradient(64, 48)).resize((6000, 4500))
    path = _save(big, tmp_path / "big.jpg", quality=80)
    out = decode_image(path)
    assert out.mode == "RGB" and min(out.size) >= 1024 and out.size[0] < 6000
    assert resize_center_crop(out).shape == (CROP, CROP, 3)


def test_too_many_pixels_is_refused(tmp_path):
    path = _save(Image.fromarray(_gradient(64, 48)), tmp_path / "x.png")
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(path, max_pixels=1000)


def test_truncated_file(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(_gradient(256, 256)).save(buffer, format="JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match=r"cut\.jpg: truncated"):
        decode_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels")
    with pytest.raises(ImageDecodeError, match="not an image"):
        decode_image(path)
    with pytest.raises(ImageDecodeError, match="file not found"):
        decode_image(tmp_path / "missing.png")


def test_float_image(tmp_path):
    values = np.array([[0.0, 0.5, 1.0, 2.0]], dtype=np.float32)
    path = _save(Image.fromarray(values, mode="F"), tmp_path / "f.tiff")
    assert np.asarray(decode_image(path))[0, :, 0].tolist() == [0, 128, 255, 255]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_rgb(tmp_path, suffix):
    cv2 = pytest.importorskip("cv2")
    values = (np.random.default_rng(0).random((20, 30, 3)) * 65535).astype(np.uint16)
    path = tmp_path / f"rgb16{suffix}"
    assert cv2.imwrite(str(path), values[..., ::-1])  # OpenCV writes BGR
    out = np.asarray(decode_image(path)).astype(int)
    assert out.shape == (20, 30, 3)
    assert np.abs(out - values / 257.0).max() <= 1  # top 8 bits, colours in RGB order
