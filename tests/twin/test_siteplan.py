"""The outputs a site engineer takes out: the site plan (PDF), the HTML page that prints and the
enquiry pack per operator, on a hand-made model and on the sample district.

The PDFs are read back with poppler (``pdfinfo``, ``pdftotext``, ``pdffonts``, ``pdftoppm``;
Debian's poppler-utils, installed by ``tools/install-test-deps.sh``).
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import imageio.v3 as iio
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine

import twin
from twin.analysis.report import write_trench_report
from twin.analysis.siteplan import draw_site_plan
from twin.analysis.trench import ExcavationIndex, check_trench
from twin.errors import InputError
from twin.model import CityModel

CRS = pyproj.CRS("EPSG:31258+5778")
X0, Y0 = 524600.0, 165500.0
CHECKED = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)
A3 = (1190.55, 841.89)  # 420 × 297 mm in points (72 / 25.4 a millimetre)
A4 = (841.89, 595.28)  # 297 × 210 mm


def _box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def _line(x0, y0, x1, y1):
    return shapely.LineString([(X0 + x0, Y0 + y0), (X0 + x1, Y0 + y1)])


def _frame(rows):
    rows = [dict(r) for r in rows]
    geometry = [r.pop("geometry") for r in rows]
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=CRS)


def _pipe(uid, network, operator, line, depth, *, source="measured", dia=100.0, year=2005.0):
    return {
        "utility_id": uid,
        "network": network,
        "operator": operator,
        "status": "in_service",
        "diameter_mm": dia,
        "depth_m": depth,
        "depth_accuracy_m": 0.1 if source == "measured" else np.nan,
        "depth_source": source,
        "year_laid": year,
        "geometry": line,
    }


def _ortho(path: Path) -> Path:
    """A 60 m × 60 m RGB orthophoto, 0.5 m pixels, olive green."""
    rgb = np.empty((3, 120, 120), dtype="uint8")
    rgb[0], rgb[1], rgb[2] = 120, 140, 90
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=120,
        height=120,
        count=3,
        dtype="uint8",
        crs=CRS.to_wkt(),
        transform=Affine(0.5, 0.0, X0, 0.0, -0.5, Y0 + 60),
    ) as dst:
        dst.write(rgb)
    return path


@pytest.fixture
def street(tmp_path) -> CityModel:
    """A street (road parcel 100/1, y 20-32 m) between a built plot and gardens, with a water
    main 2 m north of the trench axis, a sewer crossing just under it, a telecom cable of unknown
    depth 3 m south of it, a gas main 29 m away (out of reach), a lime tree beside it, a run
    history, an operators table (without A1 Telekom) and an orthophoto."""
    parcels = _frame(
        [
            {"kg": "72127", "gst": "100/1", "land_use": "road", "geometry": _box(0, 20, 60, 32)},
            {"kg": "72127", "gst": ".5", "land_use": "building", "geometry": _box(0, 32, 30, 60)},
            {"kg": "72127", "gst": "7/2", "land_use": "garden", "geometry": _box(30, 32, 60, 60)},
            {"kg": "72127", "gst": "8", "land_use": "garden", "geometry": _box(0, 0, 60, 20)},
        ]
    )
    utilities = _frame(
        [
            _pipe("W-1", "water", "Stadtwerke", _line(0, 28, 60, 28), 1.2, dia=150.0, year=1972.0),
            # top 1.05-1.25 m: 0.05 m under the 1.0 m trench bottom, less than the 0.2 m
            # vertical clearance, so the trench is dug by hand where it crosses
            _pipe("S-2", "sewer", "Stadtwerke", _line(20, 18, 20, 34), 1.15, dia=300.0),
            _pipe(
                "T-9",
                "telecom",
                "A1 Telekom",
                _line(0, 23, 60, 23),
                np.nan,
                source="unknown",
                dia=50.0,
                year=np.nan,
            ),
            _pipe("G-4", "gas", "Netz Gas", _line(0, 55, 60, 55), 1.0),
        ]
    )
    trees = _frame(
        [
            {
                "tree_id": "B-17",
                "species": "Tilia cordata",
                "trunk_circumference_cm": 120.0,
                "crown_diameter_m": 6.0,
                "columnar": False,
                "geometry": shapely.Point(X0 + 40, Y0 + 30.5),
            }
        ]
    )
    buildings = _frame([{"building_id": "B1", "geometry": _box(5, 40, 20, 55)}])
    runs = pd.DataFrame(
        {"started": ["2024-05-06T07:00:00+00:00"], "finished": ["2024-05-06T07:08:09+00:00"]}
    )
    contacts = pd.DataFrame(
        {
            "operator": ["Stadtwerke", "Netz Gas"],
            "department": ["Leitungsauskunft Wasser/Kanal", "Netzauskunft"],
            "phone": ["+43 463 521 0", "+43 463 000 1"],
            "email": ["auskunft@stadtwerke.example", "netz@gas.example"],
            "emergency_phone": ["+43 463 521 999", "128"],
            "web": ["https://stadtwerke.example", ""],
        }
    )
    layers = {
        "parcels": parcels,
        "buildings": buildings,
        "utilities": utilities,
        "trees": trees,
        "runs": runs,
        "operators": contacts,
    }
    return CityModel(crs=CRS, layers=layers, ortho=_ortho(tmp_path / "ortho.tif"))


@pytest.fixture
def checked_street(street):
    # 40 m of trench along the street axis (y = 26 m), 0.6 m wide, 1.0 m deep: not deeper
    # than 1.25 m, so vertical walls.
    index = ExcavationIndex.from_model(street)
    return check_trench(index, _line(10, 26, 50, 26), width=0.6, depth=1.0, trench_id="T-7")


def _info(pdf: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)


def _page_size(pdf: Path) -> tuple[float, float]:
    width, _, height = _info(pdf)["Page size"].split()[:3]
    return float(width), float(height)


def _text(pdf: Path) -> str:
    # -raw keeps each string of the content stream together, also when it is rotated
    out = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def _fonts(pdf: Path) -> str:
    return subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout


def _png(pdf: Path, tmp_path: Path) -> np.ndarray:
    stem = tmp_path / pdf.stem
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-singlefile", str(pdf), str(stem)], check=True)
    return iio.imread(stem.with_suffix(".png"))[..., :3].astype(int)


def test_site_plan_of_a_hand_made_street(street, checked_street, tmp_path):
    paths = write_trench_report(checked_street, tmp_path, model=street, checked=CHECKED)
    a3, a4 = tmp_path / "site_plan_a3.pdf", tmp_path / "site_plan_a4.pdf"
    assert paths["pdf_a3"] == a3 and paths["pdf_a4"] == a4
    assert _page_size(a3) == pytest.approx(A3, abs=0.01)
    assert _page_size(a4) == pytest.approx(A4, abs=0.01)
    assert _info(a3)["Pages"].strip() == "1"
    # The map must show the trench (x 10-50 m) and the lime tree's root zone with 10 m
    # around: 60 m wide. The A3 frame is 420 - 8 - 105 - 5 - 12 = 290 mm wide: 1:207 at
    # least, so 1:250; the A4 frame 297 - 6 - 86 - 5 - 10 = 190 mm: 1:316, so 1:500.
    text3, text4 = _text(a3), _text(a4)
    assert "Scale 1:250" in text3 and "Scale 1:500" in text4
    for text in (text3, text4):
        for entry in (
            "trench bottom",
            "excavation at the surface",
            "working area",
            "hand-digging zone",
            "root protection zone",
            "water",
            "sewer",
            "telecom",
            "building",
            "parcel: road",
            "parcel: garden",
            "orthophoto (lightened)",
        ):
            assert entry in text, entry
        assert "gas" not in text.split("Legend")[1].split("Accuracy")[0]  # out of reach
        assert re.search(r"^N$", text, re.M)  # the north arrow
        # W-1: DN 150, 1.20 m cover measured ± 0.10 m, as the records have it
        assert "W-1 · Stadtwerke · DN 150 · 1.20 ± 0.10 m" in text
        assert "T-9 · A1 Telekom · DN 50 · depth unknown" in text
        assert "B-17" in text and "100/1" in text
        flat = " ".join(text.split())  # the disclaimer wraps
        assert "Utility records are not a survey." in flat
        assert "Locate every line by hand (trial holes, detection) before machine digging." in flat
        assert "The operators' own information is binding." in flat
        assert "responsible person" in text and "signature" in text
        assert "twin built 2024-05-06 07:08+00:00" in text  # the run's end
        assert "2024-06-01 09:30+00:00" in text  # the check
        assert "MGI / Austria GK M31 (EPSG:31258), metres" in text
        assert "E 524 620" in text  # grid every 10 m (1:250) or 20 m (1:500)
        assert "RED trench T-7" in text  # the lime tree's trunk is 4.2 m from the trench
    # all its text is in WinAnsi: the PDF's standard Helvetica, nothing embedded, no outlines
    fonts = _fonts(a3)
    assert "Helvetica" in fonts and "Type 3" not in fonts and "TrueType" not in fonts
    image = _png(a3, tmp_path)
    assert image.shape[:2] == (585, 827)  # 297 × 420 mm at 50 dpi: 584.6 × 826.8 pixels
    assert (image.min(axis=2) < 235).mean() > 0.3  # the orthophoto fills the map
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    assert ((r > 170) & (g < 100) & (b < 80)).sum() > 20  # the trench bottom, #d7301f


def test_site_plan_without_a_model_and_bad_paper(checked_street, tmp_path):
    pdf = draw_site_plan(checked_street, tmp_path / "plan.pdf", paper="A4", checked=CHECKED)
    text = _text(pdf)
    assert "unknown (no run history in the twin)" in text
    assert "parcel: road" in text and "orthophoto" not in text and "building" not in text
    with pytest.raises(InputError, match="A3, A4"):
        draw_site_plan(checked_street, tmp_path / "x.pdf", paper="A0", checked=CHECKED)


def test_enquiry_pack_per_operator(street, checked_street, tmp_path):
    period = ("2024-07-01", "2024-08-15")
    write_trench_report(checked_street, tmp_path, model=street, checked=CHECKED, period=period)
    pack = tmp_path / "enquiries"
    # Stadtwerke (W-1, S-2) and A1 Telekom (T-9) are within reach; Netz Gas (29 m) is not.
    assert sorted(p.name for p in pack.iterdir()) == [
        "a1-telekom.geojson",
        "a1-telekom.pdf",
        "enquiries.csv",
        "stadtwerke.geojson",
        "stadtwerke.pdf",
    ]
    for name in ("a1-telekom.pdf", "stadtwerke.pdf"):
        assert _info(pack / name)["Pages"].strip() == "1"
        assert _page_size(pack / name) == pytest.approx(A4, abs=0.01)
    stadtwerke, a1 = _text(pack / "stadtwerke.pdf"), _text(pack / "a1-telekom.pdf")
    assert "Utility enquiry · trench T-7" in stadtwerke
    assert "+43 463 521 0" in stadtwerke and "emergency +43 463 521 999" in stadtwerke
    assert "Leitungsauskunft Wasser/Kanal" in stadtwerke
    assert "W-1 · Stadtwerke · DN 150 · 1.20 ± 0.10 m" in stadtwerke
    assert "T-9" not in stadtwerke and "telecom" not in stadtwerke
    assert "2024-07-01 to 2024-08-15" in stadtwerke and "2024-06-01 09:30+00:00" in stadtwerke
    assert "contact: not in the twin's operators table" in a1 and "T-9" in a1
    geo = json.loads((pack / "stadtwerke.geojson").read_text())
    kinds = [(f["properties"]["kind"], f["properties"].get("part")) for f in geo["features"]]
    assert kinds[:3] == [("trench", "bottom"), ("trench", "surface"), ("trench", "working area")]
    lines = {f["properties"]["utility_id"] for f in geo["features"][3:]}
    assert lines == {"W-1", "S-2"}
    assert {f["properties"]["operator"] for f in geo["features"][3:]} == {"Stadtwerke"}
    lon, lat = geo["features"][0]["geometry"]["coordinates"][0][0]
    assert 14.0 < lon < 14.6 and 46.4 < lat < 46.8  # Klagenfurt, longitude first
    assert geo["features"][0]["properties"]["works_start"] == "2024-07-01"
    table = pd.read_csv(pack / "enquiries.csv", dtype=str, keep_default_na=False)
    assert table["operator"].tolist() == ["A1 Telekom", "Stadtwerke"]
    assert table["contact"].tolist() == [
        "contact: not in the twin's operators table",
        "in the twin's operators table",
    ]
    assert table["phone"].tolist() == ["", "+43 463 521 0"]
    assert table["lines"].tolist() == ["1", "2"]
    assert table["asked_at"].tolist() == ["2024-06-01T09:30:00+00:00"] * 2
    assert table["works_end"].tolist() == ["2024-08-15"] * 2


def test_html_prints_and_writes_numbers_as_engineers_do(street, checked_street, tmp_path):
    write_trench_report(checked_street, tmp_path, model=street, checked=CHECKED)
    page = (tmp_path / "trench.html").read_text()
    assert "@media print" in page and "@page{size:A4 landscape" in page
    assert "thead{display:table-header-group}" in page and "break-inside:avoid" in page
    assert not re.search(r"\bnan\b", page, re.I)
    assert '<td class="num">1972</td>' in page and "1972.0" not in page
    assert '<td class="id">W-1</td>' in page
    assert '<td class="num">0.150</td>' in page  # DN 150 as a diameter in metres
    assert '<a href="site_plan_a3.pdf">' in page and '<a href="site_plan_a4.pdf">' in page
    assert '<a href="enquiries/enquiries.csv">' in page and "Enquiries to the operators (2)" in page
    # 40 m × 0.6 m × 1.0 m (vertical walls) = 24.0 m³
    assert "<th>excavated volume</th><td>24.0 m³</td>" in page


def test_site_plan_of_the_sample_district(sample_twin, tmp_path):
    model = twin.open(sample_twin)
    u = model.layers["utilities"]
    water = u[(u["network"] == "water") & (u["status"] == "in_service")].geometry.iloc[0]
    axis = shapely.offset_curve(water, 1.5)
    result = check_trench(
        ExcavationIndex.from_model(model), axis, width=0.6, depth=1.8, trench_id="S-1"
    )
    xmin, ymin, xmax, ymax = result.body.total_bounds
    # The trench runs north-south along the first water main: its works with 10 m around
    # are higher than an A3 frame of 277 mm holds at 1:250 (69 m) and lower than at 1:500
    # (138.5 m); the trees reported add at most a root zone to either side.
    assert 69.25 < ymax - ymin + 20 < 138.5 and xmax - xmin + 20 < 145.0
    write_trench_report(result, tmp_path, model=model, checked=CHECKED)
    text = _text(tmp_path / "site_plan_a3.pdf")
    assert "Scale 1:500" in text
    assert "orthophoto" not in text  # the sample was built without one
    # Every label is the line's record: id, operator, DN, cover depth ± accuracy.
    rows = u.set_index("utility_id")
    expected = {}
    for uid in result.utilities["utility_id"]:
        r = rows.loc[uid]
        depth = (
            "depth unknown"
            if r["depth_source"] == "unknown" or not np.isfinite(r["depth_m"])
            else f"{r['depth_m']:.2f} ± {r['depth_accuracy_m']:.2f} m"
        )
        dn = f" · DN {r['diameter_mm']:.0f}" if r["diameter_mm"] > 0 else ""
        expected[uid] = f"{uid} · {r['operator']}{dn} · {depth}"
    found = re.findall(r"^([A-Z]-\d{6}) · (.+)$", text, re.M)
    assert found
    for uid, rest in found:
        assert f"{uid} · {rest}" == expected[uid]
    pack = pd.read_csv(tmp_path / "enquiries" / "enquiries.csv")
    assert sorted(pack["operator"]) == sorted(result.utilities["operator"].unique())
    for page in pack["page"]:
        assert _info(tmp_path / "enquiries" / page)["Pages"].strip() == "1"
    html = (tmp_path / "trench.html").read_text()
    assert not re.search(r"\bnan\b", html, re.I)
    for year in result.utilities["year_laid"].dropna():
        assert f'<td class="num">{year:.0f}</td>' in html


def test_text_helvetica_lacks_is_embedded(street, tmp_path):
    # Č is not in WinAnsi (cp1252 has Š and š, not Č): DejaVu Sans is embedded so that the
    # name is printed as written, never as "?"
    street.layers["utilities"].loc[0, "operator"] = "Celovec Čistilna"
    result = check_trench(
        ExcavationIndex.from_model(street), _line(10, 26, 50, 26), width=0.6, depth=1.0
    )
    pdf = draw_site_plan(result, tmp_path / "plan.pdf", model=street, paper="A4", checked=CHECKED)
    fonts = _fonts(pdf)
    assert "CID TrueType" in fonts and "Type 3" not in fonts
    assert "Celovec Čistilna" in _text(pdf)
