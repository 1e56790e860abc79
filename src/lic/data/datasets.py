"""The book's photos: the validation split, the offline evaluation set and random training crops.

:func:`validation_set` reads the committed photos in ``data/validation``, on which every model
choice is made; :func:`evaluation_set` reads the ten committed photos in ``data/eval`` (the
"offline evaluation set"), which are only reported; :class:`RandomCrops` /
:func:`training_loader` draw random patches from a folder, by default the committed pool in
``data/train``. ``data/ROLES.json`` gives each committed photo its one role.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .images import list_images, load_image, to_uint8

# ---------------------------------------------------------------------------------------------
# The repository's data folders
# ---------------------------------------------------------------------------------------------


def _data_root() -> Path:
    env = os.environ.get("LIC_DATA")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[3] / "data"


#: The ``data/`` folder of the repository (``src/lic/data/../../../data``), or ``$LIC_DATA`` when
#: set. Read once at import; the functions below look these names up when called, so assigning
#: ``lic.data.datasets.EVAL_DIR = ...`` also works.
REPO_DATA: Path = _data_root()
EVAL_DIR: Path = REPO_DATA / "eval"
TRAIN_DIR: Path = REPO_DATA / "train"
#: The validation split: every model choice (checkpoint, lambda, width, steps, codec settings)
#: is made on these photos; ``EVAL_DIR`` is only reported (see ``data/validation/SOURCES.md``).
VALIDATION_DIR: Path = REPO_DATA / "validation"

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


def _image_paths(folder: str | Path, what: str) -> list[Path]:
    folder = _existing_folder(folder, what)
    paths = list_images(folder)
    if not paths:
        raise FileNotFoundError(f"no images in {folder}")
    return paths


def _named_images(paths: list[Path], names: Iterable[str] | str | None, what: str) -> list[tuple[str, torch.Tensor]]:
    by_name = {p.stem: p for p in paths}
    if names is None:
        chosen = sorted(by_name)
    else:
        wanted = [names] if isinstance(names, str) else list(names)
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise KeyError(f"not in the {what} set: {missing}; available: {sorted(by_name)}")
        chosen = sorted(set(wanted))
    return [(name, load_image(by_name[name])) for name in chosen]


def evaluation_paths(folder: str | Path | None = None) -> list[Path]:
    """The image files of the offline evaluation set (default ``EVAL_DIR``), sorted by name."""
    return _image_paths(EVAL_DIR if folder is None else folder, "evaluation")


def evaluation_set(
    names: Iterable[str] | str | None = None, folder: str | Path | None = None
) -> list[tuple[str, torch.Tensor]]:
    """``[(name, image)]`` of the offline evaluation set, sorted by name.

    Only report results on it: choose checkpoints, lambdas, widths and step counts on
    :func:`validation_set`. ``names`` picks a subset (``"kodim23"`` or ``["sail", "tulips"]``);
    an unknown name raises ``KeyError``. Images are ``[3, H, W]`` float tensors in [0, 1], at
    their original sizes.
    """
    return _named_images(evaluation_paths(folder), names, "evaluation")


def validation_paths(folder: str | Path | None = None) -> list[Path]:
    """The image files of the validation split (default ``VALIDATION_DIR``), sorted by name."""
    return _image_paths(VALIDATION_DIR if folder is None else folder, "validation")


def validation_set(
    names: Iterable[str] | str | None = None, folder: str | Path | None = None
) -> list[tuple[str, torch.Tensor]]:
    """``[(name, image)]`` of the validation split, sorted by name.

    Every model choice (checkpoint, rate-distortion lambda, width, number of steps, codec
    settings) is made on this split; :func:`evaluation_set` (``data/eval``) is only reported,
    never used to choose. Its photos come from packages that neither ``data/train`` nor
    ``data/eval`` uses (``data/validation/SOURCES.md``). ``names`` picks a subset
    (``"scipy-face"``); an unknown name raises ``KeyError``. Images are ``[3, H, W]`` float
    tensors in [0, 1].
    """
    return _named_images(validation_paths(folder), names, "validation")


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
