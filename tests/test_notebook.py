"""The evaluation notebook executes (small size) so it can never rot; its last run is written as HTML beside
it (notebooks/evaluation.html) to read without Jupyter; without photos it skips the face plot cleanly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "evaluation.ipynb"
RENDERED = NOTEBOOK.with_suffix(".html")


def run(tmp_path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def images(nb: nbformat.NotebookNode) -> list[dict]:
    return [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]


def errors(nb: nbformat.NotebookNode) -> list[str]:
    return [o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]


@pytest.mark.slow
def test_evaluation_notebook_executes_and_is_rendered(faces_dir, monkeypatch, tmp_path):
    from nbconvert import HTMLExporter

    monkeypatch.setenv("REUNITE_NB_MISSING", "300")
    monkeypatch.setenv("REUNITE_NB_RESIDENTS", "40")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path))
    nb = run(tmp_path)
    assert len(images(nb)) == 4  # face distances, weights, precision/recall, calibration
    assert os.environ.get("REUNITE_FACES")
    body, _resources = HTMLExporter(template_name="lab").from_notebook_node(nb)
    # read offline: no scripts (they load require.js, MathJax and mermaid from a CDN; the plots are PNG)
    body = re.sub(r"<script\b.*?</script>", "", body, flags=re.DOTALL)
    assert "cdnjs" not in body
    tmp = RENDERED.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(RENDERED)  # whole or absent
    assert RENDERED.stat().st_size > 50_000 and "data:image/png;base64" in RENDERED.read_text(encoding="utf-8")


@pytest.mark.slow
def test_without_photos_the_face_plot_is_skipped_cleanly(monkeypatch, tmp_path):
    monkeypatch.delenv("REUNITE_FACES", raising=False)
    monkeypatch.setenv("REUNITE_NB_MISSING", "300")
    monkeypatch.setenv("REUNITE_NB_RESIDENTS", "40")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path))
    nb = run(tmp_path)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "the face plot is skipped" in printed
    assert len(images(nb)) == 3  # weights, precision/recall, calibration
    assert not any("Warning" in e or "Error" in e for e in errors(nb)), errors(nb)
