"""The notebooks run from top to bottom without error."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: notebook -> texts its printed output must contain
EXPECTED = {
    "01_explore.ipynb": ["MGI / Austria GK M31 + GHA height", "within 0.3 m of the truth"],
    "02_excavation.ipynb": ["trench W-renewal", "m³ excavated", "cluster(s) of works"],
}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_DEMO", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for expected in EXPECTED[path.name]:
        assert expected in text
    assert [o for o in outputs if "image/png" in o.get("data", {})]  # the maps were drawn
