"""CVDD: the attention, distance and loss equations, training through the one loop, scoring,
explanations, top words, and save/load."""

import numpy as np
import pytest
import torch

from deepad import metrics
from deepad.models.base import Detector
from deepad.models.cvdd import CVDD
from deepad.models.cvdd.detector import length_buckets, pad_batch, top_words_per_context
from deepad.models.cvdd.loss import (
    LOG_ALPHAS,
    annealed_alpha,
    cvdd_loss,
    orthogonality_penalty,
)
from deepad.models.cvdd.network import CVDDNet, cosine_distance
from deepad.results import TokenWeights
from deepad.text.embeddings import embed_documents
from deepad.train.progress import Cancelled, RunContext
from tests.text.vectors import FINANCE, finance_docs, sports_docs, write_vectors


def test_attention_is_a_masked_softmax_over_words_and_m_is_h_a():
    torch.manual_seed(0)
    net = CVDDNet(dim=6, attention_size=5, n_contexts=3)
    words = torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    out = net(words, mask)
    w1, w2 = net.w1.weight.T, net.w2.weight.T  # (d, da), (da, r)
    for b in range(2):
        n = int(mask[b].sum())
        h = words[b, :n].T  # H: (d, l)
        expected_a = torch.softmax(torch.tanh(h.T @ w1) @ w2, dim=0)  # eq. 3.2
        torch.testing.assert_close(out.attention[b, :n], expected_a)
        torch.testing.assert_close(out.embeddings[b], (h @ expected_a).T)  # eq. 3.3
    assert torch.all(out.attention[1, 2:] == 0)
    torch.testing.assert_close(out.attention.sum(1), torch.ones(2, 3))


def test_cosine_distance_is_half_one_minus_cosine():
    c = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    m = torch.tensor([[[3.0, 0.0], [0.0, -1.0]]])
    torch.testing.assert_close(cosine_distance(c, m), torch.tensor([[0.0, 1.0]]))


def test_loss_matches_a_hand_computation():
    d = torch.tensor([[0.1, 0.4], [0.3, 0.2]])
    c = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    alpha, lam = 2.0, 0.5
    sigma = np.exp(-alpha * d.numpy())
    sigma /= sigma.sum(1, keepdims=True)
    cn = c.numpy() / np.linalg.norm(c.numpy(), axis=1, keepdims=True)
    penalty = ((cn @ cn.T - np.eye(2)) ** 2).sum()
    expected = (sigma * d.numpy()).sum(1).mean() + lam * penalty
    got = cvdd_loss(d, c, alpha=alpha, penalty=lam)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # α = 0 weighs contexts equally; a large α keeps only the closest one
    assert cvdd_loss(d, c, alpha=0.0, penalty=0.0).item() == pytest.approx(d.mean().item())
    large = cvdd_loss(d, c, alpha=1e4, penalty=0.0).item()
    assert large == pytest.approx(d.min(1).values.mean().item(), abs=1e-6)
    assert orthogonality_penalty(torch.eye(3)).item() == pytest.approx(0.0)


def test_log_alpha_schedule_steps_every_fifth_of_training():
    values = [annealed_alpha(e, 100) for e in range(1, 101)]
    assert values[0] == 0.0 and values[19] == 0.0
    assert values[20] == 1e-4 and values[40] == 1e-3 and values[60] == 1e-2 and values[99] == 1e-1
    assert sorted(set(values)) == sorted(LOG_ALPHAS)


def test_pad_batch_gathers_documents_and_masks_padding():
    flat = torch.arange(12, dtype=torch.float16).reshape(6, 2)
    offsets = np.array([0, 1, 4, 6])
    words, mask = pad_batch(flat, offsets, np.array([1, 0]))
    assert words.shape == (2, 3, 2) and words.dtype == torch.float32
    torch.testing.assert_close(words[0], flat[1:4].float())
    torch.testing.assert_close(words[1, 0], flat[0].float())
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    assert torch.all(words[1, 1:] == 0)


def test_length_buckets_cover_every_document_once_with_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, 1000)
    batches = length_buckets(lengths, 32, torch.Generator().manual_seed(0), pool=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 40  # random batches of 32 would span nearly the whole range (~190)


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    return str(write_vectors(tmp_path_factory.mktemp("vec") / "vectors.txt"))


def _settings(vectors: str, **extra) -> dict:
    settings = dict(
        embedding="file",
        embedding_file=vectors,
        cache_embeddings=False,
        device="cpu",
        epochs=6,
        lr_milestones=(3,),
        batch_size=16,
        checkpoint_every=0,
    )
    return {**settings, **extra}


def test_detects_off_topic_documents_and_round_trips(tmp_path, vectors):
    train = finance_docs(60)
    test = finance_docs(10, seed=5) + sports_docs(10) + ["", "the of"]
    det = CVDD(**_settings(vectors, n_contexts=2)).fit(train)
    scores = det.score(test)
    labels = np.r_[np.zeros(10), np.ones(10)]
    assert metrics.auroc(labels, scores.score[:20]) > 0.95
    assert scores.score.shape == (22,)  # documents with no known word are still scored
    assert np.isfinite(scores.score).all()
    comps = scores.components
    np.testing.assert_allclose(comps["mean"], (comps["context_1"] + comps["context_2"]) / 2)
    np.testing.assert_allclose(comps["min"], np.minimum(comps["context_1"], comps["context_2"]))
    np.testing.assert_array_equal(det.closest_context(test), det.context_scores(test).argmin(1))
    assert det.context_scores(test).shape == (22, 2)

    det.save(tmp_path / "m")
    loaded = Detector.load(tmp_path / "m")
    assert isinstance(loaded, CVDD)
    np.testing.assert_array_equal(loaded.decision_function(test), scores.score)
    assert loaded.top_words_ == det.top_words_


def test_min_aggregation_is_the_primary_score_when_asked(vectors):
    det = CVDD(**_settings(vectors, n_contexts=3, score="min")).fit(finance_docs(30))
    s = det.score(sports_docs(5))
    np.testing.assert_array_equal(s.score, s.components["min"])


def test_explanations_are_attention_over_kept_words(vectors):
    det = CVDD(**_settings(vectors, n_contexts=3)).fit(finance_docs(30))
    docs = ["The bank reported quarter profit today", ""]
    maps = det.explain(docs)
    assert isinstance(maps, TokenWeights)
    assert maps.tokens[0] == ["bank", "reported", "quarter", "profit", "today"]
    assert maps.weights[0].shape == (3, 5)
    np.testing.assert_allclose(maps.weights[0].sum(1), 1.0, rtol=1e-5)
    assert len(maps.head_names) == 3 and maps.head_names[0].startswith("c1: ")
    assert maps.weights[1].shape == (3, 1)


def test_top_words_come_from_the_training_topic(vectors):
    det = CVDD(**_settings(vectors, n_contexts=2)).fit(finance_docs(40))
    assert len(det.top_words_) == 2
    for words in det.top_words_:
        assert words and words[0][0] in FINANCE


def test_top_words_counts_most_attended_words_of_closest_documents():
    tokens = [["a", "b", "c"], ["a", "d", "e"], ["x", "y", "z"]]
    attention = [
        np.array([[0.7], [0.2], [0.1]]),
        np.array([[0.6], [0.3], [0.1]]),
        np.array([[0.9], [0.05], [0.05]]),
    ]
    distances = np.array([[0.1], [0.2], [0.9]])
    top = top_words_per_context(tokens, attention, distances, n_docs=2, words_per_doc=1)
    assert top == [[("a", 2)]]


def test_alpha_is_annealed_by_a_hook_in_the_shared_loop(vectors, monkeypatch):
    import deepad.models.cvdd.detector as module

    seen = []
    real = module.cvdd_loss

    def spy(distances, contexts, *, alpha, penalty):
        seen.append(alpha)
        return real(distances, contexts, alpha=alpha, penalty=penalty)

    monkeypatch.setattr(module, "cvdd_loss", spy)
    CVDD(**_settings(vectors, epochs=5, batch_size=64)).fit(finance_docs(20))
    assert seen == list(LOG_ALPHAS)  # one batch per epoch, one α per epoch


def test_contexts_start_at_kmeans_centroids(vectors, monkeypatch):
    import deepad.models.cvdd.detector as module

    captured = {}
    real_fit = module.fit_network

    def spy(net, *args, **kwargs):
        captured["start"] = net.contexts.detach().clone()
        return real_fit(net, *args, **kwargs)

    monkeypatch.setattr(module, "fit_network", spy)
    docs = finance_docs(20) + sports_docs(20)
    # every document fitted (none held out for the threshold), so the centroids are of all 40
    CVDD(**_settings(vectors, n_contexts=2, epochs=1, threshold_holdout=0)).fit(docs)
    emb = embed_documents(docs, source="file", embedding_file=vectors)
    expected = module.init_contexts(emb, 2, 0)
    torch.testing.assert_close(captured["start"], torch.from_numpy(expected))
    start = torch.nn.functional.normalize(captured["start"], dim=1)
    assert abs(float(start[0] @ start[1])) < 0.5  # the two topics give two distinct centroids


def test_prepare_embeds_documents_as_a_cancellable_stage_once(vectors):
    det = CVDD(**_settings(vectors, n_contexts=2)).fit(finance_docs(30))
    test = sports_docs(7)
    seen = []
    context = RunContext(on_stage=lambda what, done, total: seen.append((what, done, total)))
    det.prepare(test, context=context)
    assert seen[-1] == ("embedding", 7, 7)
    seen.clear()
    det.score(test)
    det.prepare(test, context=context)
    assert not seen  # memoised: scoring after prepare does not embed again
    with pytest.raises(Cancelled):
        det.prepare(sports_docs(3, seed=9), context=RunContext(should_stop=lambda: True))
