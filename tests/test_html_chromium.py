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
    headless(chromium, tmp_path, "--window-size=900,900", f"--screenshot={shot}", page.as_uri())
    im = Image.open(shot).convert("RGB")
    colours = im.getcolors(maxcolors=1 << 20)
    assert colours and len(colours) > 20  # not a blank page

    def present(target: tuple[int, int, int]) -> bool:
        return sum(n for n, c in colours if all(abs(a - b) < 40 for a, b in zip(c, target, strict=True))) > 2000

    assert present(RED) and present(BLUE)  # both photos visible side by side


def headless(chromium: str, tmp_path, *args: str) -> None:
    """Headless Chromium, offline and with a profile of its own, on one page."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    subprocess.run(
        [chromium, *flags, f"--user-data-dir={tmp_path / 'profile'}", *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _print_pdf(chromium: str, page, tmp_path) -> bytes:
    pdf = tmp_path / "cards.pdf"
    headless(chromium, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    return pdf.read_bytes()


def test_each_card_prints_on_one_a4_page(file_store, tmp_path, chromium):
    """Police print the list: one candidate per A4 page, with every photo of both sides (up to eight a side,
    then how many more) and long descriptions, in Chinese."""
    import re

    from reunite.ingest import ingest_file
    from reunite.jobs import run_match
    from reunite.textkeys import compute_name_keys, compute_place_keys
    from tests.conftest import write_csv

    photos = tmp_path / "p"
    photos.mkdir()
    for k in range(6):
        Image.new("RGB", (120, 120), (40 * k, 200 - 30 * k, 90)).save(photos / f"{k}.jpg")
    many = ";".join(f"{k}.jpg" for k in range(6))
    marks = "左脸有痣，右手缺小指，" + "背部有大片烫伤疤痕，说话含糊，" * 12
    residents = (
        f"编号,姓名,小名,目测年龄,口音,自述地址,体貌特征,照片\nR1,牛桂华,小花,六十多岁,四川口音,南冲,{marks},{many}\n"
    )
    missing = (
        "编号,姓名,曾用名,出生日期,户籍地,走失地点,体貌特征,照片\n"
        f"M1,刘桂花,陳淑華,1958,四川省南充市顺庆区,南充市,{marks},{many}\n"
        f"M2,刘桂英,,1957,四川省南充市,南充市,{marks},0.jpg\n"
        "M3,牛桂兰,,1960,河南省周口市,周口市,左脸有痣,\n"
    )
    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", residents), photos=photos)
    ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", missing), photos=photos)
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    run_match(file_store, "all")
    page = tmp_path / "cards.html"
    m = export(file_store, page, fmt="html", lang="zh")
    html = page.read_text(encoding="utf-8")
    assert m["rows"] == 3 and "陳淑華" in html  # the registered name as written
    # every photo: the resident's six on each of the three cards, M1's six, M2's one; M3 has none
    assert html.count("data:image/jpeg;base64,") == 3 * 6 + 6 + 1 and "另有" not in html
    pages = len(re.findall(rb"/Type\s*/Page[^s]", _print_pdf(chromium, page, tmp_path)))
    assert pages == m["rows"], f"{m['rows']} cards printed on {pages} A4 pages"
