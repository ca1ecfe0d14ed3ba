"""The layering of the house: ``twin`` (model, store, formats, analyses, API) never imports
the pipelines (``ingest``) or the viewer (``viewer``); only its command line may."""

from __future__ import annotations

import ast
from pathlib import Path

TWIN = Path(__file__).resolve().parents[1] / "twin"


def test_twin_imports_neither_ingest_nor_viewer_outside_the_cli():
    wrong = []
    for path in sorted(TWIN.rglob("*.py")):
        if "cli" in path.relative_to(TWIN).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            wrong += [
                f"{path.relative_to(TWIN.parent)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in ("ingest", "viewer")
            ]
    assert wrong == []
