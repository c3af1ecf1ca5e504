"""Text memory banks on MiniLM: k-NN on document embeddings and a word-state bank."""

from deepad.models.textbank.detector import TextKNN, TokenBank

__all__ = ["TextKNN", "TokenBank"]
