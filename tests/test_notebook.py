"""The evaluation notebook executes (small size) so it can never rot."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "evaluation.ipynb"


@pytest.mark.slow
def test_evaluation_notebook_executes(faces_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("REUNITE_NB_MISSING", "300")
    monkeypatch.setenv("REUNITE_NB_RESIDENTS", "40")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 4  # face distances, weights, precision/recall, calibration
    assert os.environ.get("REUNITE_FACES")
