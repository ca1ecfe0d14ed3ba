"""Shared fixtures: real Delft footprints and rasters, and a generated sample district."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ingest.config import BuildConfig

#: how every property and fuzz test runs (each gives its ``max_examples``): the same
#: examples every time, so a CI run on a fresh machine is reproducible; no deadline, as a
#: loaded 2-core machine may take seconds for one example; examples that are slow to make
#: or large (polygons, GeoPackages) are expected
DERANDOMISED = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
ROOT = Path(__file__).resolve().parent.parent
"""The checkout: the packages, ``docs/``, ``tools/``, ``notebooks/`` and ``README.md``."""
DATA = Path(__file__).parent / "data"
"""The small real test files; every test reaches them through this one name, wherever its
module lies under ``tests/``."""
DELFT = DATA / "delft"
SPEC = ROOT.parent / "shared" / "spec"
"""The official JSON schemas, in the shared folder laid beside the checkout."""


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run in ``tests/``: there ``tests/twin`` would be the ``twin`` package of every
    Python the tests start (``python -m twin.cli`` puts its working folder first on its path)."""
    if Path.cwd().resolve() == ROOT / "tests":
        raise pytest.UsageError(
            "run the tests from the checkout's root, not from tests/: there the folder "
            "tests/twin stands in for the twin package in the Pythons the tests start"
        )


def sample_config(sources: Path, keep: set[str], /, **paths: Path) -> BuildConfig:
    """A sample folder's build config with only the sources in ``keep``.

    ``paths`` replaces the file of a kept source (``dsm=Path(...)``).
    """
    config = BuildConfig.load(sources)
    chosen = {name: src for name, src in config.sources.items() if name in keep}
    for name, path in paths.items():
        chosen[name] = dataclasses.replace(chosen[name], path=path)
    return dataclasses.replace(config, sources=chosen)


def twin_cli(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``twin ARGS`` as a user would: a process of its own (importing this checkout, with
    ``env`` added to the environment), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "twin.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=timeout,
    )


def write_config(path: Path, text: str) -> Path:
    """Write a build config and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def delft_config(tmp_path) -> Path:
    """A build config over the real Delft footprints, DTM and DSM (EPSG:7415)."""
    return write_config(
        tmp_path / "delft.toml",
        f"""
[project]
name = "Delft"
crs = "EPSG:7415"

[sources.cadastre]
path = "{DELFT / "bgt_pand.sqlite"}"
building_id = "gml_id"

[sources.dtm]
path = "{DELFT / "dtm.tif"}"

[sources.dsm]
path = "{DELFT / "dsm.tif"}"

[lod1]
roof_percentile = 90
""",
    )


@pytest.fixture(scope="session")
def delft_lidar_twin(tmp_path_factory) -> Path:
    """The Delft footprints built from the AHN3 points alone (``delft/lidar.toml``); do not
    modify."""
    from ingest.pipeline import build

    out = tmp_path_factory.mktemp("delft_lidar") / "city.gpkg"
    build(BuildConfig.load(DELFT / "lidar.toml"), out, progress=False)
    return out


@pytest.fixture(scope="session")
def sample_sources(tmp_path_factory) -> Path:
    """A generated sample district (200 buildings, no point cloud or orthophoto)."""
    from ingest.synthetic import generate_district

    out = tmp_path_factory.mktemp("district") / "sources"
    generate_district(out, buildings=200, seed=3, lidar=False, ortho=False)
    return out


@pytest.fixture(scope="session")
def sample_twin(sample_sources, tmp_path_factory) -> Path:
    """The twin built from :func:`sample_sources`."""
    from ingest.config import BuildConfig
    from ingest.pipeline import build

    out = tmp_path_factory.mktemp("twin") / "city.gpkg"
    build(BuildConfig.load(sample_sources), out, progress=False)
    return out


@pytest.fixture(scope="session")
def postgis():
    """The run's own PostgreSQL server with PostGIS (:class:`tests.postgis.Cluster`), stopped
    and removed at the end; database twins keep their caches in a folder of the run's."""
    from tests.postgis import Cluster

    caches = tempfile.mkdtemp(prefix="twin-cache-")
    before = os.environ.get("TWIN_CACHE_DIR")
    os.environ["TWIN_CACHE_DIR"] = caches
    try:
        with Cluster() as cluster:
            yield cluster
    finally:
        if before is None:
            os.environ.pop("TWIN_CACHE_DIR", None)
        else:
            os.environ["TWIN_CACHE_DIR"] = before
        shutil.rmtree(caches, ignore_errors=True)


@pytest.fixture(scope="session")
def postgis_db(postgis) -> str:
    """A database with PostGIS for the run's twins (each test takes schemas of its own)."""
    return postgis.database()


@pytest.fixture
def pg_twin(postgis, postgis_db) -> str:
    """The location of a twin in a new, empty schema of :func:`postgis_db`."""
    return postgis.url(postgis_db, schema=f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["gpkg", "postgis"])
def new_twin(request, tmp_path) -> Path | str:
    """Where a test writes a twin of its own, in each backend: ``city.gpkg`` in its
    temporary folder, and a new schema of PostGIS (:func:`pg_twin`)."""
    if request.param == "gpkg":
        return tmp_path / "city.gpkg"
    return request.getfixturevalue("pg_twin")


@pytest.fixture(scope="session", params=["gpkg", "postgis"])
def sample_store(request, sample_twin) -> Path | str:
    """The sample twin in each backend: :func:`sample_twin`'s GeoPackage, and a copy of it
    in PostGIS (``twin copy``'s way); do not modify."""
    if request.param == "gpkg":
        return sample_twin
    from twin.store import read, write

    cluster = request.getfixturevalue("postgis")
    url = cluster.url(request.getfixturevalue("postgis_db"), schema="sample")
    write(read(sample_twin), url)
    return url
