"""Run the chapters as a reader on Colab does, in a faithful stand-in for Colab, and time them.

The stand-in (built in a temporary folder, or ``--workdir``):

- a fresh virtual environment holding only packages that Colab has preinstalled
  (``BASE_PACKAGES``, at the versions of ``scripts/colab_packages.txt`` where this Python has them;
  torch and torchvision as this machine's pip gives them), nothing of the book's own dependencies;
- ``google.colab`` importable, and imported before the first cell, as Colab's kernel does;
- a copy of the repository's tracked and unignored files at ``<workdir>/content/lic``, where the
  set-up cell clones it on Colab (the cell's path ``/content/lic`` is pointed there), and the
  kernel's working directory ``<workdir>/content``, so that ``lic`` there is the clone's folder,
  exactly as on Colab.

Each chapter then runs in a new kernel from its first cell: all of it, or its first ``--cells`` code
cells (set-up, imports, first computation). Any error fails the run. ``make colab`` runs it.

    python scripts/colab_simulation.py                     # every chapter, every cell
    python scripts/colab_simulation.py --cells 3 notebooks/05_context_models.ipynb
    python scripts/colab_simulation.py --json benchmarks/results/colab.json   # the times the chapters quote
    python scripts/colab_simulation.py --json benchmarks/results/colab.json notebooks/07_every_codec.ipynb  # one, merged
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLAB_PACKAGES = ROOT / "scripts" / "colab_packages.txt"
# What the chapters may rely on from Colab (a subset of colab_packages.txt; tests/test_colab.py checks).
# nbclient and nbformat run the kernel here; Colab's own front end does that job there.
BASE_PACKAGES = ["torch", "torchvision", "numpy", "scipy", "matplotlib", "pandas", "pillow", "tqdm",
                 "safetensors", "ipykernel", "ipython", "nbclient", "nbformat"]
UNPINNED = {"torch", "torchvision"}   # Colab's are CPU builds from PyTorch's own index, not on PyPI
SETUP_PATH = "/content/lic"                 # where the set-up cell clones the repository on Colab
ADDED_BY_SETUP = ["constriction", "pytorch-msssim", "pillow-heif"]   # what colab_setup.py installs here


def colab_versions(path: Path = COLAB_PACKAGES) -> dict[str, str]:
    """Colab's preinstalled distributions, normalised name -> version ('' for URL installs)."""
    versions = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = re.split(r"\s*(==| @ )\s*", line, maxsplit=1)
        versions[normalise(name)] = version if _ == "==" else ""
    return versions


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def build_environment(venv: Path) -> Path:
    """A virtual environment with only ``BASE_PACKAGES`` and a stub ``google.colab``; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    versions = colab_versions()
    constraints = venv / "colab-constraints.txt"   # every dependency pulled in gets Colab's version
    constraints.write_text("".join(f"{name}=={v}\n" for name, v in versions.items()
                                   if v and name not in UNPINNED), encoding="utf-8")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints), *BASE_PACKAGES], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (site / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab."""\n')
    return python


def copy_repository(dest: Path) -> None:
    """What ``git clone`` of this working tree would give: its tracked and unignored files."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def clean_environment(venv: Path) -> dict[str, str]:
    """This process's environment without anything that points at the project or its .venv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LIC_", "PYTHON", "VIRTUAL_ENV", "JUPYTER")) and k != "MPLBACKEND"}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def execute(notebook: Path, content: Path, clone: Path, cells: int | None) -> None:
    """Run in the stand-in's python: the notebook's first ``cells`` code cells (all if None)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    keep = code if cells is None else code[:cells]
    setup = keep[0]
    if SETUP_PATH not in setup.source:
        raise SystemExit(f"{notebook.name}: the set-up cell does not clone to {SETUP_PATH}")
    setup.source = setup.source.replace(SETUP_PATH, str(clone))
    nb.cells = [nbformat.v4.new_code_cell("import google.colab  # as Colab's kernel does at start")] + keep
    try:
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(content)}}).execute()
    except CellExecutionError as error:
        failed = next(i for i, c in enumerate(keep) if any(o.get("output_type") == "error" for o in c.outputs))
        raise SystemExit(f"{notebook.name}, code cell {failed + 1}: {error.ename}: {error.evalue}") from None


def merged(path: Path, record: dict) -> dict:
    """``record`` merged into the record at ``path``: the chapters run now replace their old times,
    the others keep theirs (with the date they were measured), when both ran every cell."""
    if not path.exists():
        return record
    old = json.loads(path.read_text(encoding="utf-8"))
    if old.get("cells") != record["cells"]:
        return record
    dates = {name: old.get("dates", {}).get(name, old["date"]) for name in old["seconds"]}
    dates |= {name: record["date"] for name in record["seconds"]}
    failed = [n for n in old.get("failed", []) if n not in record["seconds"]] + record["failed"]
    return {**record, "seconds": {**old["seconds"], **record["seconds"]}, "dates": dict(sorted(dates.items())),
            "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter in notebooks/")
    parser.add_argument("--cells", type=int, help="run only the first N code cells of each chapter")
    parser.add_argument("--workdir", type=Path, help="build the stand-in here and keep it (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the times here (benchmarks/results/colab.json, "
                                                  "which the chapters quote)")
    parser.add_argument("--execute", action="store_true", help=argparse.SUPPRESS)   # inside the stand-in
    args = parser.parse_args()
    if args.execute:
        content = Path.cwd()
        for notebook in args.notebooks:
            execute(notebook, content, content / "lic", args.cells)
        return

    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="colab-"))
    venv, content = workdir / "venv", workdir / "content"
    started = time.perf_counter()
    python = venv / "bin" / "python" if (venv / "bin" / "python").exists() else build_environment(venv)
    shutil.rmtree(content, ignore_errors=True)
    copy_repository(content / "lic")
    print(f"stand-in ready in {time.perf_counter() - started:.0f} s: {workdir}", flush=True)
    env, times, failed = clean_environment(venv), {}, []
    for notebook in notebooks:
        notebook = notebook.resolve()
        fresh = content / "lic" / "notebooks" / notebook.name   # run the clone's copy, as Colab opens it
        command = [str(python), str(content / "lic" / "scripts" / "colab_simulation.py"), "--execute", str(fresh)]
        if args.cells:
            command += ["--cells", str(args.cells)]
        # a fresh Colab runtime per chapter: nothing that an earlier chapter's set-up installed
        subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "lic", *ADDED_BY_SETUP],
                       check=True, capture_output=True)
        started = time.perf_counter()
        result = subprocess.run(command, cwd=content, env=env, capture_output=True, text=True)
        times[notebook.name] = round(time.perf_counter() - started, 1)
        status = "ok" if result.returncode == 0 else "FAILED"
        print(f"{notebook.name}: {status} in {times[notebook.name]:.0f} s", flush=True)
        if result.returncode:
            failed.append(notebook.name)
            print(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.stdout[-2000:],
                  file=sys.stderr)
    torch_version = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"], check=True,
                                   capture_output=True, text=True).stdout.strip()
    record = {"cells": args.cells or "all", "seconds": times, "cores": os.cpu_count(), "python": sys.version.split()[0],
              "torch": torch_version, "date": time.strftime("%Y-%m-%d"), "failed": failed}
    print(json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(merged(args.json, record), indent=1) + "\n", encoding="utf-8")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        raise SystemExit(f"failed on the Colab stand-in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
