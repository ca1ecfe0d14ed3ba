# The set-up commands of the README: `make demo` and `make test`.
# Both work on a fresh machine: they create .venv and install what they need, showing what they
# download and install. `make demo` installs twin with its viewer and API only; `make test`
# adds the test and benchmark tools. After either, `. .venv/bin/activate` puts twin on the PATH.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= build/demo
BUILDINGS ?= 500

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip uv
	$(UV) -e '.[viewer,api,dask]'
	touch $@

# uv installs the wheels in parallel, with a progress line per download (pip took minutes)
UV = $(BIN)/python -m uv pip install --python $(BIN)/python

# The suite spread over the machine's cores, at most four (pytest-xdist), a test module to a
# worker: tests of one module share its fixtures, and each worker starts its own PostgreSQL
# cluster (tests/postgis.py). On 2 cores the whole suite takes 11 to 16 minutes, not 23 to 30.
PYTEST_PARALLEL ?= -n auto --maxprocesses=4 --dist loadfile

$(VENV)/.installed-test: $(VENV)/.installed
	$(UV) -e '.[test,bench]'
	touch $@

demo: install
	$(BIN)/twin sample $(DEMO)/sources --buildings $(BUILDINGS) --overwrite
	$(BIN)/twin build $(DEMO)/sources -o $(DEMO)/city.gpkg
	$(BIN)/twin info $(DEMO)/city.gpkg
	$(BIN)/twin render $(DEMO)/city.gpkg -o $(DEMO)/city.png
	@echo "Planner API: http://127.0.0.1:8000/?f=html"
	@echo "  buildings:  http://127.0.0.1:8000/collections/buildings/items?f=html"
	@echo "  a building: http://127.0.0.1:8000/collections/buildings/items/1?f=html"
	@echo "  3D Tiles:   http://127.0.0.1:8000/collections/buildings/3dtiles/tileset.json"
	@echo "  OpenAPI:    http://127.0.0.1:8000/api"
	$(BIN)/twin serve $(DEMO)/city.gpkg --host 127.0.0.1 --port 8000

test: $(VENV)/.installed-test
	bash tools/install-test-deps.sh
	$(BIN)/python -m ruff check twin ingest viewer tests bench
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=25

bench: $(VENV)/.installed-test
	$(BIN)/python bench/lod1.py

clean:
	rm -rf build .pytest_cache
