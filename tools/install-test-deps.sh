#!/usr/bin/env bash
# Installs the system and npm packages the test suite needs (idempotent; quick when present).
# Called by `make test`; each block names the tests that need it.
set -euo pipefail
cd "$(dirname "$0")/.."

source tools/apt.sh

# tests/twin/test_formats_meshes.py: every GLB goes through the Khronos glTF validator
# (npm gltf-validator, called by tools/gltf_validate.mjs), installed into tools/node/.
command -v node >/dev/null 2>&1 || apt_install nodejs npm
# tests/twin/test_formats_cesium.py: CesiumJS loads an exported tileset in headless Debian Chromium,
# driven by playwright-core (which never downloads a browser of its own).
# tools/node/package.json and its lock file pin all three npm packages.
apt_install chromium
for pkg in gltf-validator cesium playwright-core; do
  if [ ! -f "tools/node/node_modules/$pkg/package.json" ]; then
    npm ci --silent --no-audit --no-fund --prefix tools/node
    break
  fi
done

# tests/viewer/test_viewer.py: off-screen rendering without a display. VTK's wheels render through
# Mesa's EGL (surfaceless, software llvmpipe; no GPU needed) and fall back to OSMesa.
apt_install libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6

# tests/viewer/test_viewer.py::test_view_opens_a_real_window: `twin view` in a real window on a
# virtual X display, captured with ImageMagick's import.
apt_install xvfb imagemagick

# tests/twin/test_siteplan.py: the site plan PDFs are read back with poppler (pdfinfo, pdftotext,
# pdffonts, pdftoppm).
apt_install poppler-utils

# tests on the PostGIS store (tests/postgis.py starts a throwaway cluster for the run):
# PostgreSQL's server and the PostGIS extension built for its version.
apt_install_postgis
