"""notebooks/walkthrough.ipynb runs from top to bottom (so it never goes stale) and is kept stripped."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "walkthrough.ipynb"


def test_walkthrough_notebook_executes() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell's traceback, if a cell fails
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 6, "expected the photo, reference, clusters, GP output, uncertainty and SIFT figures"
    text = "".join(output.get("text", "") for output in outputs)
    for expected in ("GP output", "SIFT F1", "GP prediction (every pixel)", "total"):
        assert expected in text


def test_walkthrough_notebook_is_stored_without_outputs() -> None:
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells), (
        "strip the outputs before committing (e.g. jupyter nbconvert --clear-output --inplace)"
    )
