"""A real client: CesiumJS in headless Chromium loads an exported 3D Tiles tileset."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from twin.cli import main

TOOLS = ROOT / "tools"
CESIUM = TOOLS / "node" / "node_modules" / "cesium" / "Build" / "Cesium"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.mark.slow
def test_cesium_renders_the_sample_tileset(sample_twin, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    result = CliRunner().invoke(
        main, ["export", str(sample_twin), "-f", "3dtiles", "-o", str(site / "tiles")]
    )
    assert result.exit_code == 0, result.output
    shutil.copy(TOOLS / "cesium" / "index.html", site / "index.html")
    (site / "Cesium").symlink_to(CESIUM, target_is_directory=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/index.html"
        shot = tmp_path / "cesium.png"
        run = subprocess.run(
            ["node", str(TOOLS / "cesium_check.mjs"), url, str(shot)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 0, run.stderr
    state = json.loads(run.stdout.strip().splitlines()[-1])
    assert state["loaded"]
    assert state["features"] == 200  # every building of the sample, once
    # Chromium asks for a favicon the test site lacks (a 404); missing tiles would fail above.
    assert [e for e in state["errors"] if "404" not in e] == []
    assert [u for u in state["failed"] if "favicon" not in u] == []
    image = iio.imread(shot).astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    roofs = (r > 90) & (r - g > 40) & (r - b > 40)  # the red roofs of the tileset's buildings
    assert roofs.sum() > 500
    assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 50  # not blank
