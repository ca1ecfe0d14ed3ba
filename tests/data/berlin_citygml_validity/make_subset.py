"""Keep a few whole cityObjectMembers of a CityGML file, everything else as it is.

The root element, its namespaces and the kept members are copied unchanged (lxml); the
other members and the gml:boundedBy envelope are left out.

    python make_subset.py SOURCE OUT GML_ID [GML_ID ...]
"""

import sys

from lxml import etree

GML = "http://www.opengis.net/gml"


def main(source, out, ids):
    tree = etree.parse(source)
    root = tree.getroot()
    for child in list(root):
        if not isinstance(child.tag, str):
            continue
        if etree.QName(child).localname == "boundedBy":
            root.remove(child)
        elif etree.QName(child).localname == "cityObjectMember":
            kept = [e for e in child if e.get(f"{{{GML}}}id") in ids]
            if not kept:
                root.remove(child)
    tree.write(out, xml_declaration=True, encoding="UTF-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], set(sys.argv[3:]))
