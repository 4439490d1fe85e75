"""Photos -> face encodings, with face_recognition's real dlib models, in a process pool.

One face per photo is expected: none -> retry with more upsampling, then `no_face`; several -> the largest,
most central face is the subject, the others are counted and the photo is flagged for review. Detection runs
on a downscaled copy; the encoding uses the full-resolution crop, so a 4000x3000 phone photo costs little
more than a small one. Results are cached by (photo sha256, settings): re-running does no repeated work.
The dlib models are loaded on first use in each worker process, never at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from reunite.imageio import ImageLoadError, blur_measure, downscale, load_rgb
from reunite.locks import worker_pool

ProgressFn = Callable[[int, int], None]


@cache
def encoder_version() -> str:
    try:
        dlib_version = metadata.version("dlib-bin")
    except metadata.PackageNotFoundError:
        dlib_version = metadata.version("dlib")
    return f"dlib_face_recognition_resnet_model_v1/dlib-{dlib_version}"


@dataclass(frozen=True)
class EncodeSettings:
    """What decides an encoding; part of the cache key, so changing any of it re-encodes."""

    model: str = "hog"  # detector: hog (CPU) or cnn (slow without a GPU)
    jitters: int = 1
    upsample: int = 1
    max_side: int = 1024  # detection runs on a copy no larger than this

    @property
    def key(self) -> str:
        return f"{self.model}/up{self.upsample}/j{self.jitters}/max{self.max_side}/{encoder_version()}"


@dataclass
class FaceResult:
    status: str  # encoded | no_face | failed
    error: str | None = None
    n_faces: int = 0
    box: tuple[int, int, int, int] | None = None  # top, right, bottom, left in original pixels
    face_px: int | None = None
    blur: float | None = None
    review: bool = False
    encoding: np.ndarray | None = None  # float32[128]


def _fr():
    """face_recognition loads its dlib models when imported: import it only where faces are encoded."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # face_recognition_models' pkg_resources notice
        import face_recognition

    return face_recognition


def pick_subject(boxes: list[tuple[int, int, int, int]], shape: tuple[int, ...]) -> int:
    """Index of the largest, most central face (area discounted by distance from the image centre)."""
    h, w = shape[:2]

    def score(b: tuple[int, int, int, int]) -> float:
        top, right, bottom, left = b
        cy, cx = (top + bottom) / 2 / h - 0.5, (left + right) / 2 / w - 0.5
        return (bottom - top) * (right - left) * (1.0 - (cx * cx + cy * cy) ** 0.5)

    return max(range(len(boxes)), key=lambda i: score(boxes[i]))


def encode_image(path: Path | str, settings: EncodeSettings = EncodeSettings()) -> FaceResult:
    """Encode the subject's face in one photo; every problem is a result, never an exception."""
    try:
        img = load_rgb(Path(path))
    except ImageLoadError as exc:
        return FaceResult("failed", error=str(exc))
    except MemoryError:
        return FaceResult("failed", error="out of memory decoding the image")
    fr = _fr()
    small, scale = downscale(img, settings.max_side)
    boxes = fr.face_locations(small, number_of_times_to_upsample=settings.upsample, model=settings.model)
    if not boxes and settings.model == "hog":
        boxes = fr.face_locations(small, number_of_times_to_upsample=settings.upsample + 1, model="hog")
    if not boxes:
        return FaceResult("no_face", error="no face found (also with more upsampling)")
    i = pick_subject(boxes, small.shape)
    top, right, bottom, left = (round(v * scale) for v in boxes[i])
    h, w = img.shape[:2]
    top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    margin = max(bottom - top, right - left) // 2
    y0, x0 = max(top - margin, 0), max(left - margin, 0)
    crop = np.ascontiguousarray(img[y0 : min(bottom + margin, h), x0 : min(right + margin, w)])
    encs = fr.face_encodings(
        crop,
        known_face_locations=[(top - y0, right - x0, bottom - y0, left - x0)],
        num_jitters=settings.jitters,
        model="small",
    )
    if not encs:
        return FaceResult("failed", error="face found but could not be encoded")
    face = crop[top - y0 : bottom - y0, left - x0 : right - x0]
    gray = face.mean(axis=2)
    return FaceResult(
        "encoded",
        n_faces=len(boxes),
        box=(top, right, bottom, left),
        face_px=int(bottom - top),
        blur=round(blur_measure(gray), 2),
        review=len(boxes) > 1,
        encoding=np.asarray(encs[0], dtype=np.float32),
    )


def _encode_one(args: tuple[str, EncodeSettings]) -> FaceResult:
    path, settings = args
    try:
        return encode_image(path, settings)
    except Exception as exc:  # a dlib failure on one photo must not stop the run
        return FaceResult("failed", error=f"{type(exc).__name__}: {exc}")


def default_workers() -> int:
    return max(os.cpu_count() or 1, 1)


def encode_files(
    paths: Iterable[Path | str],
    settings: EncodeSettings = EncodeSettings(),
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
) -> Iterator[tuple[str, FaceResult]]:
    """Encode many photos, in order, in `workers` processes (1: in this process)."""
    items = [str(p) for p in paths]
    workers = workers or default_workers()
    total = len(items)
    if workers == 1 or total <= 1:
        results: Iterable[FaceResult] = map(_encode_one, ((p, settings) for p in items))
        for done, (p, r) in enumerate(zip(items, results, strict=True), start=1):
            if on_progress:
                on_progress(done, total)
            yield p, r
        return
    with worker_pool(workers) as pool:
        chunk = max(1, min(16, total // (workers * 8) or 1))
        results = pool.map(_encode_one, ((p, settings) for p in items), chunksize=chunk)
        for done, (p, r) in enumerate(zip(items, results, strict=True), start=1):
            if on_progress:
                on_progress(done, total)
            yield p, r


def face_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance, as face_recognition.face_distance."""
    return np.linalg.norm(np.atleast_2d(a) - np.atleast_2d(b), axis=1)


@dataclass
class EncodeRun:
    settings: str
    todo: int = 0
    encoded: int = 0
    no_face: int = 0
    failed: int = 0
    flagged: int = 0

    def summary(self) -> dict:
        return dict(self.__dict__)


def encode_pending(
    store,
    settings: EncodeSettings = EncodeSettings(),
    workers: int | None = None,
    full: bool = False,
    on_progress: ProgressFn | None = None,
    batch: int = 100,
) -> EncodeRun:
    """Encode every photo of the workspace without a cached result (all of them with full=True).

    Results are committed in batches, so an interrupted run keeps what it finished."""
    if store.workspace is None:
        raise ValueError("encoding needs a workspace store (photos live on disk)")
    from reunite.templates import adopt_templates

    with store.transaction():
        adopt_templates(store, settings.key)
    todo = store.photos_to_encode(settings.key, full=full)
    run = EncodeRun(settings.key, todo=len(todo))
    by_path = {str(store.workspace.photos / rel): sha for sha, rel in todo}
    pending: list[tuple[str, FaceResult]] = []

    def flush() -> None:
        with store.transaction():
            for sha, res in pending:
                store.save_face(sha, settings.key, res)
        pending.clear()

    for path, res in encode_files(by_path, settings, workers, on_progress):
        setattr(run, res.status, getattr(run, res.status) + 1)
        run.flagged += int(res.review)
        pending.append((by_path[path], res))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return run
