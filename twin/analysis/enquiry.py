"""The enquiry pack of a trench check (Leitungsauskunft): what to send to each operator.

Every operator whose lines lie within reach of the trench (the lines of
:attr:`TrenchCheck.utilities`) gets one A4 page (the site plan with its lines only, the
dates and its contact) and one GeoJSON (WGS 84, RFC 7946: the trench body and its lines with
their attributes). ``enquiries.csv`` lists who was asked, their contact and when, for the
file. Contacts come from the twin's ``operators`` table (columns ``operator``, ``department``,
``phone``, ``email``, ``emergency_phone``, ``web``); an operator missing from it is still
asked, its page saying so.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from twin.analysis.records import feature_collection, write_text
from twin.analysis.siteplan import as_text, draw_site_plan, operators
from twin.analysis.trench import TrenchCheck
from twin.model import CityModel

CONTACT = ("department", "phone", "email", "emergency_phone", "web")
"""The columns of the ``operators`` table besides ``operator``, as printed."""
NOT_IN_TABLE = "contact: not in the twin's operators table"


def enquiries(
    result: TrenchCheck,
    /,
    *,
    contacts: pd.DataFrame | None,
    checked: datetime,
    period: tuple[Any, Any] | None = None,
) -> pd.DataFrame:
    """Who is asked about a trench: one row per operator with lines within its reach.

    Parameters
    ----------
    result
        The trench check.
    contacts
        The twin's ``operators`` table, or ``None`` when it has none.
    checked
        When the check ran: the time of the enquiry.
    period
        The planned works period ``(start, end)``, when given.

    Returns
    -------
    pandas.DataFrame
        Columns ``trench_id``, ``operator``, the :data:`CONTACT` columns (empty where not
        known), ``contact`` (whether the operators table has the operator), ``lines``,
        ``line_ids``, ``asked_at`` (ISO 8601), ``works_start``, ``works_end``; by operator.

    Examples
    --------
    >>> import shapely
    >>> from datetime import timezone
    >>> from types import SimpleNamespace
    >>> lines = gpd.GeoDataFrame({"utility_id": ["W-1", "W-2", "N-1"],
    ...     "operator": ["Stadtwerke", "Stadtwerke", None]},
    ...     geometry=[shapely.LineString([(0, 0), (1, 0)])] * 3)
    >>> table = pd.DataFrame({"operator": ["Stadtwerke"], "phone": ["+43 463 521"]})
    >>> asked = enquiries(SimpleNamespace(trench_id="T-1", utilities=lines), contacts=table,
    ...     checked=datetime(2024, 6, 1, 9, 30, tzinfo=timezone.utc))
    >>> asked[["operator", "phone", "lines", "line_ids"]].to_dict("records")[0]
    {'operator': 'Stadtwerke', 'phone': '+43 463 521', 'lines': 2, 'line_ids': 'W-1, W-2'}
    >>> asked[["operator", "contact"]].to_dict("records")[1]
    {'operator': 'operator not recorded', 'contact': "contact: not in the twin's operators table"}
    >>> asked["asked_at"].iloc[0]
    '2024-06-01T09:30:00+00:00'
    """
    lines = result.utilities
    who = operators(lines)
    known = _contacts(contacts)
    start, end = period if period is not None else (None, None)
    rows = []
    for name in sorted(set(who)):  # a handful of operators
        ids = lines.loc[(who == name).to_numpy(), "utility_id"].astype(str)
        row = known.get(name)
        rows.append(
            {
                "trench_id": result.trench_id,
                "operator": name,
                **{c: (row or {}).get(c, "") for c in CONTACT},
                "contact": "in the twin's operators table" if row else NOT_IN_TABLE,
                "lines": len(ids),
                "line_ids": ", ".join(dict.fromkeys(ids)),
                "asked_at": checked.isoformat(),
                "works_start": as_text(start),
                "works_end": as_text(end),
            }
        )
    columns = ["trench_id", "operator", *CONTACT, "contact", "lines", "line_ids", "asked_at"]
    return pd.DataFrame(rows, columns=[*columns, "works_start", "works_end"])


def write_enquiries(
    result: TrenchCheck,
    out_dir: str | Path,
    /,
    *,
    model: CityModel | None = None,
    checked: datetime,
    period: tuple[Any, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Write the enquiry pack into ``out_dir``: per operator ``<name>.pdf`` (one A4 page) and
    ``<name>.geojson``, and ``enquiries.csv``.

    Parameters
    ----------
    result
        The trench check.
    out_dir
        The folder of the pack (created).
    model
        The twin checked against: the base map of the pages and the ``operators`` table.
    checked
        When the check ran.
    period
        The planned works period ``(start, end)``, when given.

    Returns
    -------
    tuple
        The :func:`enquiries` table with the file names (``page``, ``geojson``), and the paths
        written by kind (``csv``, ``pdf:<operator>``, ``geojson:<operator>``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    contacts = model.layers.get("operators") if model is not None else None
    table = enquiries(result, contacts=contacts, checked=checked, period=period)
    names = _file_names(table["operator"])
    paths: dict[str, Path] = {}
    who = operators(result.utilities)
    for row, stem in zip(table.itertuples(index=False), names, strict=True):
        contact = _contact_lines(row._asdict())
        paths[f"pdf:{row.operator}"] = draw_site_plan(
            result,
            out / f"{stem}.pdf",
            model=model,
            paper="A4",
            checked=checked,
            period=period,
            operator=row.operator,
            contact=contact,
        )
        mine = result.utilities[(who == row.operator).to_numpy()]
        paths[f"geojson:{row.operator}"] = write_text(
            out / f"{stem}.geojson", _geojson(result, mine, checked=checked, period=period)
        )
    table["page"] = [f"{stem}.pdf" for stem in names]
    table["geojson"] = [f"{stem}.geojson" for stem in names]
    paths["csv"] = write_text(out / "enquiries.csv", table.to_csv(index=False))
    return table, paths


def _contacts(table: pd.DataFrame | None) -> dict[str, dict[str, str]]:
    """Contact fields by operator name (the first row of each; blanks left out)."""
    if table is None or "operator" not in table:
        return {}
    known: dict[str, dict[str, str]] = {}
    for record in pd.DataFrame(table).to_dict("records"):  # one row per operator: a few
        name = as_text(record.get("operator"))
        if name and name not in known:
            known[name] = {c: as_text(record.get(c)) for c in CONTACT}
    return known


def _contact_lines(row: dict[str, Any]) -> list[str]:
    """The contact of an operator as printed on its page."""
    if row["contact"] == NOT_IN_TABLE:
        return [NOT_IN_TABLE]
    labels = {"phone": "phone ", "email": "e-mail ", "emergency_phone": "emergency ", "web": ""}
    return [f"{labels.get(c, '')}{row[c]}" for c in CONTACT if row[c]]


def _geojson(result: TrenchCheck, lines: gpd.GeoDataFrame, *, checked: datetime, period) -> str:
    """The trench body and ``lines`` as one FeatureCollection in WGS 84 (RFC 7946)."""
    start, end = period if period is not None else (None, None)
    body = result.body.assign(
        trench_id=result.trench_id,
        checked=checked.isoformat(),
        works_start=as_text(start) or None,
        works_end=as_text(end) or None,
    )
    return feature_collection([(body, "trench"), (lines, "utility")])


def _file_names(names: pd.Series) -> list[str]:
    """File names (no suffix) for operators: plain ASCII, unique.

    Examples
    --------
    >>> _file_names(["Stadtwerke Klagenfurt – Wasser", "KNG-Kärnten Netz", "KNG Kärnten-Netz"])
    ['stadtwerke-klagenfurt-wasser', 'kng-karnten-netz', 'kng-karnten-netz-2']
    """
    stems: list[str] = []
    for name in names:
        ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
        stem = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "operator"
        unique, n = stem, 1
        while unique in stems:
            n += 1
            unique = f"{stem}-{n}"
        stems.append(unique)
    return stems
