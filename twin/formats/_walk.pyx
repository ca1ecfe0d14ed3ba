# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# distutils: language = c++
"""Columns of a CityJSON document's buildings, read in one pass over its text; and the
minifier of indented documents that runs before (:func:`minified`).

Written by hand, in Cython, because no JSON library gives columns: orjson and the json module
make one Python object per vertex index and semantic value (millions for a city), and
simdjson, which checks the document first (:func:`twin.formats.cityjson.read`), hands its
values out one Python object at a time. This walk reads the checked text once and fills flat
arrays (vertex indices, ring and surface sizes, semantic values) plus one row of offsets per
object and per geometry; the attributes of all objects are parsed by orjson in one call, from
one text the walk joins. It also writes the objects as twin's writer would (minified, the
members the writer leaves out dropped), so that a model read and written unchanged needs no
per-object work.

The walk reads only the regular case: buildings and building parts whose geometries are
MultiSurface, CompositeSurface or Solid with one shell, with integer indices below the number
of vertices, and ``[x, y, z]`` vertices. For anything else it returns ``None``, and the caller
parses the document whole, which reads what is valid and names what is not. Every byte read
is checked against the text's length first, so no input reads past its end.

:func:`minified` is C (``_minify.h``) with SIMD kernels chosen at run time: an indented
document is mostly whitespace (Zürich's: 1.12 of its 1.39 MB), which both simdjson and the
walk would otherwise go through token by token; no library offers a minifier that keeps the
text as it is (simdjson's Python binding writes the document out again from its parse).
"""

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.math cimport NAN
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy, strlen
from cython.operator cimport dereference as deref
from libcpp.algorithm cimport sort
from libcpp.string cimport string
from libcpp.string_view cimport string_view
from libcpp.unordered_map cimport unordered_map
from libcpp.utility cimport pair
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
    TAB = 9
    NEWLINE = 10
    RETURN = 13
    SPACE = 32
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
    LETTER_T = 116
    LETTER_F = 102
    LETTER_E = 101
    CAPITAL_E = 69
    DOT = 46

cdef uint64_t EIGHT_SPACES = 0x2020202020202020
cdef uint64_t LOW_BITS = 0x7F7F7F7F7F7F7F7F
cdef uint64_t ONES = 0x0101010101010101

cdef extern from *:
    int __builtin_ctzll(unsigned long long) noexcept nogil

#: the JSON types of attribute values, by the codes of ``kinds`` (:func:`walk`)
JSON_TYPES = (str, int, float, bool, type(None), dict, list)

#: the attribute name under which a reader keeps an object's ``address`` (as the readers'
#: ``twin.formats.objects.ADDRESS``)
ADDRESS = "+address"

#: where an object's ``parents`` and ``children`` values start, in its row of the table
cdef Py_ssize_t PARENTS_COLUMN = OBJECT_COLUMNS.index("parents_a")
cdef Py_ssize_t CHILDREN_COLUMN = OBJECT_COLUMNS.index("children_a")

cdef const char* _ADDRESS_BYTES = b"+address"
cdef string_view ADDRESS_VIEW = string_view(_ADDRESS_BYTES, strlen(_ADDRESS_BYTES))

cdef enum:  # what a list holds (_Walk.item)
    RING, SURFACE, SHELL, VALUE, CLASS

# Every method below starts on the first byte of what it reads (never on whitespace) and
# returns the position just after it, or -1: not the regular case.


cdef inline bint _space(unsigned char c) noexcept nogil:
    return c == SPACE or c == NEWLINE or c == RETURN or c == TAB


cdef inline Py_ssize_t _spaces(const unsigned char* s, Py_ssize_t n, Py_ssize_t p) noexcept nogil:
    """Past any whitespace at ``p``: indentation eight spaces at a time."""
    cdef uint64_t word
    while p < n:
        if p + 8 <= n:
            memcpy(&word, s + p, 8)
            if word == EIGHT_SPACES:
                p += 8
                continue
        if not _space(s[p]):
            break
        p += 1
    return p


cdef inline uint64_t _bytes_equal(uint64_t word, unsigned char c) noexcept nogil:
    """The high bit of each byte of ``word`` that is ``c`` (exact: no borrow between bytes)."""
    cdef uint64_t x = word ^ (ONES * c)
    return ~(((x & LOW_BITS) + LOW_BITS) | x | LOW_BITS)


cdef bint NUMERIC[256]  # the bytes of JSON numbers: digits, "-", "+", ".", "e" and "E"
cdef const unsigned char* _NUMBER_BYTES = b"0123456789-+.eE"
cdef Py_ssize_t _k
for _k in range(strlen(<const char*>_NUMBER_BYTES)):
    NUMERIC[_NUMBER_BYTES[_k]] = True


cdef int _json_type(const unsigned char* s, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """The code (in :data:`JSON_TYPES`) of the JSON value at ``s[a:b]``: a number is a float
    when it has a fraction or an exponent, as orjson reads it."""
    cdef unsigned char c = s[a]
    if c == QUOTE:
        return 0
    if c == LBRACE:
        return 5
    if c == LBRACKET:
        return 6
    if c == LETTER_N:
        return 4
    if c == LETTER_T or c == LETTER_F:
        return 3
    while a < b:
        if s[a] == DOT or s[a] == LETTER_E or s[a] == CAPITAL_E:
            return 2
        a += 1
    return 1


cdef inline bint _is(const unsigned char* s, Py_ssize_t a, Py_ssize_t b, const char* word,
                     Py_ssize_t m) noexcept nogil:
    """Whether ``s[a:b]`` is ``word`` (of length ``m``)."""
    return b - a == m and memcmp(s + a, word, m) == 0


cdef inline int _one_of(const unsigned char* s, Py_ssize_t a, Py_ssize_t b, const char* first,
                        const char* second, const char* third) noexcept nogil:
    """Which word ``s[a:b]`` is, 0, 1 or 2 (``third`` may be NULL), or -1: none."""
    if _is(s, a, b, first, strlen(first)):
        return 0
    if _is(s, a, b, second, strlen(second)):
        return 1
    if third != NULL and _is(s, a, b, third, strlen(third)):
        return 2
    return -1


cdef bytes _raw(vector[int64_t]& v):
    return (<char*>v.data())[: v.size() * 8] if v.size() else b""


@cython.final
cdef class _Walk:
    """The text, the position checks, and the columns gathered by :func:`walk`."""

    cdef const unsigned char* s
    cdef Py_ssize_t n
    cdef int64_t n_vertices
    cdef bint spaced  # whitespace seen in the current city object
    cdef bint untyped  # a semantic surface without a type seen in the current geometry
    cdef vector[int64_t] objects
    cdef vector[int64_t] geometries
    cdef vector[int64_t] index
    cdef vector[int64_t] ring_length
    cdef vector[int64_t] surface_rings
    cdef vector[double] values
    cdef string attributes
    cdef string classes
    cdef string written
    cdef list ids
    cdef list lods
    cdef list kinds  # (attribute name, JSON type code), each pair once, in order
    cdef unordered_map[string_view, int64_t] rows  # object id -> row
    cdef unordered_map[string_view, int64_t] names  # attribute name -> see _Walk.kind
    cdef Py_ssize_t last_lod_a, last_lod_b

    # --- tokens ---

    cdef inline bint at(self, Py_ssize_t p, unsigned char c) noexcept:
        return p < self.n and self.s[p] == c

    cdef inline Py_ssize_t ws(self, Py_ssize_t p) noexcept:
        """Past any whitespace at ``p``."""
        if p < self.n and _space(self.s[p]):
            p = _spaces(self.s, self.n, p)
            self.spaced = True
        return p

    cdef inline Py_ssize_t after(self, Py_ssize_t p, unsigned char close) noexcept:
        """After a member or element: past ``,`` and whitespace (more follow), at ``close``
        (the last), or -1."""
        p = self.ws(p)
        if self.at(p, COMMA):
            return self.ws(p + 1)
        return p if self.at(p, close) else -1

    cdef inline Py_ssize_t step(self, Py_ssize_t p, unsigned char close,
                                bint* closed) noexcept:
        """After an item: past ``,`` and whitespace (more follow), or past ``close``
        (``closed``: the last), or -1."""
        p = self.ws(p)
        closed[0] = self.at(p, close)
        if closed[0]:
            return p + 1
        return self.ws(p + 1) if self.at(p, COMMA) else -1

    cdef inline Py_ssize_t string(self, Py_ssize_t p, bint* escaped) noexcept:
        """A string: past its closing quote."""
        cdef uint64_t word, stop
        if not self.at(p, QUOTE):
            return -1
        p += 1
        while p + 8 <= self.n:  # eight bytes at a time up to a quote or a backslash
            memcpy(&word, self.s + p, 8)
            stop = _bytes_equal(word, QUOTE) | _bytes_equal(word, BACKSLASH)
            if stop == 0:
                p += 8
                continue
            p += __builtin_ctzll(stop) >> 3
            if self.s[p] == QUOTE:
                return p + 1
            escaped[0] = True
            p += 2
        while p < self.n:
            if self.s[p] == QUOTE:
                return p + 1
            if self.s[p] == BACKSLASH:
                escaped[0] = True
                p += 2
            else:
                p += 1
        return -1

    cdef inline Py_ssize_t key(self, Py_ssize_t p, Py_ssize_t* a, Py_ssize_t* b) noexcept:
        """A member's key (unescaped; ``s[a:b]`` its text) and colon: at its value."""
        cdef bint escaped = False
        a[0] = p + 1
        p = self.string(p, &escaped)
        if p < 0 or escaped:
            return -1
        b[0] = p - 1
        p = self.ws(p)
        if not self.at(p, COLON):
            return -1
        p = self.ws(p + 1)
        return p if p < self.n else -1

    cdef Py_ssize_t skip(self, Py_ssize_t p) noexcept:
        """Any value."""
        cdef int depth = 0
        cdef bint escaped = False
        cdef unsigned char c
        if p >= self.n:
            return -1
        c = self.s[p]
        if c == QUOTE:
            return self.string(p, &escaped)
        if c != LBRACKET and c != LBRACE:  # number, true, false, null
            while p < self.n and not (
                self.s[p] == COMMA or self.s[p] == RBRACKET or self.s[p] == RBRACE
                or _space(self.s[p])
            ):
                p += 1
            return p
        while p < self.n:
            c = self.s[p]
            if c == QUOTE:
                p = self.string(p, &escaped)
                if p < 0:
                    return -1
                continue
            if c == LBRACKET or c == LBRACE:
                depth += 1
            elif c == RBRACKET or c == RBRACE:
                depth -= 1
                if depth == 0:
                    return p + 1
            elif _space(c):
                self.spaced = True
            p += 1
        return -1

    cdef inline Py_ssize_t integer(self, Py_ssize_t p, int64_t* value) noexcept:
        """A non-negative integer of at most 18 digits (``-`` is left to the caller)."""
        cdef Py_ssize_t start = p
        cdef int64_t v = 0
        while p < self.n and ZERO <= self.s[p] <= NINE:
            v = v * 10 + (self.s[p] - ZERO)
            p += 1
        if p == start or p - start > 18:
            return -1
        value[0] = v
        return p

    cdef inline bint null(self, Py_ssize_t p) noexcept:
        return self.at(p, LETTER_N)

    cdef int copy(self, Py_ssize_t a, Py_ssize_t b) except -1:
        """Append ``s[a:b]`` to ``written``, minified when the object had whitespace."""
        cdef Py_ssize_t run
        cdef bint escaped = False
        if not self.spaced:
            self.written.append(<const char*>self.s + a, b - a)
            return 0
        while a < b:
            if _space(self.s[a]):
                a = _spaces(self.s, b, a)
                continue
            run = a
            while run < b and not _space(self.s[run]) and self.s[run] != QUOTE:
                run += 1
            if run < b and self.s[run] == QUOTE:
                run = self.string(run, &escaped)
                if run < 0 or run > b:
                    run = b
            self.written.append(<const char*>self.s + a, run - a)
            a = run
        return 0

    # --- geometry ---

    cdef Py_ssize_t ring(self, Py_ssize_t p) except -2:
        """A ring: a list of vertex indices (non-negative integers below ``n_vertices``)."""
        cdef int64_t v, count = 0
        if not self.at(p, LBRACKET):
            return -1
        p = self.ws(p + 1)
        if not self.at(p, RBRACKET):
            while True:
                p = self.integer(p, &v)
                if p < 0 or v >= self.n_vertices:
                    return -1
                self.index.push_back(v)
                count += 1
                p = self.ws(p)
                if not self.at(p, COMMA):
                    break
                p = self.ws(p + 1)
            if not self.at(p, RBRACKET):
                return -1
        self.ring_length.push_back(count)
        return p + 1

    cdef inline Py_ssize_t number(self, Py_ssize_t p) noexcept:
        """A number: past its bytes (simdjson has checked its form)."""
        cdef Py_ssize_t start = p
        while p < self.n and NUMERIC[self.s[p]]:
            p += 1
        return p if p > start else -1

    cdef Py_ssize_t items(self, Py_ssize_t p, int what, int64_t* count) except -2:
        """A JSON list of ``what`` (:meth:`item`); ``count`` gets their number."""
        cdef bint closed
        count[0] = 0
        if not self.at(p, LBRACKET):
            return -1
        p = self.ws(p + 1)
        if self.at(p, RBRACKET):
            return p + 1
        while True:
            p = self.item(p, what)
            if p < 0:
                return -1
            count[0] += 1
            p = self.step(p, RBRACKET, &closed)
            if p < 0 or closed:
                return p

    cdef Py_ssize_t item(self, Py_ssize_t p, int what) except -2:
        """One item of a list: a ring (:meth:`ring`), a surface of rings, a shell of
        surfaces, a semantic value (an integer or null), or a semantic surface object."""
        cdef int64_t v, count
        cdef bint negative, typed = False
        cdef Py_ssize_t a, b
        if what == RING:
            p = self.ring(p)
        elif what == SURFACE:
            p = self.items(p, RING, &count)
            self.surface_rings.push_back(count)
        elif what == SHELL:
            p = self.items(p, SURFACE, &count)
        elif what == VALUE:
            if self.null(p):
                self.values.push_back(NAN)
                return self.skip(p)
            negative = self.at(p, MINUS)
            p = self.integer(p + negative, &v)
            self.values.push_back(-v if negative else v)
        elif what == CLASS:  # {...}: whether it has a type
            if not self.at(p, LBRACE):
                return -1
            p = self.ws(p + 1)
            while not self.at(p, RBRACE):
                p = self.key(p, &a, &b)
                if p < 0:
                    return -1
                typed = typed or _is(self.s, a, b, "type", 4)
                p = self.skip(p)
                if p < 0:
                    return -1
                p = self.after(p, RBRACE)
                if p < 0:
                    return -1
            self.untyped = self.untyped or not typed
            p += 1
        return p

    cdef Py_ssize_t boundaries(self, Py_ssize_t p, Py_ssize_t kind, int64_t* m) except -2:
        """A geometry's boundaries: its surfaces, for a Solid those of its one shell (a Solid
        with cavities is left to the full parse)."""
        cdef int64_t shells
        cdef Py_ssize_t start = self.surface_rings.size()
        if kind != 2:
            return self.items(p, SURFACE, m)
        p = self.items(p, SHELL, &shells)
        m[0] = self.surface_rings.size() - start
        return p if shells == 1 else -1

    cdef Py_ssize_t semantic_values(self, Py_ssize_t p, Py_ssize_t kind, int64_t m,
                                    bint* given) except -2:
        """The semantic values of a geometry's ``m`` surfaces: a list (a Solid: a list with
        one list, or null, for its one shell); ``given`` false: none (an empty list)."""
        cdef int64_t count = 0, shells = 0
        cdef Py_ssize_t start = self.values.size()
        if kind == 2:
            if not self.at(p, LBRACKET):
                return -1
            p = self.ws(p + 1)
            if not self.at(p, RBRACKET):
                shells = 1
                p = self.skip(p) if self.null(p) else self.items(p, VALUE, &count)
                p = self.ws(p) if p >= 0 else -1
            if not self.at(p, RBRACKET):
                return -1
            p += 1
        else:
            p = self.items(p, VALUE, &count)
        given[0] = count > 0
        if given[0] and count != m:
            return -1
        return p

    cdef Py_ssize_t geometry(self, Py_ssize_t p, int64_t owner) except -2:
        """One geometry object: its row, its boundaries and semantics."""
        cdef Py_ssize_t a, b, end, kind = -1, lod_a = -1, lod_b = -1, bounds = -1
        cdef Py_ssize_t surfaces_at = -1, surfaces_end = -1, values_at = -1
        cdef bint escaped = False, plain = True, lod_text = False, semantic = False
        cdef bint semantic_plain = True, given = False, typed = True, parsed = False
        cdef int64_t m = 0, classes = 0
        p = self.ws(p + 1)  # past "{"
        while not self.at(p, RBRACE):
            p = self.key(p, &a, &b)
            if p < 0:
                return -1
            if _is(self.s, a, b, "boundaries", 10):
                bounds = p
                parsed = kind >= 0  # else read when the type is known
                end = self.boundaries(p, kind, &m) if parsed else self.skip(p)
            elif _is(self.s, a, b, "semantics", 9) and self.s[p] == LBRACE:
                end = self.ws(p + 1)
                semantic = not self.at(end, RBRACE)
                while not self.at(end, RBRACE):
                    end = self.key(end, &a, &b)
                    if end < 0:
                        return -1
                    if _is(self.s, a, b, "surfaces", 8) and not self.null(end):
                        surfaces_at = end
                        self.untyped = False
                        end = self.items(end, CLASS, &classes)
                        typed = not self.untyped
                        surfaces_end = end
                    else:
                        if _is(self.s, a, b, "values", 6):
                            values_at = end
                        elif not _is(self.s, a, b, "surfaces", 8):
                            semantic_plain = False
                        end = self.skip(end)
                    if end < 0:
                        return -1
                    end = self.after(end, RBRACE)
                    if end < 0:
                        return -1
                end += 1
            else:
                end = self.skip(p)
                if end < 0:
                    return -1
                if _is(self.s, a, b, "type", 4):
                    kind = _one_of(self.s, p, end, '"MultiSurface"', '"CompositeSurface"',
                                   '"Solid"')
                    if kind < 0:
                        return -1  # other types and templates: named by the full parse
                elif _is(self.s, a, b, "lod", 3):
                    lod_text = self.s[p] == QUOTE
                    lod_a, lod_b = (p + 1, end - 1) if lod_text else (p, end)
                    if lod_text and _escaped(self.s, lod_a, lod_b):
                        return -1
                elif _is(self.s, a, b, "semantics", 9):
                    if not self.null(p):
                        return -1
                else:
                    plain = False
            if end < 0:
                return -1
            p = self.after(end, RBRACE)
            if p < 0:
                return -1
        end = p + 1
        if kind < 0 or bounds < 0:
            return -1
        if not parsed and self.boundaries(bounds, kind, &m) < 0:
            return -1
        if values_at >= 0 and not self.null(values_at):
            p = self.semantic_values(values_at, kind, m, &given)
            if p < 0:
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

    # --- city objects ---

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
        if (spans[0] >= 0 and not self.null(spans[0])
                and not self.at(self.ws(spans[0] + 1), RBRACE)):
            self.written.append(b',"attributes":')
            self.copy(spans[0], spans[1])
        if spans[2] >= 0 and not self.null(spans[2]):
            self.written.append(b',"address":')
            self.copy(spans[2], spans[3])
        self.written.append(b',"geometry":')
        if spans[8] >= 0:
            self.copy(spans[8], spans[9])
        else:
            self.written.append(b"[]")
        if spans[4] >= 0 and not self.null(spans[4]):
            self.written.append(b',"parents":')
            self.copy(spans[4], spans[5])
        if spans[6] >= 0 and not self.null(spans[6]):
            self.written.append(b',"children":')
            self.copy(spans[6], spans[7])
        self.written.push_back(RBRACE)
        return 0

    cdef Py_ssize_t city_object(self, Py_ssize_t p, Py_ssize_t id_a, Py_ssize_t id_b) except -2:
        """One city object ``{...}`` whose id is at ``s[id_a:id_b]``."""
        cdef Py_ssize_t a, b, end, kind = -1
        cdef Py_ssize_t spans[10]
        cdef int64_t row = len(self.ids)
        cdef int k
        for k in range(10):
            spans[k] = -1
        if not self.at(p, LBRACE):
            return -1
        p = self.ws(p + 1)
        while not self.at(p, RBRACE):
            p = self.key(p, &a, &b)
            if p < 0:
                return -1
            if _is(self.s, a, b, "geometry", 8):
                if not self.at(p, LBRACKET):
                    return -1  # not a list: named by the full parse
                end = self.ws(p + 1)
                while not self.at(end, RBRACKET):
                    if not self.at(end, LBRACE):
                        return -1
                    end = self.geometry(end, row)
                    if end < 0:
                        return -1
                    end = self.after(end, RBRACKET)
                    if end < 0:
                        return -1
                end += 1
                spans[8], spans[9] = p, end
            else:
                end = self.skip(p)
                if end < 0:
                    return -1
                if _is(self.s, a, b, "type", 4):
                    kind = _one_of(self.s, p, end, '"Building"', '"BuildingPart"', NULL)
                    if kind < 0:
                        return -1  # other types: skipped and counted by the full parse
                elif _is(self.s, a, b, "attributes", 10):
                    if self.s[p] != LBRACE and not self.null(p):
                        return -1
                    spans[0], spans[1] = p, end
                elif _is(self.s, a, b, "address", 7):
                    spans[2], spans[3] = p, end
                elif _is(self.s, a, b, "parents", 7):
                    spans[4], spans[5] = p, end
                elif _is(self.s, a, b, "children", 8):
                    spans[6], spans[7] = p, end
            p = self.after(end, RBRACE)
            if p < 0:
                return -1
        if kind < 0:
            return -1
        self.objects.push_back(id_a)
        self.objects.push_back(id_b)
        for k in range(10):
            self.objects.push_back(spans[k])
        self.objects.push_back(kind)
        self.write(id_a, id_b, kind, spans)
        if not self.rows.insert(pair[string_view, int64_t](self.view(id_a, id_b), row)).second:
            return -1  # a repeated id: the last one counts (the full parse)
        if spans[0] >= 0 and self.at(spans[0], LBRACE) and self.attribute_kinds(spans[0], row) < 0:
            return -1
        if spans[2] >= 0:
            self.kind(ADDRESS_VIEW, _json_type(self.s, spans[2], spans[3]), row)
        if self.attributes.size() > 1:
            self.attributes.push_back(COMMA)
        if spans[0] >= 0 and not self.null(spans[0]):
            self.attributes.append(<const char*>self.s + spans[0], spans[1] - spans[0])
        else:
            self.attributes.append(b"{}")
        self.ids.append((<const char*>self.s)[id_a:id_b].decode())
        return p + 1

    cdef inline string_view view(self, Py_ssize_t a, Py_ssize_t b) noexcept:
        return string_view(<const char*>self.s + a, b - a)

    cdef int kind(self, string_view name, int code, int64_t row) except -2:
        """Note that attribute ``name`` of object ``row`` has a value of JSON type ``code``;
        -1: the object gave the name already."""
        cdef unordered_map[string_view, int64_t].iterator at = self.names.find(name)
        cdef int64_t seen  # the bits of the types seen, and above them the last row + 1
        if at == self.names.end():
            at = self.names.insert(pair[string_view, int64_t](name, 0)).first
        seen = deref(at).second
        if seen >> 8 == row + 1:
            return -1
        if not (seen >> code) & 1:
            self.kinds.append((name.data()[: name.size()].decode(), code))
        deref(at).second = (seen & 0xFF) | (1 << code) | ((row + 1) << 8)
        return 0

    cdef int attribute_kinds(self, Py_ssize_t p, int64_t row) except -2:
        """The names and JSON types of an ``attributes`` object's members (at ``p``); -1: a
        name given twice (the last counts) or the readers' own ``ADDRESS`` (the full parse)."""
        cdef Py_ssize_t a, b, end
        p = self.ws(p + 1)
        while not self.at(p, RBRACE):
            p = self.key(p, &a, &b)
            if p < 0 or self.view(a, b) == ADDRESS_VIEW:
                return -1
            end = self.skip(p)
            if end < 0 or self.kind(self.view(a, b), _json_type(self.s, p, end), row) < 0:
                return -1
            p = self.after(end, RBRACE)
            if p < 0:
                return -1
        return 0

    cdef Py_ssize_t ids_list(self, Py_ssize_t p, vector[Py_ssize_t]& spans) except -2:
        """A list of plain strings (ids): their spans added to ``spans``; past it, or -1 (not
        a list, an element not a string, or an escaped one: the full parse)."""
        cdef Py_ssize_t a
        cdef bint escaped = False
        if not self.at(p, LBRACKET):
            return -1
        p = self.ws(p + 1)
        while not self.at(p, RBRACKET):
            a = p + 1
            p = self.string(p, &escaped)
            if p < 0 or escaped:
                return -1
            spans.push_back(a)
            spans.push_back(p - 1)
            p = self.after(p, RBRACKET)
            if p < 0:
                return -1
        return p + 1

    cdef object links(self):
        """Each object's parent (the first of its ``parents``; ``None``: none), and whether
        the objects' ``parents`` and ``children`` are what the writer writes: one parent
        among the objects, which lists it among its children (in any order: the writer lists
        them in the objects' order, a file's own order is kept); ``None``: irregular links
        (the full parse)."""
        cdef Py_ssize_t n = len(self.ids), row, k, width = len(OBJECT_COLUMNS)
        cdef int64_t up, a_parents, a_children
        cdef bint single = True, has_children
        cdef vector[Py_ssize_t] spans
        cdef vector[vector[int64_t]] children, listed  # per row: by the parents, as listed
        cdef vector[bint] lists  # per row: whether it lists children (perhaps none)
        cdef unordered_map[string_view, int64_t].iterator at
        parents = [None] * n
        for row in range(n):
            a_parents = self.objects[row * width + PARENTS_COLUMN]
            a_children = self.objects[row * width + CHILDREN_COLUMN]
            if a_parents >= 0 and not self.null(a_parents):
                spans.clear()
                if self.ids_list(a_parents, spans) < 0:
                    return None
                up = -1
                if spans.size():
                    at = self.rows.find(self.view(spans[0], spans[1]))
                    up = -1 if at == self.rows.end() else deref(at).second
                    parents[row] = self.ids[up] if up >= 0 else (
                        (<const char*>self.s)[spans[0]:spans[1]].decode()
                    )
                if spans.size() != 2 or up < 0:
                    single = False
                elif single:
                    if children.size() == 0:
                        children.resize(n)
                    children[up].push_back(row)
            if a_children >= 0 and not self.null(a_children):
                spans.clear()
                if self.ids_list(a_children, spans) < 0:
                    return None
                if listed.size() == 0:
                    listed.resize(n)
                    lists.resize(n)
                lists[row] = True
                for k in range(0, spans.size(), 2):
                    at = self.rows.find(self.view(spans[k], spans[k + 1]))
                    if at == self.rows.end():
                        single = False
                    else:
                        listed[row].push_back(deref(at).second)
        if single:
            for row in range(n):
                has_children = children.size() > 0 and children[row].size() > 0
                if (listed.size() > 0 and lists[row]) != has_children:
                    single = False
                    break
                if has_children:
                    sort(listed[row].begin(), listed[row].end())
                    if listed[row] != children[row]:  # children[row] is in row order
                        single = False
                        break
        return parents, single

    cdef Py_ssize_t city_objects(self, Py_ssize_t p) except -2:
        """The ``CityObjects`` member's value."""
        cdef Py_ssize_t a, b
        if not self.at(p, LBRACE):
            return -1
        p = self.ws(p + 1)
        while not self.at(p, RBRACE):
            self.spaced = False
            p = self.key(p, &a, &b)
            if p < 0:
                return -1
            p = self.city_object(p, a, b)
            if p < 0:
                return -1
            p = self.after(p, RBRACE)
            if p < 0:
                return -1
        return p + 1

    cdef Py_ssize_t vertices(self, Py_ssize_t p) except -2:
        """The ``vertices`` member's value: ``n_vertices`` lists of three numbers."""
        cdef int64_t count = 0
        cdef int k
        if not self.at(p, LBRACKET):
            return -1
        p = self.ws(p + 1)
        if not self.at(p, RBRACKET):
            while True:
                if not self.at(p, LBRACKET):
                    return -1
                p = self.ws(p + 1)
                for k in range(3):
                    p = self.number(p)
                    if p < 0:
                        return -1
                    p = self.ws(p)
                    if k < 2:
                        if not self.at(p, COMMA):
                            return -1
                        p = self.ws(p + 1)
                if not self.at(p, RBRACKET):
                    return -1
                count += 1
                p = self.ws(p + 1)
                if not self.at(p, COMMA):
                    break
                p = self.ws(p + 1)
            if not self.at(p, RBRACKET):
                return -1
        return p + 1 if count == self.n_vertices else -1


cdef inline bint _escaped(const unsigned char* s, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    while a < b:
        if s[a] == BACKSLASH:
            return True
        a += 1
    return False


def walk(const unsigned char[::1] text not None, int64_t n_vertices):
    """The buildings of a CityJSON document as columns, or ``None`` (not the regular case:
    parse the document whole).

    Parameters
    ----------
    text
        The document: JSON text already checked (by simdjson), with any whitespace.
    n_vertices
        The number of its vertices (indices must be below it).

    Returns
    -------
    dict or None
        ``objects`` and ``geometries``: int64 tables as bytes (:data:`OBJECT_COLUMNS`,
        :data:`GEOMETRY_COLUMNS`); ``index``, ``ring_length``, ``surface_rings`` (int64)
        and ``values`` (float64, NaN: none) as bytes; ``ids`` and ``lods`` (lists of str);
        ``attributes``, the objects' attributes as one JSON array (``{}`` where absent or
        null); ``kinds``, each attribute name with each JSON type of its values (a code in
        :data:`JSON_TYPES`) once, in the order first seen, the objects' addresses under
        :data:`ADDRESS` after their attributes; ``classes``, the semantic surfaces of the
        geometries with values as one JSON array of lists; ``parents`` and ``linked`` (see
        ``_Walk.links``); ``written``, the objects as the writer writes them when their
        geometries, attributes and links need no change (``_Walk.write``).

    Examples
    --------
    >>> text = (b'{"type":"CityJSON","CityObjects":{"a":{"type":"Building","geometry":[{'
    ...         b'"type":"MultiSurface","lod":"1","boundaries":[[[0,1,2]],[[2,1,3],[0]]]}]}},'
    ...         b'"vertices":[[0,0,0],[1,0,0],[1,1,0],[0,1,1]]}')
    >>> out = walk(text, 4)
    >>> out["ids"], out["lods"], out["attributes"], out["kinds"], out["parents"]
    (['a'], ['1'], b'[{}]', [], [None])
    >>> import numpy as np
    >>> np.frombuffer(out["ring_length"], dtype=np.int64).tolist()
    [3, 3, 1]
    >>> walk(text, 3) is None  # index 3 out of range, and 4 vertices
    True
    >>> import json
    >>> walk(json.dumps(json.loads(text), indent=2).encode(), 4)["written"] == out["written"]
    True
    """
    cdef _Walk w = _Walk()
    cdef Py_ssize_t p, a, b, n = text.shape[0]
    cdef bint objects = False, vertices = False
    if n < 2:
        return None
    w.s, w.n, w.n_vertices = &text[0], n, n_vertices
    w.ids, w.lods, w.kinds = [], [], []
    w.last_lod_a = w.last_lod_b = -1
    w.attributes.push_back(LBRACKET)
    w.classes.push_back(LBRACKET)
    w.written.reserve(n)  # most of the text, once, rather than doubling as it grows
    w.written.push_back(LBRACE)
    p = w.ws(0)
    if not w.at(p, LBRACE):
        return None
    p = w.ws(p + 1)
    while not w.at(p, RBRACE):
        p = w.key(p, &a, &b)
        if p < 0:
            return None
        if _is(w.s, a, b, "CityObjects", 11):
            p, objects = w.city_objects(p), True
        elif _is(w.s, a, b, "vertices", 8):
            p, vertices = w.vertices(p), True
        else:
            p = w.skip(p)
        if p < 0:
            return None
        p = w.after(p, RBRACE)
        if p < 0:
            return None
    if not (objects and vertices) or w.ws(p + 1) != n:
        return None
    links = w.links()
    if links is None:
        return None
    w.attributes.push_back(RBRACKET)
    w.classes.push_back(RBRACKET)
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
        "kinds": w.kinds,
        "parents": links[0],
        "linked": links[1],
        "written": w.written,
    }


cdef extern from "_minify.h" nogil:
    void mini_init()
    int mini_path_available(int path)
    int mini_best_path()
    Py_ssize_t mini_minify(const unsigned char* s, size_t n, unsigned char* out, int path)

cdef extern from *:
    """
    #include <vector>
    /* The minifier's output buffer, kept per thread for texts up to 4 MB. */
    static thread_local std::vector<unsigned char> twin_minify_buffer;
    """
    vector[unsigned char] twin_minify_buffer

mini_init()

cdef enum:
    MINIFY_SLACK = 64  # the SIMD kernels store whole 64-byte vectors past the result
    KEPT_MINIFY_BYTES = 4 * 1024 * 1024

#: the minifier's kernels (:func:`minified`)
MINIFY_PATHS = {1: "avx512", 2: "ssse3", 3: "portable"}


def minify_path(int path=0):
    """The minifier's kernel this CPU runs: ``path`` itself if it can (1-3), else 0; by
    default the fastest it can.

    Examples
    --------
    >>> minify_path() in MINIFY_PATHS and minify_path(3) == 3
    True
    """
    if path == 0:
        return mini_best_path()
    return path if path in MINIFY_PATHS and mini_path_available(path) else 0


def minified(const unsigned char[::1] text not None, int path=0):
    """JSON text without its whitespace outside strings; ``None`` if removing it would join
    two tokens.

    Spaces, tabs, line feeds and carriage returns are removed outside strings; every other
    byte is kept, in order. Strings (a backslash escapes the next byte) are copied as they
    are; an unterminated one runs to the end. The text need not be valid JSON, but invalid
    JSON never becomes valid: where a removed run has on both sides a byte that is neither
    whitespace, a quote nor one of ``{}[],:`` (``[1 2]``, ``tr ue``), the result is ``None``.

    Parameters
    ----------
    text
        Any contiguous byte buffer.
    path
        The kernel (:data:`MINIFY_PATHS`): 0, the fastest this CPU runs; 1 (AVX-512), 2
        (SSSE3) or 3 (portable) to force one, for tests. All give the same result.

    Raises
    ------
    ValueError
        When this CPU cannot run ``path``.

    Examples
    --------
    >>> minified(b'{ "a b" : [1, 2],\\n  "c": "d"\\n}')
    b'{"a b":[1,2],"c":"d"}'
    >>> minified(b"[1 2]") is None
    True
    """
    cdef Py_ssize_t n = text.shape[0], q
    cdef unsigned char* out
    cdef bint kept = n + MINIFY_SLACK <= KEPT_MINIFY_BYTES
    if path != 0 and minify_path(path) != path:
        raise ValueError(f"this CPU cannot run the minifier's kernel {path}")
    if n == 0:
        return b""
    # Into a buffer, then copied: a buffer of the text's size allocated on every call costs
    # more than the minifying (fresh pages: page faults, on this and on the next read's
    # allocations), so up to 4 MB one is kept per thread (a larger text costs more to read
    # than its buffer's pages).
    if kept:
        if twin_minify_buffer.size() < <size_t>(n + MINIFY_SLACK):
            twin_minify_buffer.resize(n + MINIFY_SLACK)
        out = twin_minify_buffer.data()
    else:
        out = <unsigned char*>malloc(n + MINIFY_SLACK)
        if out == NULL:
            raise MemoryError
    try:
        with nogil:
            q = mini_minify(&text[0], <size_t>n, out, path)
        return None if q < 0 else PyBytes_FromStringAndSize(<char*>out, q)
    finally:
        if not kept:
            free(out)
