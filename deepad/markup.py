"""User-given text inside Markdown (the pages render names, file names and errors that
quote them as Markdown): escaped, so it shows as typed and never becomes an image, a link,
HTML, a colour directive or formatting, so no name makes a viewer's browser fetch a URL."""

from __future__ import annotations

import re

# CommonMark's backslash escapes cover all ASCII punctuation; these are the characters that
# open an image, a link, an autolink or HTML, emphasis, code, a strike-through, a table cell,
# a colour directive or maths (a name's dots and colons stay as they are, so it reads as typed)
_SPECIAL = re.compile(r"([\\`*_\[\]<>!~|$])")


def escape_markdown(text: object) -> str:
    """``text`` as literal Markdown text on one line."""
    one_line = " ".join(str(text).splitlines())
    return _SPECIAL.sub(r"\\\1", one_line)
