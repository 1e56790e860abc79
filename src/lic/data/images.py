"""Images in, images out: every image in the book is a float tensor ``[3, H, W]`` in [0, 1].

Loading accepts 8-bit RGB, grey (replicated to 3 channels), RGBA/LA (alpha composited on white,
with a warning) and 16-bit images (scaled to [0, 1]); anything else raises ``ValueError``.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

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


#: ITU-R BT.601 luma weights of R, G and B, as in JPEG/JFIF and Pillow's ``"L"`` mode.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def luminance(images: torch.Tensor) -> torch.Tensor:
    """The luma ``Y = 0.299 R + 0.587 G + 0.114 B`` of ``[..., 3, H, W]`` images, as ``[..., 1, H, W]``
    (differentiable; no rounding)."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device).reshape(3, 1, 1)
    return (images * weights).sum(dim=-3, keepdim=True)


def to_grey(image: torch.Tensor) -> torch.Tensor:
    """A ``[3, H, W]`` image's 8-bit luminance as a grey ``[3, H, W]`` image (Y in every channel).

    The grey images every luminance comparison codes (Chapter 4): rounded to 8-bit levels, they
    are exactly what a greyscale JPEG receives (Pillow's ``"L"`` conversion leaves them unchanged).
    """
    check_image(image)
    return luminance(image.float()).mul(255).round().div(255).expand(3, -1, -1).contiguous()


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
