# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# distutils: language = c++
"""Columns of a CityJSON document's buildings, read from its ``CityObjects`` as minified JSON.

Written by hand, in Cython, because no JSON library gives columns: orjson and the json module
make one Python object per vertex index and semantic value (millions for a city), and
simdjson, which checks and minifies the document first (:func:`twin.formats.cityjson.read`),
hands its values out one Python object at a time. This walk reads the checked text once and
fills flat arrays (vertex indices, ring and surface sizes, semantic values) plus one row of
offsets per object and per geometry; the attributes of all objects are parsed by orjson in
one call, from one text the walk joins.

The walk reads only the regular case: buildings and building parts whose geometries are
MultiSurface, CompositeSurface or Solid with one shell, with integer indices below the number
of vertices. For anything else it returns ``None``, and the caller parses the document whole,
which reads what is valid and names what is not. Every byte read is checked against the
text's length first, so no input reads past its end.
"""

from libc.math cimport NAN
from libc.stdint cimport int64_t
from libc.string cimport memcmp
from libcpp.string cimport string
from libcpp.vector cimport vector

#: columns of the object table: offsets of the id, of the values of ``attributes``,
#: ``address``, ``parents``, ``children`` and ``geometry`` (-1: absent), and its type
#: (0 Building, 1 BuildingPart)
OBJECT_COLUMNS = (
    "id_a", "id_b", "attributes_a", "attributes_b", "address_a", "address_b",
    "parents_a", "parents_b", "children_a", "children_b", "geometry_a", "geometry_b", "type",
)
#: columns of the geometry table: its object's row, its type (0 MultiSurface,
#: 1 CompositeSurface, 2 Solid), its surfaces, its semantic surfaces (0 without values),
#: whether every semantic surface has a ``type``, whether it is written as read, whether its
#: LoD is a string, and the offsets of the LoD's value
GEOMETRY_COLUMNS = (
    "owner", "kind", "surfaces", "classes", "typed", "plain", "lod_is_text", "lod_a", "lod_b",
)

cdef enum:
    QUOTE = 34
    COMMA = 44
    MINUS = 45
    COLON = 58
    ZERO = 48
    NINE = 57
    LBRACKET = 91
    BACKSLASH = 92
    RBRACKET = 93
    LBRACE = 123
    RBRACE = 125
    LETTER_N = 110

# every function below returns the position after what it read, or -1 (not the regular case)


cdef inline Py_ssize_t _string(const unsigned char* s, Py_ssize_t n, Py_ssize_t p,
                               bint* escaped) noexcept nogil:
    """``s[p]`` is a quote: past the string's closing quote."""
    p += 1
    while p < n:
        if s[p] == QUOTE:
            return p + 1
        if s[p] == BACKSLASH:
            escaped[0] = True
            p += 2
        else:
            p += 1
    return -1


cdef Py_ssize_t _skip(const unsigned char* s, Py_ssize_t n, Py_ssize_t p) noexcept nogil:
    """Past any value at ``p``."""
    cdef int depth = 0
    cdef bint escaped = False
    cdef unsigned char c
    if p >= n:
        return -1
    c = s[p]
    if c == QUOTE:
        return _string(s, n, p, &escaped)
    if c != LBRACKET and c != LBRACE:  # number, true, false, null
        while p < n and s[p] != COMMA and s[p] != RBRACKET and s[p] != RBRACE:
            p += 1
        return p
    while p < n:
        c = s[p]
        if c == QUOTE:
            p = _string(s, n, p, &escaped)
            if p < 0:
                return -1
            continue
        if c == LBRACKET or c == LBRACE:
            depth += 1
        elif c == RBRACKET or c == RBRACE:
            depth -= 1
            if depth == 0:
                return p + 1
        p += 1
    return -1


cdef inline bint _is(const unsigned char* s, Py_ssize_t a, Py_ssize_t b, const char* word,
                     Py_ssize_t m) noexcept nogil:
    """Whether ``s[a:b]`` is ``word`` (of length ``m``)."""
    return b - a == m and memcmp(s + a, word, m) == 0


cdef inline bint _null(const unsigned char* s, Py_ssize_t n, Py_ssize_t p) noexcept nogil:
    return p < n and s[p] == LETTER_N


cdef inline Py_ssize_t _integer(const unsigned char* s, Py_ssize_t n, Py_ssize_t p,
                                int64_t* value) noexcept nogil:
    """A non-negative integer of at most 18 digits (``-`` is left to the caller)."""
    cdef Py_ssize_t start = p
    cdef int64_t v = 0
    while p < n and ZERO <= s[p] <= NINE:
        v = v * 10 + (s[p] - ZERO)
        p += 1
    if p == start or p - start > 18:
        return -1
    value[0] = v
    return p


cdef class _Walk:
    """The columns gathered by :func:`walk`."""

    cdef const unsigned char* s
    cdef Py_ssize_t n
    cdef int64_t n_vertices
    cdef vector[int64_t] objects
    cdef vector[int64_t] geometries
    cdef vector[int64_t] index
    cdef vector[int64_t] ring_length
    cdef vector[int64_t] surface_rings
    cdef vector[double] values
    cdef string attributes
    cdef string classes
    cdef string links
    cdef string written
    cdef list ids
    cdef list lods
    cdef Py_ssize_t last_lod_a, last_lod_b

    cdef Py_ssize_t rings(self, Py_ssize_t p) except -2:
        """A surface ``[[i, ...], ...]``: its rings and their indices."""
        cdef int64_t v, rings = 0, length
        if p >= self.n or self.s[p] != LBRACKET:
            return -1
        p += 1
        if p < self.n and self.s[p] == RBRACKET:
            self.surface_rings.push_back(0)
            return p + 1
        while True:
            if p >= self.n or self.s[p] != LBRACKET:
                return -1
            p += 1
            length = 0
            if p < self.n and self.s[p] == RBRACKET:
                p += 1
            else:
                while True:
                    p = _integer(self.s, self.n, p, &v)
                    if p < 0 or v >= self.n_vertices:
                        return -1
                    self.index.push_back(v)
                    length += 1
                    if p < self.n and self.s[p] == COMMA:
                        p += 1
                    elif p < self.n and self.s[p] == RBRACKET:
                        p += 1
                        break
                    else:
                        return -1
            self.ring_length.push_back(length)
            rings += 1
            if p < self.n and self.s[p] == COMMA:
                p += 1
            elif p < self.n and self.s[p] == RBRACKET:
                self.surface_rings.push_back(rings)
                return p + 1
            else:
                return -1

    cdef Py_ssize_t surfaces(self, Py_ssize_t p, int64_t* count) except -2:
        """A list of surfaces ``[[[i, ...]], ...]``; ``count`` gets their number."""
        count[0] = 0
        if p >= self.n or self.s[p] != LBRACKET:
            return -1
        p += 1
        if p < self.n and self.s[p] == RBRACKET:
            return p + 1
        while True:
            p = self.rings(p)
            if p < 0:
                return -1
            count[0] += 1
            if p < self.n and self.s[p] == COMMA:
                p += 1
            elif p < self.n and self.s[p] == RBRACKET:
                return p + 1
            else:
                return -1

    cdef Py_ssize_t semantic_values(self, Py_ssize_t p, int64_t m, bint* given) except -2:
        """A list of ``m`` semantic values (integers or nulls), or an empty list (``given``
        false: none)."""
        cdef int64_t v, k = 0
        cdef bint negative
        given[0] = False
        if p >= self.n or self.s[p] != LBRACKET:
            return -1
        p += 1
        if p < self.n and self.s[p] == RBRACKET:
            return p + 1
        given[0] = True
        while True:
            if _null(self.s, self.n, p):
                if p + 4 > self.n:
                    return -1
                self.values.push_back(NAN)
                p += 4
            else:
                negative = p < self.n and self.s[p] == MINUS
                p = _integer(self.s, self.n, p + negative, &v)
                if p < 0:
                    return -1
                self.values.push_back(-v if negative else v)
            k += 1
            if p < self.n and self.s[p] == COMMA:
                p += 1
            elif p < self.n and self.s[p] == RBRACKET:
                return p + 1 if k == m else -1
            else:
                return -1

    cdef Py_ssize_t semantic_surfaces(self, Py_ssize_t p, int64_t* count,
                                      bint* typed) except -2:
        """A list of semantic surface objects: their number, and whether each has a type."""
        cdef Py_ssize_t a
        cdef bint escaped = False, found
        count[0] = 0
        typed[0] = True
        if p >= self.n or self.s[p] != LBRACKET:
            return -1
        p += 1
        if p < self.n and self.s[p] == RBRACKET:
            return p + 1
        while True:
            if p >= self.n or self.s[p] != LBRACE:
                return -1
            p += 1
            found = False
            while p < self.n and self.s[p] != RBRACE:
                a = p
                p = _string(self.s, self.n, p, &escaped)
                if p < 0 or p >= self.n or self.s[p] != COLON:
                    return -1
                found = found or _is(self.s, a + 1, p - 1, "type", 4)
                p = _skip(self.s, self.n, p + 1)
                if p < 0:
                    return -1
                if p < self.n and self.s[p] == COMMA:
                    p += 1
            if p >= self.n:
                return -1
            p += 1
            typed[0] = typed[0] and found
            count[0] += 1
            if p < self.n and self.s[p] == COMMA:
                p += 1
            elif p < self.n and self.s[p] == RBRACKET:
                return p + 1
            else:
                return -1

    cdef Py_ssize_t boundaries(self, Py_ssize_t p, Py_ssize_t kind, int64_t* m) except -2:
        """A geometry's boundaries: its surfaces, for a Solid those of its one shell (a Solid
        with cavities is left to the full parse)."""
        if kind != 2:
            return self.surfaces(p, m)
        if p + 1 >= self.n or self.s[p] != LBRACKET:
            return -1
        p = self.surfaces(p + 1, m)
        if p < 0 or p >= self.n or self.s[p] != RBRACKET:
            return -1
        return p + 1

    cdef Py_ssize_t geometry(self, Py_ssize_t p, int64_t owner) except -2:
        """One geometry object: its row, its boundaries and semantics."""
        cdef Py_ssize_t a, b, end, kind = -1, lod_a = -1, lod_b = -1, bounds = -1
        cdef Py_ssize_t surfaces_at = -1, surfaces_end = -1, values_at = -1
        cdef bint escaped = False, plain = True, lod_text = False, semantic = False
        cdef bint semantic_plain = True, given = False, typed = True, parsed = False
        cdef int64_t m = 0, classes = 0
        p += 1  # past "{"
        while p < self.n and self.s[p] != RBRACE:
            a = p
            p = _string(self.s, self.n, p, &escaped)
            if p < 0 or p + 1 >= self.n or self.s[p] != COLON:
                return -1
            b, p = p - 1, p + 1
            if _is(self.s, a + 1, b, "boundaries", 10):
                bounds = p
                parsed = kind >= 0  # else read when the type is known
                end = self.boundaries(p, kind, &m) if parsed else _skip(self.s, self.n, p)
            elif _is(self.s, a + 1, b, "semantics", 9) and self.s[p] == LBRACE:
                end = p + 1
                while end < self.n and self.s[end] != RBRACE:
                    a = end
                    end = _string(self.s, self.n, end, &escaped)
                    if end < 0 or end + 1 >= self.n or self.s[end] != COLON:
                        return -1
                    b, end = end - 1, end + 1
                    if _is(self.s, a + 1, b, "surfaces", 8):
                        surfaces_at = end
                        if not _null(self.s, self.n, end):
                            end = self.semantic_surfaces(end, &classes, &typed)
                            surfaces_end = end
                        else:
                            end = _skip(self.s, self.n, end)
                    else:
                        if _is(self.s, a + 1, b, "values", 6):
                            values_at = end
                        else:
                            semantic_plain = False
                        end = _skip(self.s, self.n, end)
                    if end < 0:
                        return -1
                    if end < self.n and self.s[end] == COMMA:
                        end += 1
                if end >= self.n:
                    return -1
                end += 1
                semantic = end - p > 2
            else:
                end = _skip(self.s, self.n, p)
                if end < 0:
                    return -1
                if _is(self.s, a + 1, b, "type", 4):
                    if _is(self.s, p, end, '"MultiSurface"', 14):
                        kind = 0
                    elif _is(self.s, p, end, '"CompositeSurface"', 18):
                        kind = 1
                    elif _is(self.s, p, end, '"Solid"', 7):
                        kind = 2
                    else:
                        return -1  # other types and templates: named by the full parse
                elif _is(self.s, a + 1, b, "lod", 3):
                    lod_text = self.s[p] == QUOTE
                    lod_a, lod_b = (p + 1, end - 1) if lod_text else (p, end)
                    if lod_text and memchr_backslash(self.s, lod_a, lod_b):
                        return -1
                elif _is(self.s, a + 1, b, "semantics", 9):
                    if not _null(self.s, self.n, p):
                        return -1
                else:
                    plain = False
            if end < 0:
                return -1
            p = end
            if p < self.n and self.s[p] == COMMA:
                p += 1
        if p >= self.n or kind < 0 or bounds < 0:
            return -1
        end = p + 1
        if not parsed and self.boundaries(bounds, kind, &m) < 0:
            return -1
        # semantic values: a list per surface (a Solid: a list of one such list per shell)
        if values_at >= 0 and not _null(self.s, self.n, values_at):
            p = values_at
            if kind == 2:
                if self.s[p] != LBRACKET or p + 1 >= self.n:
                    return -1
                p += 1
                if self.s[p] == RBRACKET:
                    pass
                elif _null(self.s, self.n, p):
                    if p + 4 >= self.n or self.s[p + 4] != RBRACKET:
                        return -1
                else:
                    p = self.semantic_values(p, m, &given)
                    if p < 0 or p >= self.n or self.s[p] != RBRACKET:
                        return -1
            elif self.semantic_values(p, m, &given) < 0:
                return -1
        if not given:
            self.values.insert(self.values.end(), m, NAN)
            classes = 0
        elif classes:
            if self.classes.size() > 1:
                self.classes.push_back(COMMA)
            self.classes.append(<const char*>self.s + surfaces_at, surfaces_end - surfaces_at)
        plain = plain and lod_text and m > 0 and (
            not semantic or (classes > 0 and semantic_plain)
        )
        if lod_a < 0:
            lod_b = -1
            self.lods.append("None")  # as str(None)
        elif (self.last_lod_a >= 0 and lod_b - lod_a == self.last_lod_b - self.last_lod_a
              and memcmp(self.s + lod_a, self.s + self.last_lod_a, lod_b - lod_a) == 0):
            self.lods.append(self.lods[len(self.lods) - 1])  # the same text: the same str
        else:
            self.lods.append((<const char*>self.s)[lod_a:lod_b].decode())
        self.last_lod_a, self.last_lod_b = lod_a, lod_b
        self.geometries.push_back(owner)
        self.geometries.push_back(kind)
        self.geometries.push_back(m)
        self.geometries.push_back(classes)
        self.geometries.push_back(typed)
        self.geometries.push_back(plain)
        self.geometries.push_back(lod_text)
        self.geometries.push_back(lod_a)
        self.geometries.push_back(lod_b)
        return end

    cdef int write(self, Py_ssize_t id_a, Py_ssize_t id_b, Py_ssize_t kind,
                   Py_ssize_t* spans) except -1:
        """Add the object to ``written`` as the writer writes a building: its type, its
        attributes unless empty, its address unless null, its geometry, and its parents
        and children unless null, in that order; other members left out."""
        if self.written.size() > 1:
            self.written.push_back(COMMA)
        self.written.append(<const char*>self.s + id_a - 1, id_b - id_a + 2)
        if kind == 0:
            self.written.append(b':{"type":"Building"')
        else:
            self.written.append(b':{"type":"BuildingPart"')
        if spans[0] >= 0 and spans[1] - spans[0] > 2 and not _null(self.s, self.n, spans[0]):
            self.written.append(b',"attributes":')
            self.written.append(<const char*>self.s + spans[0], spans[1] - spans[0])
        if spans[2] >= 0 and not _null(self.s, self.n, spans[2]):
            self.written.append(b',"address":')
            self.written.append(<const char*>self.s + spans[2], spans[3] - spans[2])
        self.written.append(b',"geometry":')
        if spans[8] >= 0:
            self.written.append(<const char*>self.s + spans[8], spans[9] - spans[8])
        else:
            self.written.append(b"[]")
        if spans[4] >= 0 and not _null(self.s, self.n, spans[4]):
            self.written.append(b',"parents":')
            self.written.append(<const char*>self.s + spans[4], spans[5] - spans[4])
        if spans[6] >= 0 and not _null(self.s, self.n, spans[6]):
            self.written.append(b',"children":')
            self.written.append(<const char*>self.s + spans[6], spans[7] - spans[6])
        self.written.push_back(RBRACE)
        return 0

    cdef Py_ssize_t city_object(self, Py_ssize_t p, Py_ssize_t id_a, Py_ssize_t id_b) except -2:
        """One city object ``{...}`` whose id is at ``s[id_a:id_b]``."""
        cdef Py_ssize_t a, b, end, kind = -1
        cdef Py_ssize_t spans[10]
        cdef bint escaped = False
        cdef int64_t row = len(self.ids)
        cdef int k
        for k in range(10):
            spans[k] = -1
        if p >= self.n or self.s[p] != LBRACE:
            return -1
        p += 1
        while p < self.n and self.s[p] != RBRACE:
            a = p
            p = _string(self.s, self.n, p, &escaped)
            if p < 0 or p + 1 >= self.n or self.s[p] != COLON:
                return -1
            b, p = p - 1, p + 1
            if _is(self.s, a + 1, b, "geometry", 8) and self.s[p] == LBRACKET:
                end = p + 1
                while end < self.n and self.s[end] != RBRACKET:
                    if self.s[end] != LBRACE:
                        return -1
                    end = self.geometry(end, row)
                    if end < 0:
                        return -1
                    if end < self.n and self.s[end] == COMMA:
                        end += 1
                if end >= self.n:
                    return -1
                end += 1
                spans[8], spans[9] = p, end
                p = end
                if p < self.n and self.s[p] == COMMA:
                    p += 1
                continue
            end = _skip(self.s, self.n, p)
            if end < 0:
                return -1
            if _is(self.s, a + 1, b, "type", 4):
                if _is(self.s, p, end, '"Building"', 10):
                    kind = 0
                elif _is(self.s, p, end, '"BuildingPart"', 14):
                    kind = 1
                else:
                    return -1  # other types: skipped and counted by the full parse
            elif _is(self.s, a + 1, b, "attributes", 10):
                if self.s[p] != LBRACE and not _null(self.s, self.n, p):
                    return -1
                spans[0], spans[1] = p, end
            elif _is(self.s, a + 1, b, "address", 7):
                spans[2], spans[3] = p, end
            elif _is(self.s, a + 1, b, "parents", 7):
                spans[4], spans[5] = p, end
            elif _is(self.s, a + 1, b, "children", 8):
                spans[6], spans[7] = p, end
            elif _is(self.s, a + 1, b, "geometry", 8):
                return -1  # not a list: named by the full parse
            p = end
            if p < self.n and self.s[p] == COMMA:
                p += 1
        if p >= self.n or kind < 0:
            return -1
        self.objects.push_back(id_a)
        self.objects.push_back(id_b)
        for k in range(10):
            self.objects.push_back(spans[k])
        self.objects.push_back(kind)
        self.write(id_a, id_b, kind, spans)
        if spans[4] >= 0 or spans[6] >= 0:  # [row, parents, children]
            if self.links.size() > 1:
                self.links.push_back(COMMA)
            self.links.append(b"[")
            self.links.append(str(row).encode())
            for k in (4, 6):
                self.links.push_back(COMMA)
                if spans[k] >= 0:
                    self.links.append(<const char*>self.s + spans[k], spans[k + 1] - spans[k])
                else:
                    self.links.append(b"null")
            self.links.push_back(RBRACKET)
        if self.attributes.size() > 1:
            self.attributes.push_back(COMMA)
        if spans[0] >= 0:
            self.attributes.append(<const char*>self.s + spans[0], spans[1] - spans[0])
        else:
            self.attributes.append(b"{}")
        self.ids.append((<const char*>self.s)[id_a:id_b].decode())
        return p + 1


cdef inline bint memchr_backslash(const unsigned char* s, Py_ssize_t a,
                                  Py_ssize_t b) noexcept nogil:
    while a < b:
        if s[a] == BACKSLASH:
            return True
        a += 1
    return False


cdef bytes _raw(vector[int64_t]& v):
    return (<char*>v.data())[: v.size() * 8] if v.size() else b""


def walk(const unsigned char[::1] text not None, int64_t n_vertices):
    """The buildings of minified ``CityObjects`` text as columns, or ``None`` (not the
    regular case: parse the document whole).

    Parameters
    ----------
    text
        The ``CityObjects`` member of a checked JSON document, minified.
    n_vertices
        The document's number of vertices (indices must be below it).

    Returns
    -------
    dict or None
        ``objects`` and ``geometries``: int64 tables as bytes (:data:`OBJECT_COLUMNS`,
        :data:`GEOMETRY_COLUMNS`); ``index``, ``ring_length``, ``surface_rings`` (int64)
        and ``values`` (float64, NaN: none) as bytes; ``ids`` and ``lods`` (lists of str);
        ``attributes``, the objects' attributes as one JSON array (``{}`` where absent);
        ``classes``, the semantic surfaces of the geometries with values as one JSON array
        of lists; ``links``, a JSON array of ``[row, parents, children]`` (``null``: absent)
        for the objects with either; ``written``, the objects as the writer writes them when
        their geometries, attributes and links need no change (``_Walk.write``).

    Examples
    --------
    >>> text = (b'{"a":{"type":"Building","geometry":[{"type":"MultiSurface","lod":"1",'
    ...         b'"boundaries":[[[0,1,2]],[[2,1,3],[0]]]}]}}')
    >>> out = walk(text, 4)
    >>> out["ids"], out["lods"], out["attributes"]
    (['a'], ['1'], b'[{}]')
    >>> import numpy as np
    >>> np.frombuffer(out["ring_length"], dtype=np.int64).tolist()
    [3, 3, 1]
    >>> walk(text, 3) is None  # index 3 out of range
    True
    """
    cdef _Walk w = _Walk()
    cdef Py_ssize_t p = 1, a, b, n = text.shape[0]
    cdef bint escaped
    w.s, w.n, w.n_vertices = &text[0] if n else NULL, n, n_vertices
    w.ids, w.lods = [], []
    w.last_lod_a = w.last_lod_b = -1
    w.attributes.push_back(LBRACKET)
    w.classes.push_back(LBRACKET)
    w.links.push_back(LBRACKET)
    w.written.push_back(LBRACE)
    if n < 2 or text[0] != LBRACE:
        return None
    while p < n and text[p] != RBRACE:
        escaped = False
        a = p
        p = _string(w.s, n, p, &escaped)
        if p < 0 or escaped or p >= n or text[p] != COLON:
            return None
        b = p - 1
        p = w.city_object(p + 1, a + 1, b)
        if p < 0:
            return None
        if p < n and text[p] == COMMA:
            p += 1
    if p != n - 1:
        return None
    w.attributes.push_back(RBRACKET)
    w.classes.push_back(RBRACKET)
    w.links.push_back(RBRACKET)
    w.written.push_back(RBRACE)

    return {
        "objects": _raw(w.objects),
        "geometries": _raw(w.geometries),
        "index": _raw(w.index),
        "ring_length": _raw(w.ring_length),
        "surface_rings": _raw(w.surface_rings),
        "values": (<char*>w.values.data())[: w.values.size() * 8] if w.values.size() else b"",
        "ids": w.ids,
        "lods": w.lods,
        "attributes": w.attributes,
        "classes": w.classes,
        "links": w.links,
        "written": w.written,
    }
