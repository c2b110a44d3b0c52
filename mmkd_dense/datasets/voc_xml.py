# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A small VOC-style XML reader that keeps line numbers.

``xml.etree`` drops line information, which the bad-input errors need, so
the annotation is read with :mod:`xml.parsers.expat` directly.
"""
from typing import Dict, List, Optional
from xml.parsers import expat

__all__ = ['read_voc_xml']


def read_voc_xml(path: str) -> Dict:
    """Read a VOC-style annotation file.

    Args:
        path (str): the ``.xml`` file.

    Returns:
        dict: ``filename`` (str or None), ``width``/``height`` (str or None,
        from ``<size>``) and ``objects``: a list of dicts with ``name``,
        ``difficult`` (str or None), ``bndbox`` (dict of the ``xmin`` ...
        ``ymax`` strings found), ``line`` (line of ``<object>``),
        ``name_line`` and ``bndbox_line``.

    Raises:
        expat.ExpatError: on malformed XML (has ``lineno``).
    """
    stack: List[str] = []
    text: List[str] = []
    result: Dict = dict(filename=None, width=None, height=None, objects=[])
    current: Optional[Dict] = None
    parser = expat.ParserCreate()

    def start(tag: str, attrs: Dict) -> None:
        nonlocal current
        stack.append(tag)
        text.clear()
        if tag == 'object' and current is None:
            current = dict(name=None, difficult=None, bndbox={},
                           line=parser.CurrentLineNumber, name_line=None,
                           bndbox_line=None)
        elif current is not None and tag == 'name':
            current['name_line'] = parser.CurrentLineNumber
        elif current is not None and tag == 'bndbox':
            current['bndbox_line'] = parser.CurrentLineNumber

    def end(tag: str) -> None:
        nonlocal current
        value = ''.join(text).strip()
        parent = stack[-2] if len(stack) >= 2 else None
        stack.pop()
        text.clear()
        if current is not None:
            if tag == 'object':
                result['objects'].append(current)
                current = None
            elif tag == 'name' and parent == 'object':
                current['name'] = value
            elif tag == 'difficult' and parent == 'object':
                current['difficult'] = value
            elif parent == 'bndbox' and tag in ('xmin', 'ymin', 'xmax',
                                                'ymax'):
                current['bndbox'][tag] = value
        elif tag == 'filename' and parent == 'annotation':
            result['filename'] = value
        elif parent == 'size' and tag in ('width', 'height'):
            result[tag] = value

    def chars(data: str) -> None:
        text.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    with open(path, 'rb') as f:
        parser.ParseFile(f)
    return result
