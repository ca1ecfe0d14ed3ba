"""Cut a few whole objects (with their parts) out of a CityJSON file, vertices untouched.

The integer vertices and the ``transform`` are copied as they are; only the vertex list is
reduced to the vertices the kept objects use and their indices are renumbered.

    python make_subset.py SOURCE OUT N_PER_TYPE [TYPE ...]   (default type: Building)
"""

import json
import sys


def renumber(boundaries, mapping):
    if isinstance(boundaries, int):
        return mapping.setdefault(boundaries, len(mapping))
    return [renumber(b, mapping) for b in boundaries]


def main(source, out, count, types):
    doc = json.load(open(source, encoding="utf-8"))
    objects = doc["CityObjects"]
    tops = [
        k
        for t in types
        for k in [k for k, o in objects.items() if not o.get("parents") and o["type"] == t][:count]
    ]
    keep = {}
    for key in tops:
        keep[key] = objects[key]
        for child in objects[key].get("children", []):
            keep[child] = objects[child]
    mapping = {}
    for item in keep.values():
        for geometry in item.get("geometry", []):
            geometry["boundaries"] = renumber(geometry["boundaries"], mapping)
    vertices = [None] * len(mapping)
    for old, new in mapping.items():
        vertices[new] = doc["vertices"][old]
    doc["CityObjects"] = keep
    doc["vertices"] = vertices
    doc.get("metadata", {}).pop("geographicalExtent", None)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] or ["Building"])
