"""User-given text (dataset, file and class names, error messages that quote them) inside
Markdown: :func:`md` escapes it (see :mod:`deepad.markup`)."""

from __future__ import annotations

from deepad.markup import escape_markdown as md

__all__ = ["md"]
