"""Camera views in the model CRS: framing an area, bookmarks saved beside the twin, tours.

A :class:`View` holds model coordinates (not the renderer's local ones), so a bookmark means
the same place whatever origin a viewer uses. Bookmarks live in ``city.bookmarks.json`` next
to ``city.gpkg``: ``{"name": {"position": [x, y, z], "focal_point": [...], "view_up": [...],
"view_angle": deg, "parallel_scale": m or null}}``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from twin.errors import InputError, StoreError
from twin.files import atomic


@dataclass(frozen=True)
class View:
    """A camera in the model CRS.

    Attributes
    ----------
    position, focal_point : (3,) float
        Eye and target, model CRS (m).
    view_up : (3,) float
        Up direction of the picture.
    view_angle
        Vertical field of view (degrees) of a perspective view.
    parallel_scale
        Half the picture height (m) of a parallel (map) view; ``None`` for perspective.
    """

    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    view_up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    view_angle: float = 30.0
    parallel_scale: float | None = None

    @classmethod
    def framing(
        cls,
        bounds: tuple[float, float, float, float, float, float],
        /,
        *,
        heading: float = 200.0,
        pitch: float = 40.0,
        top: bool = False,
        aspect: float = 1.6,
    ) -> View:
        """A view that shows the box ``(xmin, xmax, ymin, ymax, zmin, zmax)``.

        Parameters
        ----------
        heading
            Where the camera stands seen from the box centre, clockwise from grid north
            (200: south-south-west, looking north-north-east).
        pitch
            Camera elevation above the horizon (degrees) of an oblique view.
        top
            A parallel map view from straight above, north up.
        aspect
            Picture width / height.

        Examples
        --------
        >>> v = View.framing((0, 100, 0, 50, 0, 10), top=True)
        >>> v.focal_point, v.parallel_scale
        ((50.0, 25.0, 5.0), 39.0625)
        """
        b = np.asarray(bounds, dtype=np.float64)
        centre = (b[0::2] + b[1::2]) / 2.0
        half = (b[1::2] - b[0::2]) / 2.0
        if top:
            scale = max(half[1], half[0] / aspect) * 1.25
            eye = centre + np.array([0.0, 0.0, max(1000.0, 4.0 * scale)])
            return cls(_tuple(eye), _tuple(centre), (0.0, 1.0, 0.0), 30.0, float(scale))
        radius = float(np.linalg.norm(half)) or 50.0
        distance = radius / np.sin(np.radians(15.0)) * 0.9
        h, p = np.radians(heading), np.radians(pitch)
        offset = distance * np.array([np.cos(p) * np.sin(h), np.cos(p) * np.cos(h), np.sin(p)])
        return cls(_tuple(centre + offset), _tuple(centre))

    def shifted(self, origin: NDArray[np.float64], /) -> View:
        """The same view with ``origin`` subtracted from its points (model -> local)."""
        o = np.asarray(origin, dtype=np.float64)
        return View(
            _tuple(np.asarray(self.position) - o),
            _tuple(np.asarray(self.focal_point) - o),
            self.view_up,
            self.view_angle,
            self.parallel_scale,
        )


def _tuple(v: NDArray[np.float64]) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def bookmarks_path(twin_path: str | Path, /) -> Path:
    """Where the bookmarks of the twin at ``twin_path`` live (``city.bookmarks.json``)."""
    return Path(twin_path).with_suffix(".bookmarks.json")


def load_bookmarks(twin_path: str | Path, /) -> dict[str, View]:
    """The bookmarks saved beside a twin (none when there is no file).

    Raises
    ------
    StoreError
        When the file is not valid JSON or a bookmark lacks a field.
    """
    path = bookmarks_path(twin_path)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: View(
                tuple(v["position"]),
                tuple(v["focal_point"]),
                tuple(v.get("view_up", (0.0, 0.0, 1.0))),
                float(v.get("view_angle", 30.0)),
                v.get("parallel_scale"),
            )
            for name, v in raw.items()
        }
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"{path}: not a bookmarks file: {exc!r}") from exc


def save_bookmark(twin_path: str | Path, name: str, view: View, /) -> Path:
    """Add or replace bookmark ``name`` (atomically: the file is rewritten and renamed)."""
    if not name.strip():
        raise InputError("a bookmark needs a name")
    marks = load_bookmarks(twin_path)
    marks[name] = view
    path = bookmarks_path(twin_path)
    with atomic(path) as tmp:
        tmp.write_text(json.dumps({k: asdict(v) for k, v in marks.items()}, indent=2), "utf-8")
    return path


def bookmark(marks: dict[str, View], name: str, /) -> View:
    """A bookmark by name.

    Raises
    ------
    InputError
        When there is no such bookmark; the message lists those there are.
    """
    try:
        return marks[name]
    except KeyError:
        have = ", ".join(marks) or "none saved yet"
        raise InputError(f"no bookmark {name!r} (bookmarks: {have})") from None


def tour(views: list[View], /, *, frames_per_leg: int = 30) -> list[View]:
    """Camera views flying from each view to the next (eased in and out).

    Examples
    --------
    >>> a = View((0.0, 0.0, 10.0), (0.0, 10.0, 0.0))
    >>> b = View((10, 0, 10), (10, 10, 0))
    >>> path = tour([a, b], frames_per_leg=4)
    >>> [p.position[0] for p in path]
    [0.0, 1.5625, 5.0, 8.4375, 10.0]
    """
    if len(views) < 2:
        raise InputError("a fly-through needs at least two bookmarks")
    t = np.linspace(0.0, 1.0, frames_per_leg + 1)
    ease = t * t * (3.0 - 2.0 * t)
    out = [views[0]]
    for a, b in itertools.pairwise(views):
        for s in ease[1:]:
            out.append(
                View(
                    _tuple((1 - s) * np.asarray(a.position) + s * np.asarray(b.position)),
                    _tuple((1 - s) * np.asarray(a.focal_point) + s * np.asarray(b.focal_point)),
                    _tuple((1 - s) * np.asarray(a.view_up) + s * np.asarray(b.view_up)),
                    (1 - s) * a.view_angle + s * b.view_angle,
                    b.parallel_scale if s > 0.5 else a.parallel_scale,
                )
            )
    return out
