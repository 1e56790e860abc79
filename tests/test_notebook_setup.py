"""Every chapter starts with the same Colab set-up cell, and the repository address has one home.

``_config.yml``'s ``repository.url`` is the address; each notebook's set-up cell (its first code
cell) repeats it for ``git clone`` on Colab, and ``scripts/set_repository.py`` rewrites both.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ADDRESS = re.compile(r"https?://[^\s\"'<>)]+")


def _load_script():
    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


set_repository = _load_script()


def config_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]


def code_cells_text(text: str) -> list[str]:
    """The sources of the code cells of a notebook given as JSON text."""
    return ["".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "code"]


def code_cells(path: Path) -> list[str]:
    return code_cells_text(path.read_text(encoding="utf-8"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_the_first_code_cell(path):
    cells = code_cells(path)
    assert 'if "google.colab" in sys.modules:' in cells[0], "the first code cell is not the Colab set-up cell"
    assert not any("google.colab" in source for source in cells[1:]), "a second cell deals with Colab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_uses_the_address_of_config(path):
    expected = config_url()
    setup = code_cells(path)[0]
    addresses = ADDRESS.findall(setup)
    assert addresses, "the set-up cell holds no repository address"
    assert set(addresses) == {expected}, f"set-up cell: {addresses}, _config.yml: {expected}"
    assert set_repository.notebook_url(path) == expected


def test_script_reads_the_config_like_yaml():
    assert set_repository.config_url(ROOT / "_config.yml") == config_url()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_does_nothing_off_colab(path, monkeypatch):
    assert "google.colab" not in sys.modules

    def forbidden(*args, **kwargs):
        raise AssertionError(f"the set-up cell ran a command off Colab: {args}")

    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(os, "system", forbidden)
    path_before, environ_before = list(sys.path), dict(os.environ)
    exec(compile(code_cells(path)[0], str(path), "exec"), {})
    assert sys.path == path_before
    assert dict(os.environ) == environ_before


def _colab_setup_module():
    spec = importlib.util.spec_from_file_location("colab_setup_under_test", ROOT / "scripts" / "colab_setup.py")
    return spec, importlib.util.module_from_spec(spec)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_on_colab_keeps_colab_packages(path, monkeypatch):
    """On (a simulated) Colab: clone the configured address, then scripts/colab_setup.py installs lic
    from the clone with --no-deps and only the missing small dependencies; never torch, numpy or Pillow.
    As on Colab, ``lic`` is findable before anything is installed (the clone's folder in the working
    directory is a namespace package), and that must not stop the install."""
    import importlib.metadata
    import runpy

    calls = []
    google = types.ModuleType("google")
    google.colab = types.ModuleType("google.colab")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    monkeypatch.setattr(subprocess, "run", lambda args, **kwargs: calls.append(args))
    namespace_lic = importlib.machinery.ModuleSpec("lic", None, is_package=True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: namespace_lic if name == "lic" else None)

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("LIC_DATA", "unchanged")
    run_path = runpy.run_path
    scripts = []
    monkeypatch.setattr(runpy, "run_path", lambda p, *a, **k: scripts.append(p) or run_path(
        str(ROOT / "scripts" / Path(p).name), *a, **k))   # the clone is this repository
    exec(compile(code_cells(path)[0], str(path), "exec"), {})

    assert scripts == ["/content/lic/scripts/colab_setup.py"]
    clone = [c for c in calls if isinstance(c, str) and "git clone" in c]
    assert len(clone) == 1 and config_url() in clone[0] and "/content/lic" in clone[0]
    pip = [c for c in calls if isinstance(c, list) and c[1:4] == ["-m", "pip", "install"]]
    assert len(pip) == 1, calls
    assert "--no-deps" in pip[0] and pip[0][pip[0].index("-e") + 1] == str(ROOT)
    assert not {"torch", "torchvision", "numpy", "pillow", "Pillow", "-U", "--upgrade"} & set(pip[0])
    assert {"constriction", "pytorch-msssim", "pillow-heif", "safetensors"} <= set(pip[0])
    assert str(ROOT / "src") in sys.path and os.environ["LIC_DATA"] == str(ROOT / "data")


def test_colab_setup_reads_installed_from_the_metadata(tmp_path):
    """This checkout's .venv has lic installed, editable, from here; another folder does not count."""
    spec, setup = _colab_setup_module()
    source = (ROOT / "scripts" / "colab_setup.py").read_text(encoding="utf-8")
    exec(compile(source.replace("\nmain()\n", "\n"), spec.origin, "exec"), setup.__dict__)   # definitions only
    assert setup.installed_from(ROOT)
    assert not setup.installed_from(tmp_path / "lic")


def test_colab_setup_twice_installs_nothing(monkeypatch):
    """Idempotent: with lic installed from the clone and every small dependency present, no pip."""
    import runpy

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kwargs: calls.append(args))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("LIC_DATA", "unchanged")
    runpy.run_path(str(ROOT / "scripts" / "colab_setup.py"))
    runpy.run_path(str(ROOT / "scripts" / "colab_setup.py"))
    assert calls == []
    assert sys.path.count(str(ROOT / "src")) == 1


@pytest.fixture
def book_copy(tmp_path):
    """_config.yml and the notebooks in a temporary folder."""
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    return tmp_path


def _changed_lines(a: str, b: str) -> int:
    a_lines, b_lines = a.splitlines(), b.splitlines()
    assert len(a_lines) == len(b_lines)
    return sum(x != y for x, y in zip(a_lines, b_lines))


def test_set_repository_rewrites_config_and_every_notebook(book_copy, capsys):
    url = "https://github.com/someone-else/lic-fork"
    before = {p: p.read_text(encoding="utf-8") for p in [book_copy / "_config.yml", *sorted(book_copy.glob("notebooks/*.ipynb"))]}
    assert set_repository.main([url + ".git/", "--root", str(book_copy)]) == 0
    assert set_repository.config_url(book_copy / "_config.yml") == url
    for path, text in before.items():
        after = path.read_text(encoding="utf-8")
        assert _changed_lines(text, after) == 1, path.name      # only the address line
        if path.suffix == ".ipynb":
            assert set_repository.notebook_url(path) == url
            assert code_cells(path)[1:] == code_cells_text(text)[1:]      # other cells untouched
    assert set_repository.main(["--check", "--root", str(book_copy)]) == 0
    # running it again changes nothing
    snapshot = {p: p.read_text(encoding="utf-8") for p in before}
    assert set_repository.main([url, "--root", str(book_copy)]) == 0
    assert all(p.read_text(encoding="utf-8") == t for p, t in snapshot.items())


def test_check_reports_a_notebook_that_disagrees(book_copy, capsys):
    path = sorted(book_copy.glob("notebooks/*.ipynb"))[0]
    set_repository.set_notebook_url(path, "https://github.com/other/place")
    assert set_repository.main(["--check", "--root", str(book_copy)]) == 1
    assert path.name in capsys.readouterr().out


def test_set_repository_rejects_other_addresses(book_copy):
    with pytest.raises(SystemExit):
        set_repository.main(["http://example.com/not/github", "--root", str(book_copy)])
    with pytest.raises(SystemExit):
        set_repository.main(["--root", str(book_copy)])


def test_notebooks_round_trip_unchanged():
    """The script writes notebooks exactly as nbformat does, so setting the same address is a no-op."""
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        assert set_repository._dump(json.loads(text)) == text, path.name
