"""Shared fixtures: in-memory and real-file stores, a CLI runner, and the real faces folder."""

from __future__ import annotations

import multiprocessing
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reunite.store import Store, init_workspace


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """Tests read English unless they ask for Chinese (tests/test_i18n.py runs the day in Chinese, the
    default a caseworker gets): the messages are the catalog's keys, their Chinese is checked there."""
    from reunite import i18n

    monkeypatch.setenv("REUNITE_LANG", "en")
    i18n.set_language("en")
    yield
    i18n.set_language("en")


@pytest.fixture
def mem_store():
    store = Store.memory()
    yield store
    store.close()


@pytest.fixture
def workspace(tmp_path: Path):
    ws, _ = init_workspace(tmp_path / "ws")
    return ws


@pytest.fixture
def file_store(workspace):
    store = Store.open(workspace)
    yield store
    store.close()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def faces_dir() -> Path:
    """The real face photos. Skipped with a reason where REUNITE_FACES is unset; a failure in CI."""
    return require_faces()


def require_faces() -> Path:
    """REUNITE_FACES, or a skip with the reason (a failure in CI): for module-scoped fixtures too."""
    value = os.environ.get("REUNITE_FACES")
    path = Path(value) if value else None
    if path is None or not path.is_dir():
        reason = f"REUNITE_FACES is {'unset' if not value else 'not a folder: ' + value}; real-face tests need it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


SAMPLE_FILES = (
    ("missing", "missing.csv"),
    ("missing", "showcase_missing.csv"),
    ("registry", "registry.csv"),
    ("residents", "residents.csv"),
    ("residents", "showcase_residents.csv"),
)


def ingest_samples(store) -> None:
    """Every committed sample file (text only), keyed: ready to match."""
    from reunite.ingest import ingest_file
    from reunite.textkeys import compute_name_keys, compute_place_keys

    samples = Path(__file__).resolve().parents[1] / "samples"
    for kind, name in SAMPLE_FILES:
        ingest_file(store, kind, samples / name)
    compute_name_keys(store)
    compute_place_keys(store)


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture
def photo_pair_store(file_store, tmp_path):
    """A resident and a record, each with one plain-coloured photo (red, blue), matched in one job."""
    from PIL import Image

    from reunite.ingest import ingest_file
    from reunite.jobs import run_match
    from reunite.textkeys import compute_name_keys, compute_place_keys

    photos = tmp_path / "pair_photos"
    photos.mkdir()
    Image.new("RGB", (80, 80), RED).save(photos / "r.jpg")
    Image.new("RGB", (80, 80), BLUE).save(photos / "m.jpg")
    rows = (("residents", "编号,姓名,照片\nR1,牛桂华,r.jpg\n"), ("missing", "编号,姓名,照片\nM1,刘桂花,m.jpg\n"))
    for kind, text in rows:
        ingest_file(file_store, kind, write_csv(tmp_path / f"{kind}.csv", text), photos=photos)
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    run_match(file_store, "all")
    return file_store


def _hold(path: str, what: str, shared: bool, ready, stop) -> None:
    from reunite.locks import RunLock

    with RunLock(Path(path), what, shared=shared):
        ready.set()
        stop.wait(30)


@contextmanager
def held_elsewhere(path: Path, what: str = "index", shared: bool = False):
    """A lock held by another process (as another run would hold it) for the duration of the block."""
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(path), what, shared, ready, stop))
    proc.start()
    try:
        assert ready.wait(30), "the holder did not start"
        yield proc
    finally:
        stop.set()
        proc.join(30)


@pytest.fixture
def matched(file_store, tmp_path):
    """Three residents and 65 records (five true ones), ingested and keyed: ready to match (tests/test_match.py)."""
    from reunite.ingest import ingest_file
    from reunite.textkeys import compute_name_keys, compute_place_keys
    from tests.test_match import MISSING_HEAD, MISSING_TRUE, RESIDENTS, distractors

    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", RESIDENTS))
    ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", MISSING_HEAD + MISSING_TRUE + distractors(60)))
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    return file_store
