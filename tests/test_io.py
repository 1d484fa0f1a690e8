"""Image files: bit depths kept both ways, alpha maps, refusals, atomic writing."""

import os

import imagecodecs
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from fastosmosis import io as fio

RNG = np.random.default_rng(7)


def _rand(shape, dtype):
    if np.dtype(dtype).kind == "u":
        return RNG.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)
    return RNG.random(shape).astype(dtype)


def _png_bit_depth(path):
    with open(path, "rb") as fh:
        head = fh.read(26)
    assert head[12:16] == b"IHDR"
    return head[24]


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (6, 4, 4), (3, 5, 2)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_read_keeps_samples(tmp_path, shape, dtype):
    a = _rand(shape, dtype)
    path = tmp_path / "a.png"
    path.write_bytes(imagecodecs.png_encode(a))  # written by an independent encoder
    b, info = fio.read_image(path)
    assert b.dtype == dtype and b.shape == shape
    np.testing.assert_array_equal(b, a)
    assert info.format == "png" and info.dtype == dtype and info.shape == shape
    assert info.has_alpha == (len(shape) == 3 and shape[2] in (2, 4))


def test_16bit_rgb_png_is_not_truncated(tmp_path):
    # Pillow reads this file as 8-bit (44822 -> 175); read_image must not.
    a = np.full((2, 3, 3), 44822, np.uint16)
    a[0, 0] = (1, 2, 65535)
    path = tmp_path / "deep.png"
    path.write_bytes(imagecodecs.png_encode(a))
    b, info = fio.read_image(path)
    assert info.bit_depth == "16"
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize(
    "dtype,shape",
    [
        (np.uint8, (4, 6, 3)),
        (np.uint16, (4, 6, 3)),
        (np.uint16, (4, 6)),
        (np.float32, (4, 6, 3)),
        (np.float64, (4, 6)),
    ],
)
def test_tiff_read_keeps_samples(tmp_path, dtype, shape):
    a = _rand(shape, dtype)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, a, photometric="rgb" if len(shape) == 3 else "minisblack")
    b, info = fio.read_image(path)
    assert b.dtype == dtype and info.format == "tiff"
    np.testing.assert_array_equal(b, a)


def test_planar_tiff_comes_back_channels_last(tmp_path):
    a = _rand((3, 4, 5), np.uint16)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, a, photometric="rgb", planarconfig="separate")
    b, _ = fio.read_image(path)
    np.testing.assert_array_equal(b, np.moveaxis(a, 0, -1))


def test_format_is_sniffed_not_taken_from_extension(tmp_path):
    a = _rand((8, 8, 3), np.uint8)
    path = tmp_path / "jpeg_named.png"  # like the puppets background of the paper
    path.write_bytes(iio.imwrite("<bytes>", a, extension=".jpg"))
    b, info = fio.read_image(path)
    assert info.format == "jpeg" and b.shape == (8, 8, 3) and b.dtype == np.uint8


def test_to_float_divides_by_type_maximum():
    np.testing.assert_array_equal(fio.to_float(np.uint8([0, 51, 255])), [0.0, 0.2, 1.0])
    np.testing.assert_array_equal(fio.to_float(np.uint16([0, 65535])), [0.0, 1.0])
    f32 = np.float32([0.25, 1.5])
    assert fio.to_float(f32).dtype == np.float32
    np.testing.assert_array_equal(fio.to_float(f32), f32)  # floats as given, not clipped
    assert fio.to_float(np.float16([0.5])).dtype == np.float32
    with pytest.raises(TypeError, match="int32"):
        fio.to_float(np.int32([1]))


def test_split_alpha():
    rgba = _rand((3, 4, 4), np.uint8)
    colour, alpha = fio.split_alpha(rgba)
    np.testing.assert_array_equal(colour, rgba[..., :3])
    np.testing.assert_array_equal(alpha, rgba[..., 3])
    colour, alpha = fio.split_alpha(rgba[..., :2])
    assert colour.shape == (3, 4) and alpha.shape == (3, 4)
    colour, alpha = fio.split_alpha(rgba[..., :3])
    assert alpha is None and colour.shape == (3, 4, 3)


def test_read_alpha_scales_by_type_not_by_range(tmp_path):
    a = np.uint8([[0, 128], [200, 200]])  # max 200: mat2gray would stretch it to 1
    iio.imwrite(tmp_path / "a.png", a)
    alpha, _ = fio.read_alpha(tmp_path / "a.png")
    np.testing.assert_allclose(alpha, a / 255.0)
    a16 = np.uint16([[0, 65535], [32768, 1]])
    (tmp_path / "a16.png").write_bytes(imagecodecs.png_encode(a16))
    np.testing.assert_allclose(fio.read_alpha(tmp_path / "a16.png")[0], a16 / 65535.0)


def test_read_alpha_rgb(tmp_path):
    grey = _rand((4, 5), np.uint8)
    iio.imwrite(tmp_path / "same.png", np.stack([grey] * 3, axis=-1))
    alpha, info = fio.read_alpha(tmp_path / "same.png")
    assert alpha.shape == (4, 5) and not info.has_alpha  # equal channels collapse
    np.testing.assert_allclose(alpha, grey / 255.0)
    rgb = _rand((4, 5, 3), np.uint8)
    iio.imwrite(tmp_path / "rgb.png", rgb)
    alpha, _ = fio.read_alpha(tmp_path / "rgb.png")
    np.testing.assert_allclose(alpha, rgb / 255.0)  # per-channel alpha kept
    iio.imwrite(tmp_path / "rgba.png", np.dstack([rgb, grey]))
    alpha, info = fio.read_alpha(tmp_path / "rgba.png")
    assert info.has_alpha and alpha.shape == (4, 5, 3)  # its A channel dropped


@pytest.mark.parametrize(
    "content,expected",
    [
        (None, "no such file"),
        (b"hello", "not an image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "corrupt or unsupported PNG"),
        (b"II*\x00garbage", "corrupt or unsupported TIFF"),
    ],
)
def test_read_errors_name_the_file(tmp_path, content, expected):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(fio.ImageFileError, match=expected) as err:
        fio.read_image(path)
    assert str(path) in str(err.value) and isinstance(err.value, ValueError)


def test_read_directory_and_unsupported_dtype(tmp_path):
    with pytest.raises(fio.ImageFileError, match="directory"):
        fio.read_image(tmp_path)
    tifffile.imwrite(tmp_path / "i32.tif", np.zeros((3, 3), np.int32))
    with pytest.raises(fio.ImageFileError, match="int32"):
        fio.read_image(tmp_path / "i32.tif")


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("shape", [(5, 6), (5, 6, 3)])
def test_16bit_written_and_read_back_exactly(tmp_path, ext, shape):
    u = _rand(shape, np.uint16) / 65535.0
    path = tmp_path / f"out{ext}"
    fio.write_image(path, u, like=np.uint16)
    b, info = fio.read_image(path)
    assert info.dtype == np.uint16 and b.shape == shape
    np.testing.assert_array_equal(b, np.rint(u * 65535).astype(np.uint16))
    # and an independent decoder agrees
    other = imagecodecs.png_decode(path.read_bytes()) if ext == ".png" else tifffile.imread(path)
    np.testing.assert_array_equal(other, b)
    if ext == ".png":
        assert _png_bit_depth(path) == 16


def test_8bit_png_and_clipping(tmp_path):
    u = np.array([[-0.5, 0.0, 0.2], [0.5, 1.0, 7.0]])
    fio.write_image(tmp_path / "o.png", u, like=np.uint8)
    b, info = fio.read_image(tmp_path / "o.png")
    assert info.dtype == np.uint8
    np.testing.assert_array_equal(b, [[0, 0, 51], [128, 255, 255]])
    assert _png_bit_depth(tmp_path / "o.png") == 8


def test_float_tiff_keeps_float_and_clips(tmp_path):
    u = np.array([[-0.1, 0.123456789], [0.5, 1.3]], np.float64)
    fio.write_image(tmp_path / "o.tif", u, like=np.float32)
    b, info = fio.read_image(tmp_path / "o.tif")
    assert info.dtype == np.float32
    np.testing.assert_array_equal(b, np.clip(u, 0, 1).astype(np.float32))


def test_jpeg_8bit(tmp_path):
    u = np.full((8, 8, 3), 0.5)
    fio.write_image(tmp_path / "o.jpeg", u, like=np.uint8)
    b, info = fio.read_image(tmp_path / "o.jpeg")
    assert info.format == "jpeg" and b.dtype == np.uint8 and b.shape == (8, 8, 3)
    assert np.abs(b.astype(int) - 128).max() <= 2


@pytest.mark.parametrize(
    "name,like,message",
    [
        ("o.jpg", np.uint16, "JPEG cannot hold 16-bit"),
        ("o.jpg", np.float32, "JPEG cannot hold float"),
        ("o.png", np.float32, "PNG cannot hold float"),
        ("o.bmp", np.uint8, "unknown output format"),
        ("noext", np.uint8, "unknown output format"),
        ("missing/o.png", np.uint8, "does not exist"),
    ],
)
def test_refusals_write_nothing(tmp_path, name, like, message):
    path = tmp_path / name
    with pytest.raises(fio.ImageFileError, match=message) as err:
        fio.write_image(path, np.zeros((2, 2)), like=like)
    assert str(path) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_refuses_to_overwrite_an_input(tmp_path):
    src = tmp_path / "in.png"
    iio.imwrite(src, np.zeros((2, 2), np.uint8))
    before = src.read_bytes()
    other_spelling = tmp_path / "sub" / ".." / "in.png"
    (tmp_path / "sub").mkdir()
    with pytest.raises(fio.ImageFileError, match="overwrite an input"):
        fio.write_image(other_spelling, np.ones((2, 2)), like=np.uint8, inputs=[src])
    os.symlink(src, tmp_path / "link.png")
    with pytest.raises(fio.ImageFileError, match="overwrite an input"):
        fio.write_image(tmp_path / "link.png", np.ones((2, 2)), like=np.uint8, inputs=[src])
    assert src.read_bytes() == before


def test_failed_write_leaves_old_file_and_no_temporaries(tmp_path, monkeypatch):
    path = tmp_path / "o.png"
    path.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        fio.write_image(path, np.zeros((2, 2)), like=np.uint8)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_write_files_atomic_all_or_nothing(tmp_path):
    good = tmp_path / "a.bin"
    bad = tmp_path / "nope" / "b.bin"
    with pytest.raises(fio.ImageFileError, match="cannot write"):
        fio.write_files_atomic([(good, b"1"), (bad, b"2")])
    assert list(tmp_path.iterdir()) == []
    fio.write_files_atomic([(good, b"1"), (tmp_path / "c.bin", b"2")])
    assert good.read_bytes() == b"1" and (tmp_path / "c.bin").read_bytes() == b"2"
    mode = good.stat().st_mode & 0o777
    assert mode & 0o444 == 0o444 & ~_umask()  # readable like a normal new file


def test_non_finite_values_are_refused(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        fio.write_image(tmp_path / "o.png", np.array([[np.nan, 0.0]]), like=np.uint8)
    assert list(tmp_path.iterdir()) == []


def test_info_keeps_input_depth(tmp_path):
    a = _rand((3, 4, 3), np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", a, photometric="rgb")
    _, info = fio.read_image(tmp_path / "in.tif")
    fio.write_image(tmp_path / "out.png", fio.to_float(a), like=info)
    b, out = fio.read_image(tmp_path / "out.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(b, a)
    with pytest.raises(fio.ImageFileError, match="16-bit"):
        fio.check_output(tmp_path / "out.jpg", info)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
