"""The HTML export renders in a real headless Chromium, with the photos visible (a screenshot is taken)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from PIL import Image

from reunite.exports import export
from reunite.ingest import ingest_file
from reunite.jobs import run_match
from reunite.textkeys import compute_name_keys, compute_place_keys
from tests.conftest import write_csv

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        reason = "chromium is not installed (.ci/run installs Debian's chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


def test_html_export_renders_with_photos(file_store, tmp_path, chromium):
    photos = tmp_path / "p"
    photos.mkdir()
    Image.new("RGB", (80, 80), (220, 20, 20)).save(photos / "r.jpg")  # pure colours, easy to find on screen
    Image.new("RGB", (80, 80), (20, 20, 220)).save(photos / "m.jpg")
    ingest_file(
        file_store, "residents", write_csv(tmp_path / "r.csv", "编号,姓名,照片\nR1,牛桂华,r.jpg\n"), photos=photos
    )
    ingest_file(
        file_store, "missing", write_csv(tmp_path / "m.csv", "编号,姓名,照片\nM1,刘桂花,m.jpg\n"), photos=photos
    )
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    run_match(file_store, "all")
    page = tmp_path / "c.html"
    export(file_store, page, fmt="html")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=900,900",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    im = Image.open(shot).convert("RGB")
    colours = im.getcolors(maxcolors=1 << 20)
    assert colours and len(colours) > 20  # not a blank page

    def present(target: tuple[int, int, int]) -> bool:
        return sum(n for n, c in colours if all(abs(a - b) < 40 for a, b in zip(c, target, strict=True))) > 2000

    assert present((220, 20, 20)) and present((20, 20, 220))  # both photos visible side by side
