"""GeoJSON features written from rows, and the features a worker has written already.

A feature's text is put together from SQLite's JSON of its properties and GEOS's GeoJSON of
its geometry (transformed and rounded by :class:`~twin.api.crsuri.OutputCRS`), one vectorised
call per page. Writing coordinates with numpy and the properties with orjson instead was
measured slower (more Python objects per value than SQLite's and GEOS's writers make).

:class:`FeatureCache` keeps the written features of one worker process within a bound of
memory: a map client asks for the same features again and again as it pans and zooms.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

import numpy as np
import shapely

from twin.api.crsuri import OutputCRS
from twin.store.base import Features

#: memory of one cache entry beyond its text (the bytes object's header, the key tuple and
#: its integer, the ordered dict's slot, index and link): 340 bytes measured with tracemalloc
#: over 100,000 entries, rounded up
ENTRY_BYTES = 400


def features(rows: Features, out: OutputCRS, /) -> list[bytes]:
    """The GeoJSON Feature of each row as UTF-8 text, its geometry in ``out``.

    Examples
    --------
    >>> from twin.api.crsuri import OutputCRS
    >>> from twin.store.base import Features
    >>> metres = OutputCRS("EPSG:31258", None, None, False, 3)
    >>> rows = Features(
    ...     np.array([7, 8]),
    ...     np.array([shapely.Point(524670.12345, 165505.0), None]),
    ...     ['{"use":"school"}', "{}"],
    ... )
    >>> features(rows, metres)[0]
    b'{"type":"Feature","id":7,"geometry":{"type":"Point","coordinates":[524670.123,165505.0]},"properties":{"use":"school"}}'
    >>> features(rows, metres)[1]
    b'{"type":"Feature","id":8,"geometry":null,"properties":{}}'
    """
    geoms = rows.geometries
    present = ~shapely.is_missing(geoms)
    if present.all():
        text = shapely.to_geojson(out.from_store(geoms))
    else:
        text = np.full(len(geoms), "null", dtype=object)
        text[present] = shapely.to_geojson(out.from_store(geoms[present]))
    return [
        f'{{"type":"Feature","id":{fid},"geometry":{g},"properties":{p}}}'.encode()
        for fid, g, p in zip(rows.ids.tolist(), text.tolist(), rows.properties, strict=True)
    ]


class FeatureCache:
    """Written features of one worker process; the least recently used go first.

    A feature is kept under its kind (what else its text depends on: layer, LoD, output CRS,
    precision, property names) and its id. The text of a feature is the same for every
    caller allowed to read it: scopes and service areas decide which features a caller gets,
    not how they are written.

    Parameters
    ----------
    max_bytes
        Most memory to hold: the texts plus :data:`ENTRY_BYTES` per feature (0 keeps nothing).

    Examples
    --------
    >>> cache = FeatureCache(1000)
    >>> cache.put("buildings", [1, 2], [b"{}", b"[]"])
    >>> cache.get("buildings", [2, 3])
    [b'[]', None]
    """

    def __init__(self, max_bytes: int, /):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Hashable, int], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Memory held now, counted as for ``max_bytes``."""
        return self._bytes

    def get(self, kind: Hashable, ids: Sequence[int], /) -> list[bytes | None]:
        """The kept texts of features ``ids`` (``None`` where not kept)."""
        if not self._entries:
            return [None] * len(ids)
        entries = self._entries
        with self._lock:
            found = [entries.get((kind, i)) for i in ids]
            for i, text in zip(ids, found, strict=True):
                if text is not None:
                    entries.move_to_end((kind, i))
        return found

    def put(self, kind: Hashable, ids: Sequence[int], texts: Sequence[bytes], /) -> None:
        """Keep the texts of features ``ids``, dropping the least recently used beyond the
        bound."""
        if self.max_bytes <= 0:
            return
        entries = self._entries
        with self._lock:
            for i, text in zip(ids, texts, strict=True):
                old = entries.pop((kind, i), None)
                if old is not None:
                    self._bytes -= len(old) + ENTRY_BYTES
                entries[kind, i] = text
                self._bytes += len(text) + ENTRY_BYTES
            while self._bytes > self.max_bytes:
                _, text = entries.popitem(last=False)
                self._bytes -= len(text) + ENTRY_BYTES

    def clear(self) -> None:
        """Forget every feature (the twin changed)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
