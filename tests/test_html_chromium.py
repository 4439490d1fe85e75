"""The HTML export renders in a real headless Chromium, with the photos visible (a screenshot is taken)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from PIL import Image

from reunite.exports import export
from tests.conftest import BLUE, RED

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        reason = "chromium is not installed (.ci/run installs Debian's chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


def test_html_export_renders_with_photos(photo_pair_store, tmp_path, chromium):
    file_store = photo_pair_store
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

    assert present(RED) and present(BLUE)  # both photos visible side by side
