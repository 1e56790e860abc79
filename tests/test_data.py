"""Image I/O, the committed data sets, downloads (against a local server) and training crops."""
from __future__ import annotations

import hashlib
import http.server
import re
import threading
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lic import data
from lic.data import datasets
from lic.data import (
    EVAL_SHAPES,
    RandomCrops,
    crop_to,
    download_div2k,
    download_kodak,
    endless,
    evaluation_paths,
    evaluation_set,
    from_array,
    load_image,
    pad_to_multiple,
    save_image,
    training_loader,
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Loading odd inputs
# ---------------------------------------------------------------------------------------------


def test_grey_png_gives_three_equal_channels(tmp_path):
    grey = np.random.default_rng(1).integers(0, 256, (7, 9), dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    x = load_image(tmp_path / "grey.png")
    assert x.shape == (3, 7, 9) and x.dtype == torch.float32
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    assert torch.allclose(x[0], torch.from_numpy(grey).float() / 255)


def test_rgba_is_composited_on_white_with_a_warning(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    with pytest.warns(UserWarning, match="alpha"):
        x = load_image(tmp_path / "rgba.png")
    assert x.shape == (3, 4, 4)
    assert torch.allclose(x[:, :2], torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 2, 4))
    assert torch.allclose(x[:, 2:], torch.ones(3, 2, 4))  # transparent -> white


def test_16bit_png_keeps_its_precision(tmp_path):
    a = np.random.default_rng(2).integers(0, 65536, (5, 6), dtype=np.uint16)
    a[0, 0], a[0, 1], a[0, 2] = 0, 1, 65535
    Image.fromarray(a).save(tmp_path / "deep.png")  # Pillow mode I;16 -> 16-bit grey PNG
    with Image.open(tmp_path / "deep.png") as img:
        assert img.mode in ("I;16", "I")  # really stored as 16 bits
    x = load_image(tmp_path / "deep.png")
    expected = torch.from_numpy(a.astype(np.float64) / 65535)
    assert torch.allclose(x[0].double(), expected, atol=0.5 / 65535, rtol=0)
    assert x[0, 0, 1] > 0  # 1/65535 survives (8 bits would round it to 0)


def test_text_file_named_png_raises_value_error_naming_the_file(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image\n")
    with pytest.raises(ValueError, match=re.escape(str(fake))):
        load_image(fake)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "nope.png")


@pytest.mark.parametrize("h,w,multiple", [(1, 1, 16), (17, 31, 16), (33, 7, 64), (64, 64, 64), (5, 129, 8)])
def test_pad_then_crop_round_trips(h, w, multiple):
    x = torch.rand(3, h, w)
    padded = pad_to_multiple(x, multiple)
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert padded.shape[-2] - h < multiple and padded.shape[-1] - w < multiple
    assert torch.equal(crop_to(padded, h, w), x)
    batch = torch.rand(2, 3, h, w)
    assert torch.equal(crop_to(pad_to_multiple(batch, multiple), h, w), batch)


def test_save_then_load_is_lossless_at_8_bits(tmp_path):
    x = from_array(_photo(9, 11))
    save_image(x, tmp_path / "x.png")
    assert torch.equal(load_image(tmp_path / "x.png"), x)


# ---------------------------------------------------------------------------------------------
# The committed data
# ---------------------------------------------------------------------------------------------


def test_evaluation_set_has_ten_photos_of_the_documented_sizes():
    images = evaluation_set()
    assert [n for n, _ in images] == sorted(EVAL_SHAPES)
    for name, x in images:
        assert x.shape == (3, *EVAL_SHAPES[name]), name
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        assert x.std() > 0.05, name  # a photo, not a flat image
    assert [p.stem for p in evaluation_paths()] == sorted(EVAL_SHAPES)
    sub = evaluation_set(["tulips", "kodim23"])
    assert [n for n, _ in sub] == ["kodim23", "tulips"]
    with pytest.raises(KeyError, match="lena"):
        evaluation_set(["lena"])


def test_kodim23_carries_sporcos_bottom_line_fix():
    (_, x), = evaluation_set("kodim23")
    assert torch.equal(x[:, -1], x[:, -2])


def _sources_table(folder: Path) -> dict[str, str]:
    text = (folder / "SOURCES.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| (\S+\.png) \|.*?`([0-9a-f]{64})`", text, flags=re.M))


@pytest.mark.parametrize("folder", [data.EVAL_DIR, data.TRAIN_DIR], ids=["eval", "train"])
def test_sources_md_lists_every_file_with_its_sha256(folder):
    table = _sources_table(folder)
    files = {p.name for p in folder.glob("*.png")}
    assert set(table) == files
    for name, digest in table.items():
        assert _sha256(folder / name) == digest, name


def test_training_pool_is_small_rgb_and_512_px():
    paths = sorted(data.TRAIN_DIR.glob("*.png"))
    assert len(paths) >= 90
    assert sum(p.stat().st_size for p in paths) <= 26e6
    for p in paths:
        with Image.open(p) as img:
            assert img.mode == "RGB" and max(img.size) == 512, p.name


def test_lic_data_environment_variable_overrides_the_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("LIC_DATA", str(tmp_path))
    assert datasets._data_root() == tmp_path
    monkeypatch.delenv("LIC_DATA")
    assert datasets._data_root() == Path(data.__file__).resolve().parents[3] / "data"
    with pytest.raises(FileNotFoundError, match="LIC_DATA"):
        evaluation_paths(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------
# Downloads, against a local HTTP server
# ---------------------------------------------------------------------------------------------


class _Server:
    def __init__(self, root: Path):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # quiet, but remember what was asked
                server.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server = _Server(root)
    yield root, server
    server.close()


def _kodak_fixture(root: Path, n: int = 3) -> dict[str, str]:
    hashes = {}
    for i in range(1, n + 1):
        name = f"kodim{i:02d}.png"
        Image.fromarray(_photo(8, 12, seed=i)).save(root / name)
        hashes[name] = _sha256(root / name)
    return hashes


def test_download_kodak_verifies_and_skips_present_files(served, tmp_path):
    root, server = served
    hashes = _kodak_fixture(root)
    dest = tmp_path / "kodak"
    paths = download_kodak(dest, server.url, hashes, indices=range(1, 4), progress=False)
    assert [p.name for p in paths] == sorted(hashes)
    assert all(_sha256(p) == hashes[p.name] for p in paths)
    assert len(server.requests) == 3
    assert "kodim02.png" in (dest / "SHA256SUMS").read_text()
    download_kodak(dest, server.url, hashes, indices=range(1, 4), progress=False)
    assert len(server.requests) == 3  # nothing fetched again
    (dest / "kodim02.png").write_bytes(b"damaged")  # a wrong local file is fetched again
    download_kodak(dest, server.url, hashes, indices=range(1, 4), progress=False)
    assert server.requests[3:] == ["/kodim02.png"] and _sha256(dest / "kodim02.png") == hashes["kodim02.png"]
    assert not list(dest.glob("*.part"))


def test_download_kodak_deletes_a_corrupted_download_and_raises(served, tmp_path):
    root, server = served
    hashes = _kodak_fixture(root)
    (root / "kodim02.png").write_bytes((root / "kodim02.png").read_bytes()[:-10])  # truncated on the server
    dest = tmp_path / "kodak"
    with pytest.raises(ValueError, match="sha256 mismatch.*kodim02"):
        download_kodak(dest, server.url, hashes, indices=range(1, 4), progress=False)
    assert (dest / "kodim01.png").is_file()
    assert not (dest / "kodim02.png").exists() and not list(dest.glob("*.part"))


def test_download_kodak_without_a_table_records_the_hashes(served, tmp_path, capsys):
    root, server = served
    hashes = _kodak_fixture(root, 2)
    dest = tmp_path / "kodak"
    download_kodak(dest, server.url, sha256=None, indices=[1, 2], progress=False)
    out = capsys.readouterr().out
    assert all(h in out for h in hashes.values())
    sums = dict(line.split()[::-1] for line in (dest / "SHA256SUMS").read_text().splitlines())
    assert sums == hashes


def test_download_kodak_accepts_an_injected_fetch(tmp_path):
    payload = b"\x89PNG fake"
    seen = []

    def fetch(url, path):
        seen.append(url)
        Path(path).write_bytes(payload)

    table = {"kodim05.png": hashlib.sha256(payload).hexdigest()}
    (path,) = download_kodak(tmp_path, "https://mirror.example/kodak", table, indices=[5], fetch=fetch, progress=False)
    assert seen == ["https://mirror.example/kodak/kodim05.png"] and path.read_bytes() == payload


def test_kodak_table_is_complete():
    assert sorted(data.KODAK_SHA256) == [f"kodim{i:02d}.png" for i in range(1, 25)]
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in data.KODAK_SHA256.values())


def _div2k_zip(root: Path) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = {"0001": _photo(20, 30, 1), "0002": _photo(15, 9, 2)}
    archive = root / "DIV2K_train_HR.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("DIV2K_train_HR/", "")
        for stem, a in arrays.items():
            path = root / f"{stem}.png"
            Image.fromarray(a).save(path)
            z.write(path, f"DIV2K_train_HR/{stem}.png")
    return archive, arrays


def test_download_div2k_unpacks_and_downscales(served, tmp_path):
    root, server = served
    archive, arrays = _div2k_zip(root)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    url = server.url + archive.name
    dest = tmp_path / "div2k"
    full = download_div2k(dest, url=url, md5=md5, progress=False)
    assert [p.name for p in full] == ["0001.png", "0002.png"]
    assert full[0].parent == dest / "DIV2K_train_HR"
    assert np.array_equal(np.asarray(Image.open(full[0])), arrays["0001"])  # bytes copied as they are
    half = download_div2k(dest, url=url, md5=md5, downscale=2, keep_zip=False, progress=False)
    assert len(server.requests) == 1  # the verified zip was reused
    assert half[0].parent == dest / "DIV2K_train_HR_x2"
    assert [Image.open(p).size for p in half] == [(15, 10), (4, 8)]  # (9/2, 15/2) rounded half-to-even
    assert not (dest / archive.name).exists()
    with pytest.raises(ValueError, match="md5 mismatch"):
        download_div2k(tmp_path / "bad", url=url, md5="0" * 32, progress=False)
    assert not (tmp_path / "bad" / archive.name).exists()


# ---------------------------------------------------------------------------------------------
# Training crops
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def pool(tmp_path):
    folder = tmp_path / "pool"
    folder.mkdir()
    for i, (h, w) in enumerate([(40, 50), (64, 33), (48, 48)]):
        Image.fromarray(_photo(h, w, 10 + i)).save(folder / f"img{i}.png")
    return folder


def _found_in(patch: np.ndarray, images: list[np.ndarray]) -> bool:
    c = patch.shape[0]
    for a in images:
        for cand in (a, a[:, ::-1], a[::-1], a[::-1, ::-1]):
            for y in range(cand.shape[0] - c + 1):
                for x in range(cand.shape[1] - c + 1):
                    if np.array_equal(cand[y : y + c, x : x + c], patch):
                        return True
    return False


def test_random_crops_are_deterministic_true_crops(pool):
    ds = RandomCrops(pool, crop=16, length=12, seed=3)
    again = RandomCrops(pool, crop=16, length=12, seed=3)
    other = RandomCrops(pool, crop=16, length=12, seed=4)
    assert len(ds) == 12 and ds[0].shape == (3, 16, 16) and ds[0].dtype == torch.float32
    assert all(torch.equal(ds[i], again[i]) for i in range(12))
    assert not all(torch.equal(ds[i], other[i]) for i in range(12))
    assert torch.equal(ds[5], ds[5])  # order-independent: item i is a function of (seed, epoch, i)
    first = [ds[i] for i in range(12)]
    ds.set_epoch(1)
    assert not all(torch.equal(a, ds[i]) for i, a in enumerate(first))
    originals = [np.asarray(Image.open(p)) for p in sorted(pool.glob("*.png"))]
    for i in range(0, 12, 2):
        patch = (ds[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert _found_in(patch, originals)
    with pytest.raises(IndexError):
        ds[12]


def test_small_images_are_padded_or_skipped_with_a_warning(pool):
    with pytest.warns(UserWarning, match="padding img1"):
        ds = RandomCrops(pool, crop=36, length=4)
    assert len(ds.images) == 3 and ds.images[1].shape == (64, 36, 3)
    assert all(ds[i].shape == (3, 36, 36) for i in range(4))
    with pytest.warns(UserWarning, match="skipping img1"):
        ds = RandomCrops(pool, crop=36, length=4, small="skip")
    assert [p.name for p in ds.paths] == ["img0.png", "img2.png"]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no usable"):
        RandomCrops(pool, crop=100, small="skip")


def test_training_loader_batches_are_reproducible_across_workers(pool):
    a = list(training_loader(pool, crop=16, batch_size=4, seed=1, length=8))
    b = list(training_loader(pool, crop=16, batch_size=4, seed=1, length=8, num_workers=2))
    assert len(a) == 2 and a[0].shape == (4, 3, 16, 16)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    stream = endless(training_loader(pool, crop=16, batch_size=4, seed=1, length=8))
    batches = [next(stream) for _ in range(4)]
    assert torch.equal(batches[0], a[0]) and not torch.equal(batches[2], a[0])  # epoch 1 differs


def test_training_loader_defaults_to_the_committed_pool():
    loader = training_loader(crop=256, batch_size=2, length=2)
    (batch,) = list(loader)
    assert batch.shape == (2, 3, 256, 256) and len(loader.dataset.images) == len(list(data.TRAIN_DIR.glob("*.png")))


def test_random_crops_accept_a_list_of_files_of_any_mode(tmp_path):
    Image.fromarray(_photo(20, 20)[..., 0], mode="L").save(tmp_path / "grey.png")
    Image.fromarray(_photo(20, 24)).save(tmp_path / "rgb.png")
    ds = RandomCrops([tmp_path / "grey.png", tmp_path / "rgb.png"], crop=8, length=3)
    assert [a.shape for a in ds.images] == [(20, 20, 3), (20, 24, 3)]
    assert all(ds[i].shape == (3, 8, 8) for i in range(3))


def _png16_rgb(path, array):
    """Write a 16-bit RGB PNG by hand (Pillow cannot write one)."""
    import struct
    import zlib

    h, w, _ = array.shape
    raw = b"".join(b"\0" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16bit_colour_png_loads_with_a_warning(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 65536, size=(5, 7, 3), dtype=np.uint16)
    _png16_rgb(tmp_path / "rgb16.png", a)
    with pytest.warns(UserWarning, match="16-bit colour PNG"):
        img = load_image(tmp_path / "rgb16.png")
    assert img.shape == (3, 5, 7)
    assert torch.allclose(img, torch.from_numpy(a.transpose(2, 0, 1) / 65535.0).float(), atol=1 / 255)
