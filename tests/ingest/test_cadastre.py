"""Reading footprints: reprojection, CRS rules, repair and flags, on real Delft footprints."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from ingest.cadastre import read_buildings
from ingest.config import BuildConfig, Lod1Options, Source
from tests.conftest import DELFT, twin_cli, write_config
from twin.errors import ConfigError, CRSError, InputError

RD = pyproj.CRS("EPSG:7415")


def _source(path, **options) -> Source:
    return Source(name="cadastre", path=path, options={"building_id": "gml_id", **options})


def test_delft_footprints_read_clean():
    b = read_buildings(_source(DELFT / "bgt_pand.sqlite"), RD, Lod1Options())
    assert len(b) == 160
    assert b["building_id"].is_unique
    assert b["footprint_issue"].isna().all()
    assert b.crs.equals(RD)
    assert "identificatiebagpnd" in b.columns


def test_reprojection_to_project_crs():
    utm = pyproj.CRS("EPSG:25831")
    b = read_buildings(_source(DELFT / "bgt_pand.sqlite"), utm, Lod1Options())
    rd = read_buildings(_source(DELFT / "bgt_pand.sqlite"), RD, Lod1Options())
    x, y = shapely.get_coordinates(rd.geometry.iloc[0])[0]
    expected = pyproj.Transformer.from_crs("EPSG:28992", utm, always_xy=True).transform(x, y)
    np.testing.assert_allclose(shapely.get_coordinates(b.geometry.iloc[0])[0], expected, atol=1e-6)
    ratio = b.area.to_numpy() / rd.area.to_numpy()
    assert np.all(np.abs(ratio - 1.0) < 2e-3)  # two conformal projections, scale near 1


def test_wgs84_source_is_reprojected(tmp_path):
    rd = read_buildings(_source(DELFT / "bgt_pand.sqlite"), RD, Lod1Options())
    path = tmp_path / "footprints.geojson"
    rd[["building_id", "geometry"]].to_crs("EPSG:4326").to_file(path)
    back = read_buildings(
        Source("cadastre", path, {"building_id": "building_id"}), RD, Lod1Options()
    )
    assert back.crs.equals(RD)
    shift = shapely.hausdorff_distance(back.geometry.to_numpy(), rd.geometry.to_numpy())
    assert shift.max() < 0.01


def test_source_without_crs_is_refused_unless_configured(tmp_path):
    rd = read_buildings(_source(DELFT / "bgt_pand.sqlite"), RD, Lod1Options())
    path = tmp_path / "footprints.shp"
    rd[["building_id", "geometry"]].head(5).rename(columns={"building_id": "id"}).to_file(path)
    path.with_suffix(".prj").unlink()
    source = Source("cadastre", path, {"building_id": "id"})
    with pytest.raises(CRSError, match=r"footprints\.shp.*no CRS"):
        read_buildings(source, RD, Lod1Options())
    source = Source("cadastre", path, {"building_id": "id", "crs": "EPSG:28992"})
    assert len(read_buildings(source, RD, Lod1Options())) == 5


def test_bad_footprints_are_repaired_or_flagged_never_dropped(tmp_path):
    crs = pyproj.CRS("EPSG:31258")
    base = shapely.box(524600, 165500, 524620, 165512)
    frame = gpd.GeoDataFrame(
        {"building_id": ["ok", "bowtie", "empty", "dup", "sliver", "line", None, "ok"]},
        geometry=[
            base,
            shapely.Polygon(
                [(524700, 165500), (524720, 165520), (524720, 165500), (524700, 165520)]
            ),
            shapely.Polygon(),
            base,
            shapely.box(524800, 165500, 524800.5, 165502),
            shapely.LineString([(0, 0), (1, 1)]),
            shapely.box(524900, 165500, 524910, 165510),
            shapely.box(524620, 165500, 524630, 165512),
        ],
        crs=crs,
    )
    path = tmp_path / "bad.gpkg"
    frame.to_file(path)
    b = read_buildings(Source("cadastre", path, {"building_id": "building_id"}), crs, Lod1Options())
    assert len(b) == 8
    issue = dict(zip(b["building_id"], b["footprint_issue"], strict=True))
    assert issue["bowtie"].startswith("repaired: Self-intersection")
    assert b.loc[b["building_id"] == "bowtie"].geometry.iloc[0].is_valid
    assert issue["empty"] == "empty geometry"
    assert issue["dup"] == "duplicate of ok"
    assert issue["sliver"].startswith("sliver (1.00 m²)")
    assert issue["line"] == "not a polygon (LineString)"
    assert pd.isna(issue["fid:6"])  # a missing id is made from the feature's position
    assert issue["ok~1"] == "building id 'ok' repeated"  # touching the first: no overlap flag
    assert pd.isna(issue["ok"])


def test_empty_and_unreadable_sources(tmp_path):
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"building_id": []}, geometry=[], crs="EPSG:31258").to_file(
        empty, layer="buildings"
    )
    with pytest.raises(InputError, match=r"empty\.gpkg.*no features"):
        read_buildings(Source("cadastre", empty, {}), pyproj.CRS("EPSG:31258"), Lod1Options())
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"not a geopackage")
    with pytest.raises(InputError, match=r"junk\.gpkg: cannot read"):
        read_buildings(Source("cadastre", junk, {}), pyproj.CRS("EPSG:31258"), Lod1Options())
    with pytest.raises(InputError, match="no column 'nope'"):
        read_buildings(_source(DELFT / "bgt_pand.sqlite", building_id="nope"), RD, Lod1Options())


def test_geographic_project_crs_is_refused(tmp_path):
    config = write_config(
        tmp_path / "geo.toml",
        f'[project]\ncrs = "EPSG:4326"\n[sources.cadastre]\npath = "{DELFT / "bgt_pand.sqlite"}"\n',
    )
    with pytest.raises(ConfigError, match="not projected"):
        BuildConfig.load(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[project\n", "not valid TOML"),
        ("[sources.cadastre]\npath = 'nowhere.gpkg'\n", "does not exist"),
        ("[sources.radar]\npath = 'x'\n", "unknown source"),
        ("[project]\nname = 'x'\n", "needs \\[sources.cadastre\\]"),
        ("[lod1]\nroof_pct = 3\n", "unknown source|needs|lod1"),
    ],
)
def test_config_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        BuildConfig.load(write_config(tmp_path / "c.toml", text))


def test_a_sub_millimetre_edge_is_merged_and_the_build_passes_validate(tmp_path):
    """Footprints as digitised: one with an edge of 0.4 mm (a vertex left twice, nudged), one
    whose second part has one of 0.2 mm, one with an edge of 2 mm. Snapped to the millimetre
    the twin is written and checked to, a 0.4 mm wall collapses and the LoD1.2 solid is
    invalid; so the two footprints with a sub-millimetre edge are snapped on ingest and say
    so, the third is kept as it is, and ``twin validate`` finds nothing to repair."""
    crs = pyproj.CRS("EPSG:31258")
    x, y = 524600.0, 165500.0
    nudged = shapely.Polygon(
        [
            (x, y),
            (x + 10, y),
            (x + 10, y + 10),
            (x + 5.0004, y + 10),
            (x + 5, y + 10.0003),
            (x, y + 10),
        ]
    )
    second = shapely.MultiPolygon(
        [
            shapely.box(x + 20, y, x + 25, y + 5),
            shapely.Polygon(
                [(x + 30, y), (x + 35, y), (x + 35, y + 5), (x + 30.0002, y + 5), (x + 30, y + 5)]
            ),
        ]
    )
    wide = shapely.Polygon(
        [
            (x + 40, y),
            (x + 50, y),
            (x + 50, y + 10),
            (x + 45.002, y + 10),
            (x + 45, y + 10),
            (x + 40, y + 10),
        ]
    )
    frame = gpd.GeoDataFrame(
        {"building_id": ["nudged", "second", "wide"], "height": [6.0, 6.0, 6.0]},
        geometry=[nudged, second, wide],
        crs=crs,
    )
    frame.to_file(tmp_path / "cadastre.gpkg", layer="buildings")
    config = write_config(
        tmp_path / "twin.toml",
        """
[project]
name = "digitised"
crs = "EPSG:31258+5778"

[sources.cadastre]
path = "cadastre.gpkg"
buildings_layer = "buildings"

[lod1]
ground_z = 446.0
""",
    )
    b = read_buildings(
        Source("cadastre", tmp_path / "cadastre.gpkg", {"building_id": "building_id"}),
        crs,
        Lod1Options(),
    )
    issue = dict(zip(b["building_id"], b["footprint_issue"], strict=True))
    assert issue["nudged"] == "an edge of 0.50 mm merged to the millimetre grid"  # √(0.4² + 0.3²)
    assert issue["second"] == "an edge of 0.20 mm merged to the millimetre grid"
    assert pd.isna(issue["wide"])
    # not touched (written as a multipolygon of one part: the layer holds a multipolygon)
    assert shapely.get_geometry(b.geometry.iloc[2], 0).equals_exact(wide, 0)
    kept = shapely.get_coordinates(b.geometry.iloc[0])
    np.testing.assert_allclose(kept, np.round(kept, 3), atol=1e-9)  # on the grid
    assert shapely.area(b.geometry.iloc[0]) == pytest.approx(100.0, abs=0.01)

    out = tmp_path / "city.gpkg"
    done = twin_cli("build", config, "-o", out, "-q")
    assert done.returncode == 0, done.stderr
    report = twin_cli("validate", out, "--json")
    assert report.returncode == 0, report.stderr
    summary = json.loads(report.stdout)["summary"]["1.2"]
    assert summary["invalid"] == 0, summary
