"""Text memory banks on MiniLM: k-NN on document embeddings and a word-state bank."""

from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"TextKNN": "detector", "TokenBank": "detector"})

__all__ = ["TextKNN", "TokenBank"]
