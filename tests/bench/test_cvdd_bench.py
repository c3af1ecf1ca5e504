import numpy as np

from deepad.bench.cvdd import REACH_CONTEXTS, _untrained_reach
from deepad.text.embeddings import embed_documents
from tests.text.vectors import finance_docs, sports_docs, write_vectors


def test_untrained_reach_ranks_off_topic_documents_for_every_r_and_k(tmp_path):
    vectors = str(write_vectors(tmp_path / "vectors.txt"))

    def embed(docs):
        return embed_documents(docs, source="file", embedding_file=vectors)

    fit = embed(finance_docs(120))
    val = embed(finance_docs(20, seed=7) + sports_docs(20))
    labels = np.r_[np.zeros(20), np.ones(20)].astype(np.int8)
    row = _untrained_reach(fit, val, labels, seed=0)
    assert list(row) == [f"r={r}" for r in REACH_CONTEXTS] + ["1-NN", "5-NN"]
    assert all(auroc > 0.95 for auroc in row.values())
