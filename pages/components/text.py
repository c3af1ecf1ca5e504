"""User-given text (dataset, file and class names, error messages that quote them) inside
Markdown: escaped, so it shows as typed and never becomes an image, a link, a colour
directive or formatting that would make a viewer's browser fetch a URL."""

from __future__ import annotations

import re

# CommonMark's backslash escapes cover all ASCII punctuation; these are the characters that
# open an image, a link, an autolink or HTML, emphasis, code, a strike-through, a table cell,
# a colour directive or maths (a name's dots and colons stay as they are, so it reads as typed)
_SPECIAL = re.compile(r"([\\`*_\[\]<>!~|$])")


def md(text: object) -> str:
    """``text`` as literal Markdown text on one line."""
    one_line = " ".join(str(text).splitlines())
    return _SPECIAL.sub(r"\\\1", one_line)
