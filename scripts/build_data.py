#!/usr/bin/env python3
"""Rebuild ``data/eval`` and ``data/train`` from public packages.

The book's offline images all come from packages that a Debian machine with PyPI access can fetch:

* ``data/eval``: ten lossless photographs at their original size, taken from the Debian package
  ``librust-tiff-dev`` (kodim02, kodim07) and the PyPI wheels ``sporco`` (kodim23, monarch, sail,
  tulips) and ``scikit-image`` (astronaut, chelsea, coffee, motorcycle_left);
* ``data/train``: 29 photographs from Debian wallpaper packages (``plasma-workspace-wallpapers``,
  ``mate-backgrounds``, ``palapeli-data``, ``lomiri-wallpapers-20.04``), downscaled with a Lanczos
  filter so that the longer side is 512 px.

Usage (from the repository root)::

    python scripts/build_data.py                   # both sets, archives cached in ~/.cache/lic-build
    python scripts/build_data.py --only eval --cache /tmp/pkgs
    python scripts/build_data.py --train-side 448  # smaller training pool

Needs ``apt-get`` (Debian/Ubuntu; ``apt-get download`` needs no root) and ``pip``; the archives are
read in Python (``.deb`` = ar + tar, wheels = zip), so nothing is installed. Package versions are
pinned to the ones the committed files were built from (Debian 12 "bookworm"); where a pinned
version is no longer available, the current one is used and a warning is printed, and the
``SOURCES.md`` tables then record what was really used. The script rewrites both ``SOURCES.md``
files, including the sha256 of every archive it read and of every PNG it wrote. PNG bytes can
differ between Pillow/zlib versions while the pixels stay the same.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# What to take, from where
# ---------------------------------------------------------------------------------------------

DEBS = {  # package -> pinned version (Debian 12 bookworm)
    "librust-tiff-dev": "0.7.3-1",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
    "mate-backgrounds": "1.26.0-1",
    "palapeli-data": "4:22.12.3-1",
    "lomiri-wallpapers-20.04": "20.04.0-2",
}
WHEELS = {"sporco": "0.2.2.post1", "scikit-image": "0.26.0"}

KODAK_LICENCE = "Eastman Kodak Company, released for unrestricted usage"
BRAGZONE_LICENCE = "Waterloo BragZone, free of copyright restrictions"


@dataclass
class EvalImage:
    name: str
    kind: str  # "deb" or "wheel"
    package: str
    member: str
    size: tuple[int, int]  # (width, height)
    licence: str
    notes: str


TIFF_DIR = "usr/share/cargo/registry/tiff-0.7.3/tests/benches"
EVAL = [
    EvalImage("kodim02", "deb", "librust-tiff-dev", f"{TIFF_DIR}/kodim02-lzw.tif", (768, 512),
              KODAK_LICENCE, "Kodak PhotoCD; LZW TIFF test file of the `tiff` crate, decoded losslessly"),
    EvalImage("kodim07", "deb", "librust-tiff-dev", f"{TIFF_DIR}/kodim07-lzw.tif", (768, 512),
              KODAK_LICENCE, "Kodak PhotoCD; LZW TIFF test file of the `tiff` crate, decoded losslessly"),
    EvalImage("kodim23", "wheel", "sporco", "sporco/data/kodim23.png", (768, 512), KODAK_LICENCE,
              "Kodak PhotoCD; sporco replaced the black bottom line by a copy of the line above, "
              "so it differs from r0k.us kodim23 in the last row"),
    EvalImage("monarch", "wheel", "sporco", "sporco/data/monarch.png", (768, 512), BRAGZONE_LICENCE, ""),
    EvalImage("sail", "wheel", "sporco", "sporco/data/sail.png", (768, 512), BRAGZONE_LICENCE, ""),
    EvalImage("tulips", "wheel", "sporco", "sporco/data/tulips.png", (768, 512), BRAGZONE_LICENCE, ""),
    EvalImage("astronaut", "wheel", "scikit-image", "skimage/data/astronaut.png", (512, 512),
              "NASA; public domain (per skimage.data.astronaut)",
              "Eileen Collins, NASA Great Images; earlier processing history unknown"),
    EvalImage("chelsea", "wheel", "scikit-image", "skimage/data/chelsea.png", (451, 300),
              "CC0 (photographer: Stefan van der Walt)",
              "downscaled camera photo (Pentax K100D); earlier processing history unknown"),
    EvalImage("coffee", "wheel", "scikit-image", "skimage/data/coffee.png", (600, 400),
              "CC0 (photographer: Rachel Michetti, courtesy of Pikolo Espresso Bar)",
              "earlier processing history unknown"),
    EvalImage("motorcycle_left", "wheel", "scikit-image", "skimage/data/motorcycle_left.png", (741, 500),
              "Middlebury 2014 stereo data set (Scharstein et al., GCPR 2014), shipped in scikit-image; "
              "no separate licence stated, cite the paper",
              "left view, downsampled 4x by scikit-image (local mean)"),
]

PLASMA_PHOTOS = ["BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
                 "Grey", "Kite", "OneStandsOut", "Path", "summer_1am"]
MATE_PHOTOS = ["Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
               "Storm", "TwoWings", "Wood", "YellowFlower"]
PALAPELI_PHOTOS = ["castle-maintenon", "cincinnati-bridge", "citrus-fruits", "european-honey-bee",
                   "panther-chameleon-female"]


@dataclass
class TrainImage:
    name: str  # output stem
    package: str
    member: str
    licence: str
    author: str


# ---------------------------------------------------------------------------------------------
# Fetching and reading archives
# ---------------------------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_deb(package: str, version: str | None, cache: Path) -> Path:
    """``apt-get download`` one package into ``cache`` (reused when already there)."""
    def present() -> list[Path]:
        found = sorted(cache.glob(f"{package}_*.deb"))
        if version is not None:
            quoted = version.replace(":", "%3a")
            found = [p for p in found if p.name.startswith(f"{package}_{quoted}_")]
        return found

    if not present():
        spec = f"{package}={version}" if version else package
        run = subprocess.run(["apt-get", "download", spec], cwd=cache, capture_output=True, text=True)
        if run.returncode != 0 and version is not None:
            warnings.warn(f"{spec} is not available ({run.stderr.strip()}); using the current version", stacklevel=2)
            return fetch_deb(package, None, cache)
        if run.returncode != 0:
            raise RuntimeError(f"apt-get download {spec} failed (run `apt-get update` first?):\n{run.stderr}")
    found = present() or sorted(cache.glob(f"{package}_*.deb"))
    return found[-1]


def fetch_wheel(package: str, version: str, cache: Path) -> Path:
    """``pip download --no-deps`` one wheel into ``cache`` (reused when already there)."""
    stem = package.replace("-", "_")
    found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "-q", "-d", str(cache), f"{package}=={version}"], check=True)
        found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise RuntimeError(f"pip download {package}=={version} produced no wheel in {cache}")
    return found[0]


def deb_version(deb: Path) -> str:
    return deb.name.split("_")[1].replace("%3a", ":")


class DebArchive:
    """Members of a ``.deb``'s data tarball, read without dpkg (``ar`` container + tar)."""

    def __init__(self, path: Path):
        self.path = path
        raw = path.read_bytes()
        if raw[:8] != b"!<arch>\n":
            raise ValueError(f"{path} is not an ar archive")
        pos, data = 8, None
        while pos + 60 <= len(raw):
            header = raw[pos:pos + 60]
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            body = raw[pos + 60:pos + 60 + size]
            if name.startswith("data.tar"):
                data = (name, body)
            pos += 60 + size + (size & 1)
        if data is None:
            raise ValueError(f"{path} has no data.tar member")
        name, body = data
        if name.endswith(".zst"):
            import zstandard  # only needed for zstd-compressed packages (newer Ubuntu)

            body = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)).read()
        self.tar = tarfile.open(fileobj=io.BytesIO(body))
        self.names = {m.name.lstrip("./"): m for m in self.tar.getmembers() if m.isfile()}

    def read(self, member: str) -> bytes:
        info = self.names.get(member)
        if info is None:
            raise KeyError(f"{member} not in {self.path.name}")
        return self.tar.extractfile(info).read()

    def glob(self, pattern: str) -> list[str]:
        rx = re.compile(pattern)
        return sorted(n for n in self.names if rx.fullmatch(n))


# ---------------------------------------------------------------------------------------------
# Licence metadata shipped inside the packages
# ---------------------------------------------------------------------------------------------


def dep5_lookup(copyright_text: str, relpath: str) -> tuple[str, str]:
    """(copyright, licence) of ``relpath`` in a machine-readable debian/copyright file."""
    best = None
    for stanza in re.split(r"\n\s*\n", copyright_text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Files" not in fields:
            continue
        patterns = fields["Files"].split()
        for pat in patterns:
            rx = "^" + re.escape(pat).replace(r"\*", ".*").replace(r"\?", ".") + "$"
            if re.match(rx, relpath):
                best = fields  # later stanzas override earlier ones (DEP-5 rule)
    if best is None:
        return "", ""
    # (strip a stray accent that follows an e-mail address in mate-backgrounds' file)
    holders = "; ".join(x.strip().rstrip("´") for x in best.get("Copyright", "").splitlines() if x.strip())
    return holders, best.get("License", "").splitlines()[0].strip()


def train_images(archives: dict[str, DebArchive]) -> list[TrainImage]:
    out = []
    plasma = archives["plasma-workspace-wallpapers"]
    for w in PLASMA_PHOTOS:
        base = f"usr/share/wallpapers/{w}"
        meta = json.loads(plasma.read(f"{base}/metadata.json"))["KPlugin"]
        authors = ", ".join(a.get("Name", "") for a in meta.get("Authors", []))
        images = plasma.glob(re.escape(base) + r"/contents/images/\d+x\d+\.(jpg|png)")
        largest = max(images, key=lambda n: np.prod([int(v) for v in Path(n).stem.split("x")]))
        out.append(TrainImage(f"plasma-{w}", "plasma-workspace-wallpapers", largest,
                              f"{meta.get('License', '?')} (upstream metadata.json); Debian: GPL-2+", authors))
    mate = archives["mate-backgrounds"]
    mate_copyright = mate.read("usr/share/doc/mate-backgrounds/copyright").decode()
    for w in MATE_PHOTOS:
        holders, lic = dep5_lookup(mate_copyright, f"nature/{w}.jpg")
        out.append(TrainImage(f"mate-{w}", "mate-backgrounds", f"usr/share/backgrounds/mate/nature/{w}.jpg",
                              lic, holders))
    pal = archives["palapeli-data"]
    for w in PALAPELI_PHOTOS:
        desktop = pal.read(f"usr/share/palapeli/collection/{w}.desktop").decode()
        fields = dict(re.findall(r"^(X-KDE-PluginInfo-\w+)=(.*)$", desktop, flags=re.M))
        lic = fields.get("X-KDE-PluginInfo-License", "?")
        site = fields.get("X-KDE-PluginInfo-Website", "")
        out.append(TrainImage(f"palapeli-{w}", "palapeli-data", f"usr/share/palapeli/collection/{w}.jpg",
                              f"{lic} (Wikimedia Commons: {site})", fields.get("X-KDE-PluginInfo-Author", "")))
    lom = archives["lomiri-wallpapers-20.04"]
    holders, lic = dep5_lookup(lom.read("usr/share/doc/lomiri-wallpapers-20.04/copyright").decode(),
                               "20.04/Kleiber_by_Lukas_Baubkus.jpg")
    out.append(TrainImage("lomiri-Kleiber", "lomiri-wallpapers-20.04",
                          "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg", lic, holders))
    return out


# ---------------------------------------------------------------------------------------------
# Writing images
# ---------------------------------------------------------------------------------------------


def clean_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB pixels only: no ICC profile, gamma, text or EXIF chunks are carried over."""
    if img.mode not in ("RGB", "L"):
        raise ValueError(f"unexpected source mode {img.mode}")
    return Image.fromarray(np.asarray(img.convert("RGB"), dtype=np.uint8), mode="RGB")


def save_png(img: Image.Image, path: Path) -> None:
    img.save(path, "PNG", optimize=True)


def build_eval(out: Path, archives: dict[str, DebArchive], wheels: dict[str, Path]) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in EVAL:
        if spec.kind == "deb":
            data = archives[spec.package].read(spec.member)
            origin = f"Debian `{spec.package}` {deb_version(archives[spec.package].path)}"
        else:
            data = zipfile.ZipFile(wheels[spec.package]).read(spec.member)
            origin = f"PyPI `{spec.package}` {WHEELS[spec.package]} wheel"
        with Image.open(io.BytesIO(data)) as src:
            src.load()
            img = clean_rgb(src)
        if img.size != spec.size:
            raise ValueError(f"{spec.name}: expected {spec.size}, got {img.size}")
        a = np.asarray(img)
        if a.std() < 10 or len(np.unique(a.reshape(-1, 3), axis=0)) < 5000:
            raise ValueError(f"{spec.name} does not look like a photograph")
        if spec.name == "kodim23" and not (a[-1] == a[-2]).all():
            raise ValueError("kodim23: expected sporco's repeated bottom line")
        path = out / f"{spec.name}.png"
        save_png(img, path)
        rows.append(dict(file=path.name, size=f"{img.width}×{img.height}", bytes=path.stat().st_size,
                         origin=f"{origin}, `{spec.member}`", licence=spec.licence,
                         sha256=sha256_file(path), notes=spec.notes))
        print(f"eval  {path.name:22s} {img.width}x{img.height}  {path.stat().st_size / 1e3:7.0f} kB")
    return rows


def build_train(out: Path, archives: dict[str, DebArchive], side: int) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    rows = []
    for spec in train_images(archives):
        with Image.open(io.BytesIO(archives[spec.package].read(spec.member))) as src:
            src.load()
            src_size = src.size
            img = clean_rgb(ImageOps.exif_transpose(src))
        w, h = img.size
        scale = side / max(w, h)
        new = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = img.resize(new, Image.Resampling.LANCZOS, reducing_gap=None)
        path = out / f"{spec.name}.png"
        save_png(img, path)
        pkg = archives[spec.package]
        rows.append(dict(file=path.name, size=f"{img.width}×{img.height}",
                         source_size=f"{src_size[0]}×{src_size[1]}", bytes=path.stat().st_size,
                         origin=f"`{spec.package}` {deb_version(pkg.path)}, `{spec.member}`",
                         author=spec.author, licence=spec.licence, sha256=sha256_file(path)))
        print(f"train {path.name:40s} {src_size[0]}x{src_size[1]} -> {img.width}x{img.height}  "
              f"{path.stat().st_size / 1e3:5.0f} kB")
    return rows


# ---------------------------------------------------------------------------------------------
# SOURCES.md
# ---------------------------------------------------------------------------------------------


def md_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        vals = []
        for key, _ in columns:
            v = r[key]
            vals.append(f"`{v}`" if key == "sha256" else cell(v))
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines)


def archive_table(paths: list[Path]) -> str:
    rows = [dict(archive=p.name, bytes=p.stat().st_size, sha256=sha256_file(p)) for p in paths]
    return md_table(rows, [("archive", "archive"), ("bytes", "bytes"), ("sha256", "sha256")])


EVAL_HEADER = """\
# Offline evaluation set

Ten lossless 8-bit RGB photographs, committed so that every chapter, test and CI run can evaluate
codecs without internet. **These are not the Kodak-24 set**: only three of them (kodim02, kodim07,
kodim23) are Kodak images. Label results on them "offline evaluation set", never "Kodak". Users
with internet get the real Kodak 24 with `lic.data.download_kodak()`.

The PNGs hold pixels only (no ICC profile, gamma or text chunks), at the size they were shipped
in (nothing resized). Rebuild them with `python scripts/build_data.py --only eval`; that script
wrote this file. Load them with `lic.data.evaluation_set()`.

"""

EVAL_FOOTER = """
Licences, as stated by the packages that ship the images:

* Kodak images: "released by the Eastman Kodak Company for unrestricted usage" (r0k.us; the
  `tiff` crate's `tests/benches/README.md` and sporco's `data/README.rst` repeat it).
* monarch, sail, tulips: Waterloo BragZone images, "free of copyright restrictions" (sporco's
  `data/README.rst`, citing the BragZone readme).
* astronaut: NASA, public domain; chelsea, coffee: CC0 (per the `skimage.data` docstrings).
* motorcycle_left: from the Middlebury 2014 stereo data set (D. Scharstein, H. Hirschmüller,
  Y. Kitajima, G. Krathwohl, N. Nesic, X. Wang, P. Westling, "High-resolution stereo datasets with
  subpixel-accurate ground truth", GCPR 2014), as shipped (4× downsampled) in scikit-image;
  no separate licence is stated; cite the paper.

The packages themselves are MIT (`tiff` crate), BSD-3-Clause (sporco, scikit-image).

Archives read (sha256 of the files the builder used):

"""

TRAIN_HEADER = """\
# Small offline training pool

{n} real photographs (no paintings or renderings) from Debian wallpaper packages, for random
crops in CPU training (CI, notebooks) and as a portable pool to carry to a GPU machine. Each was
converted to 8-bit RGB (EXIF orientation applied, metadata dropped) and resized with a Lanczos
filter so that its **longer side is {side} px** (sources are 1–20 Mpx JPEGs; the downscale removes
their JPEG blocking and keeps the repository small). Total: {total:.1f} MB.

This pool is tiny next to the usual training sets (DIV2K: 800 images of ~2K×1.4K, CLIC, ImageNet
subsets): models trained on it are for demonstration, not for state-of-the-art results. Point
`lic.data.training_loader()` at your own folder, or fetch DIV2K with `lic.data.download_div2k()`.

Rebuild with `python scripts/build_data.py --only train` (that script wrote this file).

**Licences.** Each image keeps the licence of its source; the downscaled PNGs are derived works
under that same licence (GPL-2+, LGPL-3, GFDL, CC-BY-SA-3.0 or public domain, as listed), not under
the repository's MIT licence. Redistributing them requires keeping this attribution file. The
`plasma-*` images are LGPLv3 per their upstream `metadata.json` and GPL-2+ per the Debian
`copyright` file (which covers the whole package); the `mate-*` and `lomiri-*` rows come from the
packages' `debian/copyright`, the `palapeli-*` rows from the puzzles' `.desktop` files (Wikimedia
Commons originals).

"""


def write_sources(data_root: Path, eval_rows: list[dict] | None, train_rows: list[dict] | None,
                  side: int, eval_archives: list[Path], train_archives: list[Path]) -> None:
    if eval_rows is not None:
        total = sum(r["bytes"] for r in eval_rows)
        text = EVAL_HEADER + md_table(eval_rows, [
            ("file", "file"), ("size", "size (W×H)"), ("bytes", "bytes"), ("origin", "origin"),
            ("licence", "licence"), ("sha256", "sha256 (PNG file)"), ("notes", "notes")])
        text += f"\n\nTotal: {len(eval_rows)} files, {total / 1e6:.2f} MB.\n" + EVAL_FOOTER
        text += archive_table(eval_archives) + "\n"
        (data_root / "eval" / "SOURCES.md").write_text(text, encoding="utf-8")
    if train_rows is not None:
        total = sum(r["bytes"] for r in train_rows)
        text = TRAIN_HEADER.format(n=len(train_rows), side=side, total=total / 1e6)
        text += md_table(train_rows, [
            ("file", "file"), ("size", "size (W×H)"), ("source_size", "source size"), ("bytes", "bytes"),
            ("origin", "origin (Debian package, path)"), ("author", "author / copyright"),
            ("licence", "licence"), ("sha256", "sha256 (PNG file)")])
        text += "\n\nArchives read (sha256 of the `.deb` files the builder used):\n\n"
        text += archive_table(train_archives) + "\n"
        (data_root / "train" / "SOURCES.md").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "data", help="data root (default: repo/data)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "lic-build",
                   help="where downloaded .deb/.whl files are kept")
    p.add_argument("--only", choices=("eval", "train"), help="build one set only")
    p.add_argument("--train-side", type=int, default=512, help="longer side of training images (px)")
    args = p.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)

    do_eval, do_train = args.only in (None, "eval"), args.only in (None, "train")
    need_debs = (["librust-tiff-dev"] if do_eval else []) + (
        [d for d in DEBS if d != "librust-tiff-dev"] if do_train else [])
    archives = {d: DebArchive(fetch_deb(d, DEBS[d], args.cache)) for d in need_debs}
    wheels = {w: fetch_wheel(w, v, args.cache) for w, v in WHEELS.items()} if do_eval else {}

    eval_rows = build_eval(args.out / "eval", archives, wheels) if do_eval else None
    train_rows = build_train(args.out / "train", archives, args.train_side) if do_train else None
    write_sources(args.out, eval_rows, train_rows, args.train_side,
                  [archives["librust-tiff-dev"].path, *wheels.values()] if do_eval else [],
                  [archives[d].path for d in need_debs if d != "librust-tiff-dev"])
    for name, rows in (("eval", eval_rows), ("train", train_rows)):
        if rows is not None:
            print(f"data/{name}: {len(rows)} images, {sum(r['bytes'] for r in rows) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
