#!/usr/bin/env python3
"""Set the book's repository address in its one place, and copy it where it must be repeated.

    python scripts/set_repository.py https://github.com/OWNER/NAME     # rewrite
    python scripts/set_repository.py --check                          # exit 1 if anything disagrees

The address lives in ``_config.yml`` (``repository: url:``), which Jupyter Book uses for its
repository and Colab buttons. Each notebook's set-up cell (its first code cell) repeats it as
``REPOSITORY = "..."`` so that Colab can clone the repository; this script rewrites that line in
every notebook of ``notebooks/`` and the ``url`` of ``_config.yml``, keeping everything else of both
files byte for byte. ``tests/test_notebook_setup.py`` fails when they disagree.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"https://github\.com/[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
#: the line of a set-up cell that holds the address
REPOSITORY_LINE = re.compile(r'^(?P<head>\s*REPOSITORY\s*=\s*")(?P<url>[^"]*)(?P<tail>".*)$')


def check_url(url: str) -> str:
    """The address without a trailing slash or ``.git``; ``ValueError`` unless it is a GitHub repository."""
    url = url.strip().rstrip("/")
    url = url[:-4] if url.endswith(".git") else url
    if not URL.fullmatch(url):
        raise ValueError(f"not a GitHub repository address (https://github.com/OWNER/NAME): {url!r}")
    return url


# ------------------------------------------------------------------------------------ _config.yml

def _repository_url_line(lines: list[str]) -> int | None:
    """Index of the ``url:`` line inside the top-level ``repository:`` block, if any."""
    inside = False
    for i, line in enumerate(lines):
        if re.match(r"^repository:\s*(#.*)?$", line):
            inside = True
        elif inside and line.strip() and not line[0].isspace() and not line.lstrip().startswith("#"):
            return None  # the block ended without a url
        elif inside and re.match(r"^\s+url:", line):
            return i
    return None


def config_url(config: Path) -> str:
    """``repository.url`` of a Jupyter Book ``_config.yml``."""
    lines = config.read_text(encoding="utf-8").splitlines()
    i = _repository_url_line(lines)
    if i is None:
        raise ValueError(f"{config}: no repository: url: entry")
    value = lines[i].split(":", 1)[1].split(" #", 1)[0].strip()
    return value.strip("'\"")


def set_config_url(config: Path, url: str) -> bool:
    """Rewrite ``repository.url``; True if the file changed."""
    text = config.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    i = _repository_url_line([line.rstrip("\r\n") for line in lines])
    if i is None:
        raise ValueError(f"{config}: no repository: url: entry to rewrite")
    match = re.match(r"^(?P<indent>\s+url:\s*)(?P<value>[^#\r\n]*?)(?P<rest>\s*(#.*)?\r?\n?)$", lines[i])
    new = f"{match['indent']}{url}{match['rest']}"
    if new == lines[i]:
        return False
    lines[i] = new
    config.write_text("".join(lines), encoding="utf-8")
    return True


# -------------------------------------------------------------------------------------- notebooks

def _dump(notebook: dict) -> str:
    """The notebook as nbformat writes it (1-space indent, sorted keys, UTF-8, final newline)."""
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def setup_cell(notebook: dict) -> dict:
    """The set-up cell: the notebook's first code cell."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            return cell
    raise ValueError("the notebook has no code cell")


def _source_lines(cell: dict) -> list[str]:
    source = cell["source"]
    return source.splitlines(keepends=True) if isinstance(source, str) else list(source)


def notebook_url(path: Path) -> str:
    """The address in ``REPOSITORY = "..."`` of the notebook's set-up cell."""
    for line in _source_lines(setup_cell(json.loads(path.read_text(encoding="utf-8")))):
        match = REPOSITORY_LINE.match(line.rstrip("\n"))
        if match:
            return match["url"]
    raise ValueError(f"{path}: the first code cell has no line REPOSITORY = \"...\"")


def set_notebook_url(path: Path, url: str) -> bool:
    """Rewrite the address of the set-up cell; True if the file changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cell = setup_cell(notebook)
    lines, found = _source_lines(cell), False
    for k, line in enumerate(lines):
        end = "\n" if line.endswith("\n") else ""
        match = REPOSITORY_LINE.match(line.rstrip("\n"))
        if match:
            lines[k] = f"{match['head']}{url}{match['tail']}{end}"
            found = True
    if not found:
        raise ValueError(f"{path}: the first code cell has no line REPOSITORY = \"...\"")
    cell["source"] = lines if isinstance(cell["source"], list) else "".join(lines)
    new = _dump(notebook)
    if new == path.read_text(encoding="utf-8"):
        return False
    path.write_text(new, encoding="utf-8")
    return True


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", help="https://github.com/OWNER/NAME")
    parser.add_argument("--check", action="store_true", help="only report disagreements (exit 1 if any)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's folder (default: this repository)")
    args = parser.parse_args(argv)
    config = args.root / "_config.yml"
    if args.check == (args.url is not None):
        parser.error("give either a URL or --check")
    if args.check:
        expected, bad = config_url(config), 0
        for path in notebooks(args.root):
            found = notebook_url(path)
            if found != expected:
                print(f"{path.relative_to(args.root)}: {found} (_config.yml: {expected})")
                bad += 1
        print(f"{bad} notebook(s) disagree with _config.yml" if bad else f"all notebooks use {expected}")
        return 1 if bad else 0
    try:
        url = check_url(args.url)
    except ValueError as err:
        parser.error(str(err))
    changed = [config] if set_config_url(config, url) else []
    changed += [path for path in notebooks(args.root) if set_notebook_url(path, url)]
    for path in changed:
        print(f"rewrote {path.relative_to(args.root)}")
    print(f"repository: {url} ({len(changed)} file(s) changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
