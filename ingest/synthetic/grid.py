"""The street grid of the sample district: blocks, street segments and intersections."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from numpy.typing import NDArray

from ingest.synthetic.geom import FloatArray, Frame, IntArray
from ingest.synthetic.terrain import CENTRE_X, CENTRE_Y

#: block kinds
BUILDING, PARK, SQUARE = 0, 1, 2
#: counter-clockwise rotation of the street grid against grid north, degrees
ROTATION_DEG = 4.0

STREET_NAMES = (
    "Bahnhofstraße",
    "Kramergasse",
    "Burggasse",
    "Paradeisergasse",
    "Wiener Gasse",
    "Pernhartgasse",
    "Lidmanskygasse",
    "Domgasse",
    "Karfreitstraße",
    "Herrengasse",
    "Theatergasse",
    "Adlergasse",
    "Osterwitzgasse",
    "Priesterhausgasse",
    "Kaufmanngasse",
    "Getreidegasse",
    "Renngasse",
    "Salmstraße",
    "Fleischbankgasse",
    "Khevenhüllergasse",
    "Villacher Straße",
    "St. Veiter Straße",
    "Völkermarkter Straße",
    "Rosentaler Straße",
    "Viktringer Ring",
    "St. Veiter Ring",
    "Villacher Ring",
    "Völkermarkter Ring",
    "Radetzkystraße",
    "Pischeldorfer Straße",
    "Feldkirchner Straße",
    "Fromillerstraße",
    "Gabelsbergerstraße",
    "Bäckergasse",
    "Paulitschgasse",
    "Platzgasse",
    "Sterneckstraße",
    "Tarviser Straße",
    "10.-Oktober-Straße",
    "Bahnhofplatzgasse",
    "Lastenstraße",
    "Linsengasse",
    "Waaggasse",
    "Wienerberggasse",
    "Kinkstraße",
)
_SURNAMES = (
    "Koschat",
    "Mahler",
    "Musil",
    "Bachmann",
    "Lavant",
    "Gutenberg",
    "Rilke",
    "Grillparzer",
    "Mozart",
    "Schubert",
    "Haydn",
    "Kepler",
    "Paracelsus",
    "Lessing",
    "Herder",
    "Stifter",
    "Rosegger",
    "Nestroy",
    "Raimund",
    "Lenau",
    "Anzengruber",
    "Kolping",
    "Semmelweis",
    "Billroth",
    "Wulfen",
    "Jessernigg",
    "Purtscher",
    "Hasner",
    "Benedikt",
    "Ebner",
)
_SUFFIXES = ("straße", "gasse", "weg", "ring")
SQUARE_NAMES = (
    "Neuer Platz",
    "Alter Platz",
    "Heuplatz",
    "Kardinalplatz",
    "Benediktinerplatz",
    "Domplatz",
    "Waagplatz",
    "Pfarrplatz",
    "Heiligengeistplatz",
    "Viktringer Platz",
)


@dataclass(frozen=True)
class Grid:
    """Blocks and streets of a rectangular street grid in the local frame (metres).

    Street ``k`` across x spans ``ex[2k] .. ex[2k+1]``, block column ``i`` spans
    ``ex[2i+1] .. ex[2i+2]``; likewise in y. Block ``b`` is column ``b % nx``, row ``b // nx``.
    """

    ex: FloatArray
    ey: FloatArray
    kind: NDArray[np.int8]
    v_name: NDArray[np.object_]
    h_name: NDArray[np.object_]
    square_name: NDArray[np.object_]
    frame: Frame

    @property
    def nx(self) -> int:
        """Number of block columns."""
        return (len(self.ex) - 2) // 2

    @property
    def ny(self) -> int:
        """Number of block rows."""
        return (len(self.ey) - 2) // 2

    def block_bounds(self) -> FloatArray:
        """``xmin, ymin, xmax, ymax`` of every block, shape ``(nx*ny, 4)``."""
        b = np.arange(self.nx * self.ny)
        i, j = b % self.nx, b // self.nx
        return np.column_stack(
            [self.ex[2 * i + 1], self.ey[2 * j + 1], self.ex[2 * i + 2], self.ey[2 * j + 2]]
        )


@dataclass(frozen=True)
class Segments:
    """Street segments between intersection centres, in the local frame.

    Street ``k`` is vertical street ``k``, street ``nx + 1 + l`` horizontal street ``l``.
    Segment ``k*ny + j`` is vertical street ``k`` beside block row ``j``; segment
    ``nv + l*nx + i`` (``nv = (nx+1)*ny``) is horizontal street ``l`` beside block column ``i``.
    Offsets across a segment are positive towards +x (vertical) or +y (horizontal).
    """

    vertical: NDArray[np.bool_]
    street: IntArray
    name: NDArray[np.object_]
    width: FloatArray
    bounds: FloatArray
    along0: FloatArray
    along1: FloatArray
    cross: FloatArray
    block_lo: IntArray
    block_hi: IntArray

    def __len__(self) -> int:
        return len(self.width)

    def point(
        self, seg: IntArray, along: FloatArray, offset: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Local ``x, y`` at an along-street position and a signed offset from the axis."""
        c = self.cross[seg] + offset
        v = self.vertical[seg]
        return np.where(v, c, along), np.where(v, along, c)


def street_names(n: int, rng: np.random.Generator) -> NDArray[np.object_]:
    """``n`` distinct Klagenfurt-style street names, real ones first, then composed ones."""
    composed = [f"{s}{x}" for x, s in product(_SUFFIXES, _SURNAMES)]
    pool = [*rng.permutation(STREET_NAMES), *rng.permutation(composed)]
    pool += [f"Neue Gasse {k}" for k in range(1, n - len(pool) + 1)]
    return np.array(pool[:n], dtype=object)


def make_grid(nx: int, ny: int, rng: np.random.Generator, /) -> Grid:
    """Draw a street grid of ``nx`` by ``ny`` blocks.

    Blocks are 70-115 m by 65-105 m, streets 12-20 m wide. The central block is the square
    (Neuer Platz, centred on the district origin), its neighbour a park; larger grids get
    further parks (one per ~45 blocks) and squares (one per ~90).
    """
    bw = np.round(rng.uniform(70.0, 115.0, nx), 1)
    bh = np.round(rng.uniform(65.0, 105.0, ny), 1)
    sv = np.round(rng.uniform(12.0, 20.0, nx + 1) * 2) / 2
    sh = np.round(rng.uniform(12.0, 20.0, ny + 1) * 2) / 2
    ex = np.concatenate([[0.0], np.cumsum(np.column_stack([sv[:-1], bw]).ravel()), [0.0]])
    ex[-1] = ex[-2] + sv[-1]
    ey = np.concatenate([[0.0], np.cumsum(np.column_stack([sh[:-1], bh]).ravel()), [0.0]])
    ey[-1] = ey[-2] + sh[-1]
    nb = nx * ny
    kind = np.full(nb, BUILDING, dtype=np.int8)
    ci, cj = nx // 2, ny // 2
    centre = cj * nx + ci
    kind[centre] = SQUARE
    kind[centre + 1 if ci + 1 < nx else centre - 1] = PARK
    rest = np.flatnonzero(kind == BUILDING)
    n_park, n_square = nb // 45, nb // 90
    extra = rng.choice(rest, size=min(len(rest) - 1, n_park + n_square), replace=False)
    kind[extra[:n_park]] = PARK
    kind[extra[n_park:]] = SQUARE
    square_name = np.full(nb, None, dtype=object)
    squares = np.r_[centre, np.sort(extra[n_park:])]
    square_name[squares] = [
        SQUARE_NAMES[k] if k < len(SQUARE_NAMES) else f"Platz {k + 1}" for k in range(len(squares))
    ]
    names = street_names(nx + ny + 2, rng)
    local = ((ex[2 * ci + 1] + ex[2 * ci + 2]) / 2, (ey[2 * cj + 1] + ey[2 * cj + 2]) / 2)
    frame = Frame(local, (CENTRE_X, CENTRE_Y), float(np.deg2rad(ROTATION_DEG)))
    return Grid(ex, ey, kind, names[: nx + 1], names[nx + 1 :], square_name, frame)


def street_segments(grid: Grid, /) -> Segments:
    """All street segments of ``grid``, vertical streets first."""
    nx, ny, ex, ey = grid.nx, grid.ny, grid.ex, grid.ey
    k, j = np.divmod(np.arange((nx + 1) * ny), ny)  # vertical street k beside block row j
    l_, i = np.divmod(np.arange((ny + 1) * nx), nx)  # horizontal street l beside column i
    vx0, vx1 = ex[2 * k], ex[2 * k + 1]
    hy0, hy1 = ey[2 * l_], ey[2 * l_ + 1]
    mid_x = (ex[0::2] + ex[1::2]) / 2  # street axes
    mid_y = (ey[0::2] + ey[1::2]) / 2
    bounds = np.concatenate(
        [
            np.column_stack([vx0, ey[2 * j + 1], vx1, ey[2 * j + 2]]),
            np.column_stack([ex[2 * i + 1], hy0, ex[2 * i + 2], hy1]),
        ]
    )
    return Segments(
        vertical=np.r_[np.ones(len(k), bool), np.zeros(len(i), bool)],
        street=np.concatenate([k, nx + 1 + l_]),
        name=np.concatenate([grid.v_name[k], grid.h_name[l_]]),
        width=np.concatenate([vx1 - vx0, hy1 - hy0]),
        bounds=bounds,
        along0=np.concatenate([mid_y[j], mid_x[i]]),
        along1=np.concatenate([mid_y[j + 1], mid_x[i + 1]]),
        cross=np.concatenate([mid_x[k], mid_y[l_]]),
        block_lo=np.concatenate(
            [np.where(k > 0, j * nx + k - 1, -1), np.where(l_ > 0, (l_ - 1) * nx + i, -1)]
        ),
        block_hi=np.concatenate(
            [np.where(k < nx, j * nx + k, -1), np.where(l_ < ny, l_ * nx + i, -1)]
        ),
    )


def intersections(grid: Grid, /) -> tuple[FloatArray, NDArray[np.object_]]:
    """Bounds ``(n, 4)`` of the intersection squares and the names of their cross streets."""
    l_, k = np.divmod(np.arange((grid.nx + 1) * (grid.ny + 1)), grid.nx + 1)
    ex, ey = grid.ex, grid.ey
    bounds = np.column_stack([ex[2 * k], ey[2 * l_], ex[2 * k + 1], ey[2 * l_ + 1]])
    return bounds, grid.h_name[l_]


def segment_of_side(grid: Grid, block: IntArray, side: IntArray) -> IntArray:
    """Street segment in front of side ``side`` (0 S, 1 E, 2 N, 3 W) of each ``block``."""
    i, j = block % grid.nx, block // grid.nx
    nv = (grid.nx + 1) * grid.ny
    return np.select(
        [side == 0, side == 1, side == 2],
        [nv + j * grid.nx + i, (i + 1) * grid.ny + j, nv + (j + 1) * grid.nx + i],
        i * grid.ny + j,
    )
