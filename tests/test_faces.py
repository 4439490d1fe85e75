"""Face encoding on real photos: robust loading, subject choice, per-photo errors, caching."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reunite.faces import EncodeSettings, encode_image, encode_pending, face_distance
from reunite.imageio import ImageLoadError, load_rgb
from reunite.ingest import ingest_file
from tests.conftest import write_csv

SAME = ("ai_sugiyama/1.jpg", "ai_sugiyama/2.jpg")
OTHER = "annette_lu/1.jpg"


@pytest.fixture
def real(faces_dir):
    return lambda rel: faces_dir / rel


@pytest.fixture
def photo(faces_dir):
    return faces_dir / SAME[0]


def test_same_person_closer_than_different_people(real):
    a, b, c = (encode_image(real(p)) for p in (*SAME, OTHER))
    assert a.status == b.status == c.status == "encoded"
    same = face_distance(a.encoding, b.encoding)[0]
    diff = face_distance(a.encoding, c.encoding)[0]
    assert same < diff
    assert a.encoding.shape == (128,) and a.encoding.dtype == np.float32
    assert a.face_px > 40 and a.blur > 0


def test_exif_rotated_photo_still_found(photo, tmp_path):
    upright = Image.open(photo).convert("RGB")
    # Stored turned on its side, with EXIF orientation 6 ("rotate 90 CW to display"), as phones do.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    res = encode_image(path)
    ref = encode_image(photo)
    assert res.status == "encoded"
    assert face_distance(res.encoding, ref.encoding)[0] < 0.25


@pytest.mark.parametrize("mode", ["CMYK", "L", "RGBA", "LA", "P", "I;16"])
def test_odd_image_modes_decode_to_rgb(photo, tmp_path, mode):
    im = Image.open(photo).convert("RGB")
    if mode == "I;16":
        im = Image.fromarray(np.asarray(im.convert("L"), dtype=np.uint16) * 257)
        path = tmp_path / "x16.png"
    else:
        im = im.convert(mode)
        path = tmp_path / ("x.jpg" if mode in ("CMYK", "L") else "x.png")
    im.save(path)
    arr = load_rgb(path)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    assert encode_image(path).status == "encoded"


def test_bad_files_are_per_photo_errors(photo, tmp_path):
    data = photo.read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.jpg").write_text("not an image at all")
    for name, reason in (("trunc.jpg", "damaged"), ("text.jpg", "not an image")):
        res = encode_image(tmp_path / name)
        assert res.status == "failed" and reason in res.error
    with pytest.raises(ImageLoadError):
        load_rgb(tmp_path / "text.jpg")


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    import reunite.imageio as imageio

    Image.new("RGB", (400, 400)).save(tmp_path / "big.png")
    monkeypatch.setattr(imageio, "MAX_PIXELS", 100_000)
    res = encode_image(tmp_path / "big.png")
    assert res.status == "failed" and "too large" in res.error


def test_no_face_is_marked(tmp_path):
    grad = np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (200, 1))
    Image.fromarray(grad).save(tmp_path / "wall.png")
    res = encode_image(tmp_path / "wall.png")
    assert res.status == "no_face" and res.encoding is None


def test_group_photo_flagged_largest_face_is_subject(real, tmp_path):
    big = Image.open(real(SAME[0])).convert("RGB")
    small = Image.open(real(OTHER)).convert("RGB").resize((170, 170))
    canvas = Image.new("RGB", (440, 260), (128, 128, 128))
    canvas.paste(big, (0, 5))
    canvas.paste(small, (265, 45))
    canvas.save(tmp_path / "group.jpg", quality=95)
    res = encode_image(tmp_path / "group.jpg")
    assert res.status == "encoded" and res.n_faces == 2 and res.review
    ref = encode_image(real(SAME[0]))
    assert face_distance(res.encoding, ref.encoding)[0] < 0.2


def test_large_photo_downscaled_for_detection_full_res_crop(photo, tmp_path):
    im = Image.open(photo).convert("RGB").resize((2000, 2000), Image.Resampling.BICUBIC)
    im.save(tmp_path / "big.jpg", quality=90)
    res = encode_image(tmp_path / "big.jpg", EncodeSettings(max_side=512))
    assert res.status == "encoded"
    assert res.face_px > 500  # the box is in the original 2000-pixel coordinates
    assert face_distance(res.encoding, encode_image(photo).encoding)[0] < 0.2


def test_encode_pending_caches_by_content(file_store, real, tmp_path):
    photos = tmp_path / "p"
    photos.mkdir()
    for i, rel in enumerate((*SAME, OTHER)):
        (photos / f"{i}.jpg").write_bytes(real(rel).read_bytes())
    (photos / "bad.jpg").write_text("no")
    text = "编号,姓名,照片\nR1,甲,0.jpg;1.jpg\nR2,乙,2.jpg\nR3,丙,bad.jpg;0.jpg\n"
    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", text), photos=photos)
    first = encode_pending(file_store, workers=1)
    assert (first.todo, first.encoded, first.failed) == (4, 3, 1)  # 0.jpg is shared, encoded once
    again = encode_pending(file_store, workers=1)
    assert again.todo == 0
    st = file_store.status()
    assert st["photos"] == {"encoded": 4, "failed": 1}
    assert st["photo_problems"][0]["status"] == "failed"
    assert encode_pending(file_store, workers=1, full=True).todo == 4


def test_process_pool_matches_in_process(real):
    from reunite.faces import encode_files

    paths = [real(p) for p in (*SAME, OTHER)]
    pooled = dict(encode_files(paths, workers=2))
    for p in paths:
        np.testing.assert_allclose(pooled[str(p)].encoding, encode_image(p).encoding, atol=1e-6)


def test_index_command_end_to_end(runner, real, tmp_path):
    from reunite.cli import app

    home = tmp_path / "ws"
    photos = tmp_path / "p"
    photos.mkdir()
    for i, rel in enumerate((*SAME, OTHER)):
        (photos / f"{i}.jpg").write_bytes(real(rel).read_bytes())
    write_csv(tmp_path / "m.csv", "编号,姓名,照片\nM1,甲,0.jpg@1990\nM2,乙,2.jpg\n")
    write_csv(tmp_path / "r.csv", "编号,姓名,照片\nR1,甲,1.jpg\n")
    assert runner.invoke(app, ["init", "--home", str(home)]).exit_code == 0
    for kind, f in (("missing", "m.csv"), ("residents", "r.csv")):
        r = runner.invoke(app, ["--home", str(home), "ingest", kind, str(tmp_path / f), "--photos", str(photos)])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--home", str(home), "index", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "encoded 3" in r.output and "missing 2 (flat)" in r.output and "residents 1 (flat)" in r.output
    r = runner.invoke(app, ["--home", str(home), "index", "--workers", "1"])
    assert "0 photo(s) to encode" in r.output and "(incremental)" in r.output
    r = runner.invoke(app, ["--home", str(home), "status", "--json"])
    import json

    st = json.loads(r.output)
    assert st["photos"] == {"encoded": 3} and st["index_version"]["n_missing"] == 2
