"""Property: a solid that :func:`twin.validity.check` repairs comes out valid.

Hypothesis builds closed prisms (a simple footprint, star-shaped, cyclic or rectilinear, on
the millimetre grid, lifted from a ground height by a building height) and breaks them in the
ways the check's docstring promises to mend: vertices repeated or jittered under half a
millimetre (snapped to the output grid, 102), faces turned over one by one or the whole shell
pointing inwards (307), a roof corner lifted a few centimetres (over the 1 cm planarity
tolerance, under the 20° normals tolerance: split into triangles, 203). A vertex added on a
vertical edge of both walls that share it (collinear, no repair needed) must not hurt either.
Rings cannot be given unclosed: shapely closes every ring it builds (103 never reaches the
check).

The repaired solid must pass the check itself (no codes, and a second check changes nothing)
and an independent reading: every edge used by exactly two faces, once in each direction;
trimesh finds the fan-triangulated shell watertight and consistently wound; the signed volume
(divergence theorem over Newell's vector areas, written here) is positive and equals the
unbroken prism's ``area × height`` within 1e-6 m³ (between it and ``area × height + area ×
lift`` when a roof corner was lifted). :func:`twin.validity.repair_surfaces` must carry the
repair to ``building_surfaces``: one row per repaired face, each with the semantic class of the
face it comes from, the areas per class those of the prism. The runs are derandomised.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
import trimesh
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tests.conftest import DERANDOMISED
from twin.validity import check, check_faces, repair_surfaces

PROPERTY = settings(DERANDOMISED, max_examples=120)
X0, Y0 = 524670.0, 165505.0  # Klagenfurt, Neuer Platz (EPSG:31258)
ORIGIN = np.array([X0, Y0, 0.0])
CLASSES = np.array(["GroundSurface", "WallSurface", "RoofSurface"], dtype=object)


# --- unbroken prisms --------------------------------------------------------------------------


@st.composite
def footprints(draw, *, convex: bool = False) -> shapely.Polygon:
    """A simple footprint in local metres on the millimetre grid, counter-clockwise.

    Star-shaped (radii 4-15 m at angles at least ~0.28 rad apart), cyclic (one radius: convex,
    and every vertex at least r (1 - cos 0.2) from the chords of the others) or rectilinear
    (a union of up to three overlapping boxes, rotated).
    """
    kind = "cyclic" if convex else draw(st.sampled_from(["star", "cyclic", "rectilinear"]))
    if kind == "rectilinear":
        boxes = [shapely.box(0, 0, draw(st.integers(4, 20)), draw(st.integers(4, 20)))]
        for _ in range(draw(st.integers(0, 2))):
            x, y = draw(st.integers(-8, 16)), draw(st.integers(-8, 16))
            boxes.append(
                shapely.box(x, y, x + draw(st.integers(3, 12)), y + draw(st.integers(3, 12)))
            )
            assume(boxes[-1].intersection(boxes[0]).area > 1.0)
        shape = shapely.union_all(boxes)
        assume(shape.geom_type == "Polygon" and not shape.interiors)
        angle = draw(st.sampled_from([0.0, 17.0, 30.0, 45.0, 73.5]))
        xy = np.asarray(shapely.affinity.rotate(shape, angle, origin=(0, 0)).exterior.coords)[:-1]
    else:
        n = draw(st.integers(3, 8))
        weights = np.array(draw(st.lists(st.floats(1.0, 3.0), min_size=n, max_size=n)))
        theta = np.cumsum(weights) / weights.sum() * 2 * np.pi
        theta += draw(st.floats(0.0, 2 * np.pi))
        radius = draw(st.floats(4.0, 15.0))
        if kind == "star":
            radius = np.array(draw(st.lists(st.floats(4.0, 15.0), min_size=n, max_size=n)))
        xy = np.column_stack([radius * np.cos(theta), radius * np.sin(theta)])
    poly = shapely.Polygon(np.round(xy, 3))
    assume(poly.is_valid and poly.area > 10.0)
    return shapely.orient_polygons(poly)


def prism(footprint: shapely.Polygon, ground: float, height: float) -> list[np.ndarray]:
    """The faces (rings of (k, 3) local coordinates, not closed) of the prism: the ground
    (clockwise from above: facing down), one wall per edge (bottom edge along the
    counter-clockwise outline, then up: facing outwards), the roof (counter-clockwise)."""
    xy = np.asarray(footprint.exterior.coords)[:-1]
    top = round(ground + height, 3)
    low = np.column_stack([xy, np.full(len(xy), ground)])
    high = np.column_stack([xy, np.full(len(xy), top)])
    walls = [
        np.array([low[i], low[(i + 1) % len(xy)], high[(i + 1) % len(xy)], high[i]])
        for i in range(len(xy))
    ]
    return [low[::-1].copy(), *walls, high.copy()]


# --- breaking them ----------------------------------------------------------------------------


@st.composite
def broken_prisms(draw):
    """A prism, how it was broken, and what its volume must be after repair.

    Returns the broken faces (local coordinates), the semantic class of each, the footprint,
    height and lift (m) of one roof corner (0 when none).
    """
    lift = draw(st.sampled_from([0.0, 0.0, 0.03, 0.06]))
    footprint = draw(footprints(convex=lift > 0))
    ground = draw(st.integers(440_000, 450_000)) / 1000
    height = draw(st.integers(2_500, 40_000)) / 1000
    faces = prism(footprint, ground, height)
    n = len(faces)
    semantic = [0, *[1] * (n - 2), 2]
    walls = n - 2
    if lift:  # one roof corner up, in the roof and in the two (vertical) walls sharing it
        k = draw(st.integers(0, walls - 1))
        faces[-1][k, 2] += lift
        faces[1 + k][3, 2] += lift  # the wall starting at corner k: its top left
        faces[1 + (k - 1) % walls][2, 2] += lift  # the wall ending at it: its top right
    if draw(st.booleans()):  # a collinear vertex on a vertical edge, in both walls on it
        k = draw(st.integers(0, walls - 1))
        z = round(ground + draw(st.floats(0.1, 0.9)) * height, 3)
        before, after = 1 + (k - 1) % walls, 1 + k  # wall ending at corner k, wall starting
        x, y = faces[after][0, :2]
        faces[after] = np.insert(faces[after], 0, [x, y, z], axis=0)[[1, 2, 3, 4, 0]]
        faces[before] = np.insert(faces[before], 2, [x, y, z], axis=0)
    for _ in range(draw(st.integers(0, 3))):  # a vertex repeated in its ring
        f = draw(st.integers(0, n - 1))
        v = draw(st.integers(0, len(faces[f]) - 1))
        faces[f] = np.insert(faces[f], v, faces[f][v], axis=0)
    if draw(st.booleans()):  # every coordinate of every ring jittered under half a millimetre
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        faces = [f + rng.uniform(-0.00045, 0.00045, f.shape) for f in faces]
    turn = draw(st.sampled_from(["none", "some", "all"]))
    if turn == "all":
        faces = [f[::-1] for f in faces]
    elif turn == "some":
        chosen = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n - 1))
        faces = [f[::-1] if i in chosen else f for i, f in enumerate(faces)]
    return faces, np.array(semantic), footprint, height, lift


def solid_of(faces: list[np.ndarray]) -> shapely.MultiPolygon:
    """The faces (local) as a MultiPolygon Z at the city's coordinates."""
    return shapely.MultiPolygon([shapely.Polygon(f + ORIGIN) for f in faces])


# --- the independent reading ------------------------------------------------------------------


def rings_of(solid: shapely.MultiPolygon) -> list[np.ndarray]:
    """The exterior ring (not closed) of each face, in local coordinates."""
    return [np.asarray(f.exterior.coords)[:-1] - ORIGIN for f in solid.geoms]


def newell(ring: np.ndarray) -> np.ndarray:
    """Vector area (normal × area) of a planar ring (k, 3)."""
    return 0.5 * np.cross(ring, np.roll(ring, -1, axis=0)).sum(axis=0)


def signed_volume(rings: list[np.ndarray]) -> float:
    """Divergence theorem: V = 1/3 Σ p_f · A_f over planar faces (p_f a vertex of face f)."""
    return sum(float(r[0] @ newell(r)) for r in rings) / 3.0


def edges_twice_opposite(rings: list[np.ndarray]) -> bool:
    """Whether every directed edge (on the millimetre grid) occurs once and its reverse once."""
    directed: dict[tuple, int] = {}
    for r in rings:
        grid = [tuple(p) for p in np.rint(r * 1000).astype(np.int64).tolist()]
        for a, b in zip(grid, grid[1:] + grid[:1], strict=True):
            directed[a, b] = directed.get((a, b), 0) + 1
    return all(n == 1 and directed.get((b, a)) == 1 for (a, b), n in directed.items())


def fan_mesh(rings: list[np.ndarray]) -> trimesh.Trimesh:
    """The faces as triangle fans around their first vertex (mm grid vertices merged)."""
    triangles = [(r[0], r[i], r[i + 1]) for r in rings for i in range(1, len(r) - 1)]
    corners = np.round(np.array(triangles), 3).reshape(-1, 3)
    return trimesh.Trimesh(corners, np.arange(len(corners)).reshape(-1, 3), process=True)


# --- the property -----------------------------------------------------------------------------


def assert_repaired(faces, semantic, footprint, height, lift) -> None:
    area = footprint.area  # local coordinates on the mm grid: exact to ~1e-12 m²
    solid = solid_of(faces)
    codes, repaired = check(np.array([solid], dtype=object))
    assert codes == [[]], codes
    repaired = repaired[0]
    # the project's own check: valid, and nothing left to repair
    again = check_faces(np.array([repaired], dtype=object))
    assert again.codes == [[]] and not again.changed.any()
    # the independent reading
    rings = rings_of(repaired)
    assert edges_twice_opposite(rings)
    mesh = fan_mesh(rings)
    assert mesh.is_watertight and mesh.is_winding_consistent
    volume = signed_volume(rings)
    assert abs(mesh.volume - volume) <= 1e-6
    if lift:  # the lifted corner adds a sliver of roof: at most area × lift
        assert area * height - 1e-6 <= volume <= area * height + area * lift + 1e-6
    else:
        assert volume > 0 and abs(volume - area * height) <= 1e-6
    # building_surfaces: the repaired faces with the classes of the faces they come from
    checked = check_faces(np.array([solid], dtype=object))
    surfaces = gpd.GeoDataFrame(
        {
            "building_id": "B1",
            "lod": "1.2",
            "semantic": CLASSES[semantic],
            "area": np.nan,
        },
        geometry=list(solid.geoms),
    )
    out = repair_surfaces(
        surfaces, np.array([solid]), np.array(["B1"], dtype=object), checked, lod="1.2"
    )
    if not checked.changed[0]:
        assert out is surfaces  # only snapped: nothing to carry over
        return
    assert shapely.equals_exact(out.geometry.to_numpy(), checked.faces, tolerance=0).all()
    assert out["semantic"].tolist() == CLASSES[semantic[checked.origin]].tolist()
    per_class = out.groupby("semantic")["area"].sum()
    if not lift:  # ground and roof: the footprint; walls: the perimeter × the height
        assert abs(per_class["GroundSurface"] - area) <= 1e-6
        assert abs(per_class["RoofSurface"] - area) <= 1e-6
        assert abs(per_class["WallSurface"] - footprint.length * height) <= 1e-6


SQUARE = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])


@PROPERTY
@given(broken_prisms())
# A 10 m × 10 m × 3 m block (300 m³) with its roof turned over alone (307 by a neighbour's
# edges) and its first wall's first vertex repeated (102).
@example(
    (
        [
            f[::-1] if i == 5 else (np.insert(f, 0, f[0], axis=0) if i == 1 else f)
            for i, f in enumerate(prism(SQUARE, 445.0, 3.0))
        ],
        np.array([0, 1, 1, 1, 1, 2]),
        SQUARE,
        3.0,
        0.0,
    )
)
# The same block pointing inwards as a whole (every face turned): the signed volume is
# -300 m³ before the repair, +300 m³ after.
@example(
    ([f[::-1] for f in prism(SQUARE, 445.0, 3.0)], np.array([0, 1, 1, 1, 1, 2]), SQUARE, 3.0, 0.0)
)
# Its roof corner (0, 0) lifted 6 cm (203: split into two triangles). A triangle of the roof
# holds area × the mean rise of its corners above 448 m: split along the diagonal through
# (0, 0), both triangles hold it, 2 × 50 m² × 0.06 / 3 m = 2 m³; along the other one, one
# does, 1 m³. The volume is 302 or 301 m³, within [300, 300 + 100 × 0.06 = 306] m³.
@example(
    (
        [
            np.where(np.all(f == [0, 0, 448.0], axis=1)[:, None], [0, 0, 448.06], f)
            for f in prism(SQUARE, 445.0, 3.0)
        ],
        np.array([0, 1, 1, 1, 1, 2]),
        SQUARE,
        3.0,
        0.06,
    )
)
def test_a_repaired_solid_is_valid_closed_and_keeps_its_volume(case):
    assert_repaired(*case)
