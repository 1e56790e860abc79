"""Downloads for machines with internet (Kodak, DIV2K), verified by checksum.

The book itself never needs them: its photos ship in ``data/``. The fetch function is injectable,
so tests run the whole path on local files.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from .images import IMAGE_SUFFIXES

# ---------------------------------------------------------------------------------------------
# Downloads (for machines with internet), verified by checksum
# ---------------------------------------------------------------------------------------------

#: ``fetch(url, path)`` writes the bytes at ``url`` to ``path``; injectable for tests/mirrors.
Fetch = Callable[[str, Path], None]

KODAK_URL = "http://r0k.us/graphics/kodak/kodak/"

#: sha256 of the 24 PNGs served at ``KODAK_URL``. Not checked from this project's build machines
#: (they have no internet): copied from the pinned tables of three independent public projects,
#: which agree on all 24 values. Pass ``sha256=None`` to :func:`download_kodak` to skip the check
#: and record the hashes instead.
KODAK_SHA256: dict[str, str] = {
    "kodim01.png": "a56e27cbf5f843c048b6af1d6e090760e9c92fadba88b7dee0205918a37523bd",
    "kodim02.png": "4f4b74a79237e311d72cad958237b5f7088d8bce1c82305ebefe1a70e3022dfd",
    "kodim03.png": "e25ca1ff2f0c0cb5fdfd5f9b0a0bb21ac4c3de3c84a67f35b09a85d3306249db",
    "kodim04.png": "e3b946107c5d3441c022f678d0c3caf1e224d81b1604ba840a4f88e562de61aa",
    "kodim05.png": "10349e963c5c813d327852f82c1795fa4148d69fedffc4c589bee458e3ac3d53",
    "kodim06.png": "363510303b715d4cbc384e1ce227e466b613a09e1b71ae985882bf8e7fbd9b18",
    "kodim07.png": "b77d3f006f42414bb242222e0482e750c0fb9e5ee8d4bed2f6f11c5605fe54a4",
    "kodim08.png": "ba23983c76b4832ee0e8af0592664756841a16779acd69f792e268fb6d13d6e7",
    "kodim09.png": "6a4361c2fc194feb4edaa9f9a4a0620fb9943e460ac7fdf037fb0f6dd6607a7d",
    "kodim10.png": "9dfb70f5867c29ff9ed6313683f19b3d867849e40fbc0c4c54a4a89df341cf23",
    "kodim11.png": "7936814b58b5387fce2e4e2488b4ec830dadd95fa9520f358ddb30990b50f2b6",
    "kodim12.png": "d78c37c2f04f23761ed2367dd77e2db584ddd4c3950833fecf89f199a8126980",
    "kodim13.png": "bc34a3ce58dea09dce1704c997171602de90cb34d0c8503a988b77f473d39b08",
    "kodim14.png": "55a94550ff18f3246c4074fd32b77b0c74447c26b6ad274d564d999c0450ba6e",
    "kodim15.png": "7538cbb80cb9103606c48b806eae57d56c885c7f90b9b3be70a41160f9cbb683",
    "kodim16.png": "a89c7268ccd4718ba424a99fc4643c572cf692ca6eae887185ceb4e9f11d2e54",
    "kodim17.png": "37afcc89fbdcb76d9518e04b2fc011027e2f4cd14b3b2f83cefd721641a47c5b",
    "kodim18.png": "1a9258c365988961d87a0598725b609139c303ad48a5aad6c503c3b1a87849aa",
    "kodim19.png": "b7450b264b1b0a411390d8931b112c27905a992520fc90569dc4b920aa32bbdc",
    "kodim20.png": "3b46c71e3b92a563820ba32936be8330c586c41f938efd94be938386aae4328a",
    "kodim21.png": "ac958597c82073f6bb65129c68f72b651db5b9efd82e11547d07350214bc268b",
    "kodim22.png": "1cee58eb1f2d9c7ebb254d208a03c783ce6cf2c4d8c2cf45e235dd23b4ce1b29",
    "kodim23.png": "e3111a2fd4da24af15d6459ef9eacfe54106b38e27b4a21821b75c3f5d2d5baf",
    "kodim24.png": "1071c68372cc5a01435c2c225a5cf7d4bb803846ec08bb6b3d6721b156d7cb96",
}

#: DIV2K training set, 800 PNGs (~2040 px wide), 3 530 603 713 bytes. For academic research
#: only (see https://data.vision.ee.ethz.ch/cvl/DIV2K/). The md5 is the one that many public
#: projects pin; it was not checked from this project's build machines.
DIV2K_TRAIN_HR_URL = "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip"
DIV2K_TRAIN_HR_MD5 = "bdc2d9338d4e574fe81bf7d158758658"


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``"sha256"``, ``"md5"``, ...)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _urllib_fetch(url: str, path: Path, *, progress: bool = True, timeout: float = 60.0) -> None:
    """Stream ``url`` into ``path`` with a byte progress bar."""
    request = urllib.request.Request(url, headers={"User-Agent": "lic (learned image compression book)"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                  desc=Path(urllib.parse.urlparse(url).path).name, disable=not progress) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def _fetch_checked(fetch: Fetch, url: str, target: Path, expected: str | None, algorithm: str) -> str:
    """Fetch ``url`` to ``target`` via a ``.part`` file; on a checksum mismatch delete and raise."""
    part = target.with_name(target.name + ".part")
    try:
        fetch(url, part)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    digest = file_digest(part, algorithm)
    if expected is not None and digest != expected.lower():
        part.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise ValueError(
            f"{algorithm} mismatch for {url}: expected {expected}, got {digest}; the download was deleted"
        )
    os.replace(part, target)
    return digest


def download_kodak(
    dest: str | Path,
    base_url: str = KODAK_URL,
    sha256: dict[str, str] | None = KODAK_SHA256,
    *,
    indices: Iterable[int] = range(1, 25),
    fetch: Fetch | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download the Kodak PhotoCD test images ``kodimNN.png`` into ``dest``; return their paths.

    Every file is checked against ``sha256`` (default :data:`KODAK_SHA256`): a mismatch deletes
    the file and raises ``ValueError``. Files already in ``dest`` with the right hash are not
    downloaded again (a present file with a wrong hash is). With ``sha256=None`` nothing is
    checked: the hashes are printed and, as always, written to ``dest/SHA256SUMS``.
    ``indices`` picks a subset (1-based); ``fetch(url, path)`` replaces the urllib download.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if fetch is None:
        fetch = lambda url, path: _urllib_fetch(url, path, progress=progress)  # noqa: E731
    base = base_url if base_url.endswith("/") else base_url + "/"
    names = [f"kodim{int(i):02d}.png" for i in indices]
    digests: dict[str, str] = {}
    paths = []
    for name in tqdm(names, desc="Kodak", unit="image", disable=not progress):
        expected = None
        if sha256 is not None:
            if name not in sha256:
                raise KeyError(f"no sha256 given for {name}")
            expected = sha256[name]
        target = dest / name
        if target.is_file():
            digest = file_digest(target)
            if expected is None or digest == expected:
                digests[name] = digest
                paths.append(target)
                continue
        digests[name] = _fetch_checked(fetch, base + name, target, expected, "sha256")
        paths.append(target)
    sums = "".join(f"{d}  {n}\n" for n, d in sorted(digests.items()))
    (dest / "SHA256SUMS").write_text(sums)
    if sha256 is None:
        print(f"sha256 of the downloaded files (also in {dest / 'SHA256SUMS'}):\n{sums}", end="")
    return paths


def download_div2k(
    dest: str | Path,
    *,
    url: str = DIV2K_TRAIN_HR_URL,
    md5: str | None = DIV2K_TRAIN_HR_MD5,
    downscale: int = 1,
    keep_zip: bool = True,
    fetch: Fetch | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download the DIV2K training images (3.5 GB zip) and unpack them; return the PNG paths.

    The zip goes to ``dest/DIV2K_train_HR.zip`` (checked against ``md5``; ``None`` skips the
    check; an archive already there with the right md5 is reused), the images to
    ``dest/DIV2K_train_HR/`` or, with ``downscale=2``, Lanczos-downscaled by 2 to
    ``dest/DIV2K_train_HR_x2/`` (halving also removes most camera noise and demosaicking
    artefacts, the usual practice for compression training sets). DIV2K is licensed for
    academic research only.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if fetch is None:
        fetch = lambda u, path: _urllib_fetch(u, path, progress=progress)  # noqa: E731
    archive = dest / Path(urllib.parse.urlparse(url).path).name
    if not (archive.is_file() and (md5 is None or file_digest(archive, "md5") == md5)):
        _fetch_checked(fetch, url, archive, md5, "md5")
    stem = archive.stem + (f"_x{downscale}" if downscale > 1 else "")
    paths = extract_images(archive, dest / stem, downscale=downscale, progress=progress)
    if not keep_zip:
        archive.unlink()
    return paths


def downscale_image(img: Image.Image, factor: float) -> Image.Image:
    """Lanczos-resize a PIL image by ``1/factor`` (sizes rounded, at least 1 px)."""
    w, h = img.size
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=None)


def extract_images(
    archive: str | Path, out_dir: str | Path, *, downscale: int = 1, progress: bool = True
) -> list[Path]:
    """Unpack the images of a zip into ``out_dir`` (flat, as PNG), optionally downscaled.

    Files already in ``out_dir`` are kept, so an interrupted run resumes. Returns sorted paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with zipfile.ZipFile(archive) as z:
        members = sorted(
            m for m in z.namelist() if not m.endswith("/") and Path(m).suffix.lower() in IMAGE_SUFFIXES
        )
        for member in tqdm(members, desc=f"unpacking {Path(archive).name}", unit="image", disable=not progress):
            target = out_dir / (Path(member).stem + ".png")
            paths.append(target)
            if target.is_file():
                continue
            part = target.with_name(target.name + ".part")
            with z.open(member) as src:
                if downscale == 1 and Path(member).suffix.lower() == ".png":
                    with open(part, "wb") as out:
                        shutil.copyfileobj(src, out)
                else:
                    with Image.open(src) as img:
                        img.load()
                        if img.mode not in ("RGB", "L"):
                            img = img.convert("RGB")
                        if downscale != 1:
                            img = downscale_image(img, downscale)
                        img.save(part, format="PNG")
            os.replace(part, target)
    return sorted(paths)
