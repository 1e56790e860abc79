"""Images in, images out: every image in the book is a float tensor ``[3, H, W]`` in [0, 1].

Loading accepts 8-bit RGB, grey (replicated to 3 channels), RGBA/LA (alpha composited on white,
with a warning) and 16-bit images (scaled to [0, 1]); anything else raises ``ValueError``.

Data sets: :func:`evaluation_set` (the ten committed photos in ``data/eval``, the "offline
evaluation set"), :class:`RandomCrops` / :func:`training_loader` (random patches from a folder,
by default the committed pool in ``data/train``), and, for machines with internet,
:func:`download_kodak` and :func:`download_div2k`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.parse
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".webp")


def from_array(array: np.ndarray) -> torch.Tensor:
    """``[H, W]`` or ``[H, W, C]`` uint8/uint16/float array -> ``[3, H, W]`` float tensor in [0, 1]."""
    a = np.asarray(array)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise ValueError(f"unsupported pixel type {a.dtype}; expected uint8, uint16 or float")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an image of shape [H, W] or [H, W, 1-4], got {list(a.shape)}")
    if a.shape[2] in (2, 4):  # grey+alpha or RGBA: composite on white
        warnings.warn("image has an alpha channel; compositing it on white", stacklevel=2)
        colour, alpha = a[:, :, :-1], a[:, :, -1:]
        a = colour * alpha + (1.0 - alpha)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).clamp_(0.0, 1.0)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` float tensor in [0, 1] -> ``[H, W, 3]`` uint8 array (rounded, clipped)."""
    check_image(image)
    a = image.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8)
    return a.permute(1, 2, 0).contiguous().numpy()


def from_uint8(array: np.ndarray) -> torch.Tensor:
    """``[H, W, 3]`` uint8 array -> ``[3, H, W]`` float tensor in [0, 1]."""
    return from_array(np.asarray(array, dtype=np.uint8))


def check_image(image: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``image`` is a ``[3, H, W]`` floating tensor."""
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor image, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[0] != 3 or image.shape[1] < 1 or image.shape[2] < 1:
        raise ValueError(f"expected an image tensor of shape [3, H, W], got {list(image.shape)}")
    if not image.is_floating_point():
        raise ValueError(f"expected a floating-point image in [0, 1], got dtype {image.dtype}")


def _pil_to_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img, dtype=np.uint16)
    if mode == "I":  # 32-bit int container, used by Pillow for 16-bit PNGs
        a = np.asarray(img)
        return a.astype(np.uint16) if a.max() <= 65535 and a.min() >= 0 else a.astype(np.float32) / a.max()
    if mode == "F":
        return np.asarray(img, dtype=np.float32)
    if mode in ("L", "RGB", "RGBA", "LA"):
        return np.asarray(img)
    if mode in ("P", "PA", "CMYK", "YCbCr", "1", "LAB", "HSV", "RGBX", "RGBa", "La"):
        target = "RGBA" if "transparency" in img.info or mode in ("PA", "RGBa", "La") else "RGB"
        return np.asarray(img.convert(target))
    raise ValueError(f"unsupported image mode {mode!r}")


def _png_bit_depth(path: Path) -> int:
    """The bit depth field of a PNG's IHDR chunk (byte 24 of the file)."""
    with open(path, "rb") as f:
        head = f.read(25)
    return head[24] if len(head) == 25 and head[12:16] == b"IHDR" else 0


def load_image(path: str | Path) -> torch.Tensor:
    """Read an image file as a ``[3, H, W]`` float tensor in [0, 1].

    Grey images are replicated to RGB, alpha is composited on white, 16-bit grey images keep their
    precision in the float values. 16-bit colour PNGs are read by Pillow at 8 bits per channel:
    they load with a warning saying so. Files that are not images raise ``ValueError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            array = _pil_to_array(img)
            if img.format == "PNG" and array.dtype == np.uint8 and _png_bit_depth(path) == 16:
                warnings.warn(f"{path}: 16-bit colour PNG read at 8 bits per channel", stacklevel=2)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path} is not a readable image: {err}") from err
    return from_array(array)


def save_image(image: torch.Tensor, path: str | Path) -> None:
    """Write an image tensor as an 8-bit file (format from the suffix; PNG is lossless)."""
    Image.fromarray(to_uint8(image)).save(Path(path))


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``[..., H, W]`` on the bottom/right by edge replication so H and W divide ``multiple``."""
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return image
    flat = image.reshape(-1, 1, h, w) if image.ndim != 4 else image
    padded = torch.nn.functional.pad(flat, (0, pw, 0, ph), mode="replicate")
    return padded.reshape(*image.shape[:-2], h + ph, w + pw)


def crop_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop ``[..., H, W]`` to its top-left ``height x width`` (undoes :func:`pad_to_multiple`)."""
    return image[..., :height, :width]


def list_images(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


# ---------------------------------------------------------------------------------------------
# The repository's data folders
# ---------------------------------------------------------------------------------------------


def _data_root() -> Path:
    env = os.environ.get("LIC_DATA")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "data"


#: The ``data/`` folder of the repository (``src/lic/../../data``), or ``$LIC_DATA`` when set.
#: Read once at import; the functions below look these names up when called, so assigning
#: ``lic.data.EVAL_DIR = ...`` also works.
REPO_DATA: Path = _data_root()
EVAL_DIR: Path = REPO_DATA / "eval"
TRAIN_DIR: Path = REPO_DATA / "train"

#: The offline evaluation set: name -> (height, width). Not the Kodak-24 set: label results
#: "offline evaluation set" (see ``data/eval/SOURCES.md``).
EVAL_SHAPES: dict[str, tuple[int, int]] = {
    "astronaut": (512, 512),
    "chelsea": (300, 451),
    "coffee": (400, 600),
    "kodim02": (512, 768),
    "kodim07": (512, 768),
    "kodim23": (512, 768),
    "monarch": (512, 768),
    "motorcycle_left": (500, 741),
    "sail": (512, 768),
    "tulips": (512, 768),
}


def _existing_folder(folder: str | Path, what: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no {what} folder at {folder}; set the LIC_DATA environment variable to the "
            "repository's data/ folder, or pass a folder explicitly"
        )
    return folder


def evaluation_paths(folder: str | Path | None = None) -> list[Path]:
    """The image files of the offline evaluation set (default ``EVAL_DIR``), sorted by name."""
    folder = _existing_folder(EVAL_DIR if folder is None else folder, "evaluation")
    paths = list_images(folder)
    if not paths:
        raise FileNotFoundError(f"no images in {folder}")
    return paths


def evaluation_set(
    names: Iterable[str] | str | None = None, folder: str | Path | None = None
) -> list[tuple[str, torch.Tensor]]:
    """``[(name, image)]`` of the offline evaluation set, sorted by name.

    ``names`` picks a subset (``"kodim23"`` or ``["sail", "tulips"]``); an unknown name raises
    ``KeyError``. Images are ``[3, H, W]`` float tensors in [0, 1], at their original sizes.
    """
    paths = {p.stem: p for p in evaluation_paths(folder)}
    if names is None:
        chosen = sorted(paths)
    else:
        wanted = [names] if isinstance(names, str) else list(names)
        missing = [n for n in wanted if n not in paths]
        if missing:
            raise KeyError(f"not in the evaluation set: {missing}; available: {sorted(paths)}")
        chosen = sorted(set(wanted))
    return [(name, load_image(paths[name])) for name in chosen]


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


# ---------------------------------------------------------------------------------------------
# Training crops
# ---------------------------------------------------------------------------------------------


def _load_uint8(path: Path) -> np.ndarray:
    """``[H, W, 3]`` uint8 array of an image file (fast path for 8-bit RGB, else via load_image)."""
    try:
        with Image.open(path) as img:
            if img.mode == "RGB":
                return np.array(img)
    except (UnidentifiedImageError, OSError):
        pass  # load_image raises the informative error
    return to_uint8(load_image(path))


class RandomCrops(torch.utils.data.Dataset):
    """Random ``crop x crop`` patches of a set of images, with random horizontal/vertical flips.

    All images are loaded once and kept as ``uint8`` arrays. Item ``i`` of epoch ``e`` is drawn
    from a generator seeded with ``(seed, e, i)``, so a given seed gives the same patches
    whatever the number of ``DataLoader`` workers or the order items are requested in; call
    :meth:`set_epoch` (or iterate with :func:`endless`) for fresh patches each epoch. An image is
    picked with probability proportional to its pixel count. Images smaller than the crop are
    padded by reflection (``small="pad"``) or left out (``small="skip"``), with a warning.

    ``images`` is a folder (default ``TRAIN_DIR``) or a list of image files. ``length`` is the
    number of patches per epoch. Items are ``[3, crop, crop]`` float tensors in [0, 1].
    """

    def __init__(
        self,
        images: str | Path | Sequence[str | Path] | None = None,
        crop: int = 256,
        *,
        length: int = 1024,
        seed: int = 0,
        flips: bool = True,
        small: str = "pad",
    ):
        if crop < 1 or length < 1:
            raise ValueError(f"crop and length must be positive, got crop={crop}, length={length}")
        if small not in ("pad", "skip"):
            raise ValueError(f"small must be 'pad' or 'skip', got {small!r}")
        if images is None:
            images = TRAIN_DIR
        if isinstance(images, (str, Path)):
            paths = list_images(_existing_folder(images, "training image"))
        else:
            paths = [Path(p) for p in images]
        self.crop, self.length, self.seed, self.flips = int(crop), int(length), int(seed), flips
        self.epoch = 0
        self.images: list[np.ndarray] = []
        self.paths: list[Path] = []
        for path in paths:
            array = _load_uint8(path)
            h, w = array.shape[:2]
            if h < crop or w < crop:
                if small == "skip":
                    warnings.warn(f"skipping {path.name} ({w}x{h}): smaller than the {crop}px crop", stacklevel=2)
                    continue
                warnings.warn(f"padding {path.name} ({w}x{h}) by reflection to fit the {crop}px crop", stacklevel=2)
                ph, pw = max(0, crop - h), max(0, crop - w)
                array = np.pad(array, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")
            self.images.append(np.ascontiguousarray(array))
            self.paths.append(path)
        if not self.images:
            raise ValueError(f"no usable training images in {images}")
        pixels = np.array([a.shape[0] * a.shape[1] for a in self.images], dtype=np.float64)
        self.weights = pixels / pixels.sum()

    def set_epoch(self, epoch: int) -> None:
        """Draw a different (still deterministic) set of patches for this epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} patches")
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        array = self.images[rng.choice(len(self.images), p=self.weights)]
        h, w = array.shape[:2]
        c = self.crop
        y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        patch = array[y : y + c, x : x + c]
        if self.flips:
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            if rng.random() < 0.5:
                patch = patch[::-1]
        tensor = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1)
        return tensor.float().div_(255.0)

    def __repr__(self) -> str:
        return (f"RandomCrops({len(self.images)} images, crop={self.crop}, length={self.length}, "
                f"seed={self.seed}, epoch={self.epoch})")


def training_loader(
    folder: str | Path | Sequence[str | Path] | None = None,
    crop: int = 256,
    batch_size: int = 8,
    seed: int = 0,
    num_workers: int = 0,
    *,
    length: int = 1024,
    **dataset_options,
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` of ``[batch_size, 3, crop, crop]`` batches of :class:`RandomCrops`.

    ``folder`` defaults to the committed pool ``TRAIN_DIR``; ``length`` patches make one epoch
    (incomplete last batches are dropped). The batches are deterministic given ``seed``; use
    :func:`endless` to loop over epochs with fresh patches.
    """
    dataset = RandomCrops(folder, crop, length=length, seed=seed, **dataset_options)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, drop_last=True, num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
    )


def endless(loader: torch.utils.data.DataLoader) -> Iterator[torch.Tensor]:
    """Yield batches forever, calling ``loader.dataset.set_epoch(e)`` before each pass."""
    epoch = 0
    while True:
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(epoch)
        yield from loader
        epoch += 1
