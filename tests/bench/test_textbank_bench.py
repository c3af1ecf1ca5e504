import numpy as np
import pytest

from deepad.bench import BenchOptions
from deepad.bench.textbank import HELDOUT_TOP, _bank_grid, settings
from deepad.text.embeddings import embed_documents
from tests.text.vectors import finance_docs, sports_docs, write_vectors


def test_settings_go_to_the_detector_that_has_them():
    chosen = settings(BenchOptions(extra={"k": "3", "top_words": "7", "max_tokens": "64"}))
    assert (chosen.knn.k, chosen.bank.top_words) == (3, 7)
    assert chosen.text.max_tokens == chosen.knn.max_tokens == chosen.bank.max_tokens == 64
    with pytest.raises(ValueError, match="n_contexts"):
        settings(BenchOptions(extra={"n_contexts": "3"}))


def test_bank_grid_ranks_off_topic_documents_for_every_setting(tmp_path):
    vectors = str(write_vectors(tmp_path / "vectors.txt"))

    def embed(docs):
        return embed_documents(docs, source="file", embedding_file=vectors)

    fit = embed(finance_docs(400))  # 2800 words: the 1024 bank is a coreset, larger ones not
    val = embed(finance_docs(20, seed=7) + sports_docs(20))
    labels = np.r_[np.zeros(20), np.ones(20)].astype(np.int8)
    config = settings(BenchOptions()).bank
    row = _bank_grid(fit, val, labels, config)
    expected = [
        [f"bank={b} top={t}" for t in HELDOUT_TOP] + [f"bank={b} mean"] for b in (1024, "all")
    ]
    assert list(row) == expected[0] + expected[1]
    assert all(auroc > 0.95 for auroc in row.values())
