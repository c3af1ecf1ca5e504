"""Per-word LRP of CVDD: the closed form against autograd, conservation, and a planted word."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepad import metrics
from deepad.explain.attention import context_word_relevance, score_word_relevance
from deepad.explain.lrp import conservation
from deepad.models.cvdd import CVDD
from deepad.models.cvdd.network import CVDDNet
from tests.text.vectors import DIM, finance_docs, write_vectors


def test_relevance_is_gradient_times_input_with_attention_and_norm_held_and_sums_to_d():
    torch.manual_seed(0)
    net = CVDDNet(dim=6, attention_size=5, n_contexts=3)
    words = torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, True], [True, True, True, False]])
    words = words * mask[..., None]
    out = net(words, mask)
    relevance = context_word_relevance(words, mask, out.attention, net.contexts)
    # Σ_t R_tk = d_k exactly
    torch.testing.assert_close(relevance.sum(1), out.distances, rtol=1e-5, atol=1e-6)
    assert torch.all(relevance[1, 3] == 0)  # padding
    # the same as x · ∂d/∂x with A, m̂, ĉ and ‖m‖ detached (a linear function of the words)
    x = words.clone().requires_grad_(True)
    attention = out.attention.detach()
    pooled = torch.einsum("blr,bld->brd", attention, x)
    fixed = pooled.detach()
    unit_c = torch.nn.functional.normalize(net.contexts.detach(), dim=-1)
    d = 0.5 * (pooled * (fixed / fixed.norm(dim=-1, keepdim=True) - unit_c)).sum(-1)
    d = d / fixed.norm(dim=-1)
    for k in range(3):
        (grad,) = torch.autograd.grad(d[:, k].sum(), x, retain_graph=True)
        torch.testing.assert_close(
            (grad * x).sum(-1).detach(), relevance[..., k], atol=1e-6, rtol=1e-5
        )
    # the document's relevance: mean over contexts, or the closest one's
    mean = score_word_relevance(relevance, out.distances, "mean")
    torch.testing.assert_close(mean.sum(1), out.distances.mean(1), rtol=1e-5, atol=1e-6)
    closest = score_word_relevance(relevance, out.distances, "min")
    torch.testing.assert_close(closest.sum(1), out.distances.min(1).values, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    """The two-topic vectors plus ``fraud``: along the finance direction, so attention trained
    on finance documents weighs it like a finance word, and as far again along a direction no
    normal word has, so it pulls the pooled embedding off the context."""
    path = write_vectors(tmp_path_factory.mktemp("vec") / "vectors.txt")
    planted = 3.0 * np.eye(DIM)[0] + 4.0 * np.eye(DIM)[5]
    with path.open("a") as out:
        out.write("fraud " + " ".join(f"{v:.5f}" for v in planted) + "\n")
    return str(path)


def _trained(vectors: str, n_contexts: int) -> CVDD:
    return CVDD(
        embedding="file",
        embedding_file=vectors,
        cache_embeddings=False,
        device="cpu",
        epochs=6,
        lr_milestones=(3,),
        batch_size=16,
        checkpoint_every=0,
        n_contexts=n_contexts,
    ).fit(finance_docs(60))


@pytest.mark.parametrize("n_contexts", [1, 3])
def test_the_planted_word_gets_the_top_relevance(vectors, n_contexts):
    detector = _trained(vectors, n_contexts=n_contexts)
    rng = np.random.default_rng(3)
    planted = []
    for doc in finance_docs(20, seed=9):
        words = doc.rstrip(".").split()
        words.insert(int(rng.integers(0, len(words) + 1)), "fraud")
        planted.append(" ".join(words))
    if n_contexts == 1:  # the planted word is what makes these documents anomalous
        scores = detector.decision_function(finance_docs(20, seed=8) + planted)
        assert metrics.auroc(np.r_[np.zeros(20), np.ones(20)], scores) > 0.85
    found = detector.explain(planted, method="lrp")
    assert found.head_names == ["relevance"]
    top = [t[int(np.argmax(w[0]))] for t, w in zip(found.tokens, found.weights, strict=True)]
    assert top.count("fraud") >= 19
    # attention, on the other hand, mostly looks elsewhere: at what is normal
    attention = detector.explain(planted)
    attended = [
        t[int(np.argmax(w.max(0)))]
        for t, w in zip(attention.tokens, attention.weights, strict=True)
    ]
    assert attended.count("fraud") < top.count("fraud")
    report = conservation(detector, planted)
    np.testing.assert_allclose(report["score"], detector.decision_function(planted), rtol=1e-6)
    np.testing.assert_allclose(report["relevance"], report["score"], rtol=1e-4)
    assert detector.explanation_methods() == ["default", "lrp"]


def test_a_word_the_attention_ignores_gets_no_relevance(vectors):
    # the flip side of holding attention constant: an off-topic word that the heads give
    # (almost) no weight does not move the score, and its relevance says so
    detector = _trained(vectors, n_contexts=1)
    docs = [d.rstrip(".") + " hockey" for d in finance_docs(10, seed=9)]
    found = detector.explain(docs, method="lrp")
    attention = detector.explain(docs)
    for tokens, relevance, weights in zip(
        found.tokens, found.weights, attention.weights, strict=True
    ):
        at = tokens.index("hockey")
        assert weights[0, at] < 0.1
        assert abs(relevance[0, at]) < 0.2 * np.abs(relevance[0]).max()
