"""Decoding image and mask files, with errors that name the file (never a silent skip)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from m2dino.data.errors import DataError

Image.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not a half-grey image


def _open(path: Path, what: str, data: bytes | None = None) -> Image.Image:
    if data is None and not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        im = Image.open(path if data is None else io.BytesIO(data))
        im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{what} unreadable or truncated: {path} ({e})") from e
    return im


def read_image(path: Path, data: bytes | None = None) -> np.ndarray:
    """Pixels as uint8, [H, W] for grayscale or [H, W, 3] for colour (alpha dropped, palettes expanded).

    ``data``: the file's bytes when the caller has already read them (validation hashes them too).
    """
    im = _open(path, "image", data)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.max() > 0 else 1.0
        return np.clip(a / (65535.0 if top > 255 else 255.0) * 255.0, 0, 255).astype(np.uint8)
    if im.mode in ("L", "1", "F", "LA"):
        return np.array(im.convert("L"), dtype=np.uint8)
    return np.array(im.convert("RGB"), dtype=np.uint8)


def read_mask(path: Path) -> np.ndarray:
    """Class indices as int64 [H, W]; a mask must be single-channel (L, P or 16-bit)."""
    im = _open(path, "mask")
    if im.mode not in ("L", "P", "1", "I;16", "I;16B", "I;16L", "I"):
        raise DataError(f"mask must be a single-channel PNG of class indices, got mode {im.mode}: {path}")
    return np.asarray(im, dtype=np.int64)


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) from the header only."""
    with Image.open(path) as im:
        return im.height, im.width
