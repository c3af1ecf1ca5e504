"""Configurable document cleaning: which words of a document a text detector looks at.

Words are found as spans of the original text (not of a rewritten copy), so a contextual
model can read the untouched document and its token states can still be mapped back to the
kept words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache


@dataclass(frozen=True)
class TextPreprocessing:
    """The cleaning steps of the CVDD protocol, each of which can be switched off."""

    lowercase: bool = True
    strip_punctuation: bool = True
    strip_numbers: bool = True
    remove_stopwords: bool = True  # scikit-learn's English list, so nothing is downloaded
    min_length: int = 3


# An apostrophe inside a word joins its parts ("don't" -> "dont"), as deleting punctuation does.
_LETTERS = r"[^\W\d_]+(?:['’][^\W\d_]+)*"
_ALNUM = r"[^\W_]+(?:['’][^\W_]+)*"
_NO_DIGITS = r"[^\s\d]+"
_ANY = r"\S+"
_APOSTROPHES = re.compile(r"['’]")


@cache
def _stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, imported on first use (scikit-learn is slow to load)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS


@lru_cache(maxsize=8)
def _pattern(strip_punctuation: bool, strip_numbers: bool) -> re.Pattern[str]:
    if strip_punctuation:
        return re.compile(_LETTERS if strip_numbers else _ALNUM)
    return re.compile(_NO_DIGITS if strip_numbers else _ANY)


def word_spans(
    text: str, prep: TextPreprocessing = TextPreprocessing()
) -> list[tuple[str, int, int]]:
    """The kept words of ``text`` as ``(word, start, end)`` with character offsets into ``text``."""
    out = []
    for match in _pattern(prep.strip_punctuation, prep.strip_numbers).finditer(text):
        word = match.group()
        if prep.strip_punctuation:
            word = _APOSTROPHES.sub("", word)
        if prep.lowercase:
            word = word.lower()
        if len(word) < prep.min_length:
            continue
        if prep.remove_stopwords and word.lower() in _stop_words():
            continue
        out.append((word, match.start(), match.end()))
    return out


def preprocess(text: str, prep: TextPreprocessing = TextPreprocessing()) -> list[str]:
    """The kept words of ``text`` in order."""
    return [w for w, _, _ in word_spans(text, prep)]


def align_words(
    text: str, tokens: list[str], prep: TextPreprocessing = TextPreprocessing()
) -> list[tuple[int, int] | None]:
    """Character span in ``text`` of each embedded token, for highlighting the original text.

    ``tokens`` are the words a detector kept for ``text`` (e.g. ``TokenWeights.tokens[i]``):
    the pre-processed words in order, possibly fewer (a truncated long document, words missing
    from a word-vector file). ``None`` where a token has no span (the ``<empty>`` placeholder).
    """
    spans = word_spans(text, prep)
    out: list[tuple[int, int] | None] = []
    j = 0
    for token in tokens:
        while j < len(spans) and spans[j][0] != token:
            j += 1
        if j == len(spans):
            out.append(None)
            continue
        out.append((spans[j][1], spans[j][2]))
        j += 1
    return out
