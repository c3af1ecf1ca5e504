"""Per-method Inspect views: ``VIEWS`` maps a method's name to its view; a method without one
uses the default view. The view modules are imported here, so an error in one is an error of
the page, never a silent fall-back to the default view."""

from __future__ import annotations

from pages.views import default
from pages.views.cvdd import CVDDView
from pages.views.default import View
from pages.views.dsebm import DSEBMView
from pages.views.fcdd import FCDDView
from pages.views.hypersphere import HypersphereView
from pages.views.iterative import IterativeView
from pages.views.token_bank import TokenBankView

DEFAULT = View()
VIEWS: dict[str, View] = {
    "cvdd": CVDDView(),
    "deepsad": HypersphereView(),
    "deepsvdd": HypersphereView(),
    "dsebm": DSEBMView(),
    "fcdd": FCDDView(),
    "hsc": HypersphereView(),
    "iterative_ae": IterativeView(),
    "token_bank": TokenBankView(),
}

__all__ = ["DEFAULT", "VIEWS", "View", "default", "view_for"]


def view_for(method: str) -> View:
    """The registered view of ``method``, or the default view."""
    return VIEWS.get(method, DEFAULT)
