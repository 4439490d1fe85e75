"""Shared fixtures: in-memory and real-file stores, a CLI runner, and the real faces folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reunite.store import Store
from reunite.workspace import init_workspace


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
    value = os.environ.get("REUNITE_FACES")
    path = Path(value) if value else None
    if path is None or not path.is_dir():
        reason = f"REUNITE_FACES is {'unset' if not value else 'not a folder: ' + value}; real-face tests need it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path
