"""Reading and writing VDSM's device XML: one <interface> element.

Parsing is hardened (no entities, no network) because the XML comes from
outside; output is what VDSM reads back: an XML declaration and one
element, pretty-printed so that running a hook twice gives the same bytes.
"""

from __future__ import annotations

from lxml import etree

from vif_driver.api import InvalidInput

DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>\n"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True,
                          huge_tree=False, load_dtd=False)


def parse_device(text: str):
    """The <interface> element of a device XML text, or None if it is empty."""
    if not text.strip():
        return None
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as e:
        raise InvalidInput(f"device XML is not well-formed ({e.msg}); VDSM must pass one <interface> element") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr] # lxml-stubs: DocInfo has it
        raise InvalidInput("device XML has a DOCTYPE; VDSM never sends one, refusing entity tricks")
    if root.tag != "interface":
        raise InvalidInput(f"device XML has <{root.tag}> where <interface> is expected; "
                           "this hook handles vNIC devices only")
    return root


def serialize_device(element) -> str:
    etree.indent(element, space="    ")  # VDSM's own indentation
    body = etree.tostring(element, encoding="unicode", pretty_print=True)
    return DECLARATION.decode() + body


def only_child(parent, tag: str, attributes: dict[str, str] | None = None, before: str | None = None):
    """Make ``tag`` one empty child of ``parent`` with exactly these
    attributes and return it: in the place of the first existing one, else
    before the first ``before`` child, else last. Running a rewrite on its
    own output so changes nothing, and diffs of VDSM's XML stay small."""
    found = parent.findall(tag)
    fresh = parent.makeelement(tag, attributes or {})
    if found:
        parent.replace(found[0], fresh)
        for stale in found[1:]:
            parent.remove(stale)
    elif before is not None and parent.find(before) is not None:
        parent.find(before).addprevious(fresh)
    else:
        parent.append(fresh)
    return fresh
