"""A non-editable install works: a wheel built from the repository, installed into a folder of its
own, compresses and decompresses with a learned codec from another directory. Its checkpoints
come from the package data (``lic/weights``), not from the repository."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``lic`` built as a wheel and installed (without dependencies: they are this venv's) into a folder."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"  # a copy, so that the build leaves nothing in the repository
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp / "dist").glob("lic-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                              "--target", str(tmp / "site"), str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    return tmp / "site"


def run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LIC_WEIGHTS", "LIC_DATA", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_installed_package_compresses_with_its_shipped_checkpoints(installed, tmp_path):
    where = run(installed, tmp_path, "-c", "import lic, lic.checkpoints as c; print(lic.__file__); print(c.weights_dir())")
    assert where.returncode == 0, where.stderr
    module, weights = where.stdout.split()
    assert Path(module).is_relative_to(installed) and Path(weights).is_relative_to(installed)
    from lic.data import evaluation_set, save_image

    save_image(evaluation_set(["kodim23"])[0][1][:, :96, :128], tmp_path / "photo.png")
    compressed = run(installed, tmp_path, "-m", "lic", "compress", "photo.png", "photo.lic",
                     "--codec", "balle2017", "--quality", "3")
    assert compressed.returncode == 0, compressed.stderr
    decompressed = run(installed, tmp_path, "-m", "lic", "decompress", "photo.lic", "back.png")
    assert decompressed.returncode == 0, decompressed.stderr
    assert "128x96 decoded with balle2017" in decompressed.stdout and (tmp_path / "back.png").is_file()
