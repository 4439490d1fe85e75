"""Load a photo safely for face work: EXIF orientation applied, any mode to 8-bit RGB, bombs refused.

face_recognition's own loader ignores EXIF orientation (a phone photo lying on its side has no
detectable face) and trusts any file; here every problem becomes a per-photo ImageLoadError.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from reunite.i18n import _

# 60 megapixels: a 12,000 x 5,000 panorama passes, a decompression bomb does not.
MAX_PIXELS = 60_000_000


class ImageLoadError(Exception):
    """The file is not a usable image; the message is the per-photo reason stored in the database."""


def load_rgb(path: Path) -> np.ndarray:
    """An HxWx3 uint8 array, upright as the camera saw it."""
    # face_recognition sets this to True when imported, silently accepting half-downloaded photos.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ImageLoadError(
                        _("image too large ({w}x{h} pixels; limit {limit:,})").format(
                            w=im.width, h=im.height, limit=MAX_PIXELS
                        )
                    )
                im.load()
                im = ImageOps.exif_transpose(im)
                return np.asarray(_to_rgb(im))
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(_("refused as a decompression bomb: {why}").format(why=exc)) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(_("not an image (unrecognised file format)")) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(_("damaged image: {why}").format(why=exc)) from exc


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() or 1.0
        return Image.fromarray((arr * (255.0 / top)).astype(np.uint8)).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # CMYK, L, P, YCbCr, F ...


def downscale(img: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy whose longer side is at most max_side, and the factor to map its coordinates back."""
    h, w = img.shape[:2]
    side = max(h, w)
    if side <= max_side:
        return img, 1.0
    scale = side / max_side
    small = Image.fromarray(img).resize((round(w / scale), round(h / scale)), Image.Resampling.BILINEAR)
    return np.asarray(small), scale


def blur_measure(gray: np.ndarray) -> float:
    """Variance of the Laplacian: low values mean a blurred face (a poor basis for a match)."""
    g = gray.astype(np.float64)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var()) if lap.size else 0.0
