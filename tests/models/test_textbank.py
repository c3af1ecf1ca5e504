"""Text memory banks: the coreset and nearest-entry distances by hand, detection and
anomalous-word highlights on test vectors, leave-one-out training scores, save/load, and
one check on the real MiniLM states with a handful of short documents."""

import numpy as np
import pytest

from deepad import metrics
from deepad.models.base import Detector
from deepad.models.textbank import TextKNN, TokenBank
from deepad.models.textbank.bank import KCenterGreedy, nearest_distances, unit_rows
from deepad.train.progress import RunContext
from tests.text.vectors import SPORTS, finance_docs, sports_docs, write_vectors


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    return str(write_vectors(tmp_path_factory.mktemp("vec") / "vectors.txt"))


def _file(vectors: str, **extra) -> dict:
    return dict(embedding="file", embedding_file=vectors, cache_embeddings=False, **extra)


def test_nearest_distances_are_cosine_distances_to_the_closest_rows():
    rng = np.random.default_rng(0)
    queries, bank = unit_rows(rng.normal(size=(50, 8))), unit_rows(rng.normal(size=(30, 8)))
    expected = np.sort(1 - queries @ bank.T, axis=1)
    got = nearest_distances(queries, bank, 3, chunk=7)
    np.testing.assert_allclose(got, expected[:, :3], atol=1e-5)
    np.testing.assert_allclose(nearest_distances(queries, bank)[:, 0], expected[:, 0], atol=1e-5)


def test_nearest_distances_can_leave_each_query_s_own_group_out():
    rows = unit_rows(np.random.default_rng(1).normal(size=(20, 4)))
    groups = np.arange(20) // 2  # pairs of rows
    left_out = nearest_distances(rows, rows, query_groups=groups, bank_groups=groups)[:, 0]
    full = 1 - rows @ rows.T
    full[groups[:, None] == groups[None, :]] = np.inf
    np.testing.assert_allclose(left_out, full.min(axis=1), atol=1e-5)


def test_k_centre_coreset_picks_one_row_per_far_cluster():
    rng = np.random.default_rng(2)
    centres = 10 * np.eye(6)
    rows = np.repeat(centres, 40, axis=0) + 0.1 * rng.normal(size=(240, 6))
    chosen = KCenterGreedy(6, projection_dim=None).select(rows)
    assert sorted(set(chosen // 40)) == list(range(6))
    assert KCenterGreedy(500).select(rows).tolist() == list(range(240))  # small sets: all
    seen = []
    KCenterGreedy(6, projection_dim=4).select(rows, lambda done, total: seen.append(done))
    assert seen[-1] == 6


@pytest.mark.parametrize("cls", [TextKNN, TokenBank])
def test_off_topic_documents_score_higher_and_round_trip(cls, vectors, tmp_path):
    det = cls(**_file(vectors)).fit(finance_docs(40))
    test = finance_docs(10, seed=5) + sports_docs(10)
    scores = det.decision_function(test)
    assert metrics.auroc(np.r_[np.zeros(10), np.ones(10)], scores) > 0.95
    # Leave-one-out: a training document is not its own neighbour, so the threshold is not 0.
    assert det.threshold_ > 0
    det.save(tmp_path / "m")
    loaded = Detector.load(tmp_path / "m")
    assert isinstance(loaded, cls)
    np.testing.assert_array_equal(loaded.decision_function(test), scores)


def test_k_larger_than_the_training_set_leaves_finite_training_scores(vectors):
    det = TextKNN(**_file(vectors, k=10)).fit(finance_docs(4))
    assert np.isfinite(det.decision_scores_).all()
    assert np.isfinite(det.decision_function(sports_docs(2))).all()


def test_the_injected_off_topic_word_is_the_top_word(vectors):
    det = TokenBank(**_file(vectors, top_words=2)).fit(finance_docs(40))
    doc = "Quarterly profit and dividend rose, the bank said; hockey shares gained."
    weights = det.explain([doc])
    words, row = weights.tokens[0], weights.weights[0]
    assert row.shape == (1, len(words))
    assert words[int(row.argmax())] == "hockey"
    assert set(SPORTS) & set(words) == {"hockey"}


def test_the_training_documents_words_are_kept_as_their_scores_saw_them(vectors, tmp_path):
    # one training document holds a word no other one uses: with its own words in the bank
    # it is at distance 0; kept as scored (without them), it stands out
    train = [*finance_docs(39), "Quarterly profit and dividend rose; hockey shares gained."]
    det = TokenBank(**_file(vectors, top_words=0)).fit(train)
    kept = det.training_explanation(np.array([0, 39]))
    full = det.explain([train[0], train[39]])
    assert kept.tokens == full.tokens
    scores = det.decision_scores_[[0, 39]]
    for left_out, own, score in zip(kept.weights, full.weights, scores, strict=True):
        # no word is closer without its document's own words, and the mean of its words is
        # the document's leave-one-out score
        assert np.all(left_out >= own - 1e-6)
        assert left_out.mean() == pytest.approx(score, rel=1e-5, abs=1e-6)
    hockey = kept.tokens[1].index("hockey")
    assert kept.weights[1][0, hockey] > 0.1 > full.weights[1][0, hockey]
    det.save(tmp_path / "m")  # not saved: a loaded model has no training words
    assert Detector.load(tmp_path / "m").training_explanation(np.array([0])) is None


def test_coreset_bounds_the_bank_and_is_a_cancellable_stage(vectors):
    seen = []
    context = RunContext(on_stage=lambda what, done, total: seen.append((what, done, total)))
    det = TokenBank(**_file(vectors, bank_size=5)).fit(finance_docs(40), context=context)
    assert det.bank_.shape[0] == 5
    assert ("coreset", 5, 5) in seen
    assert det.score(sports_docs(3)).components.keys() == {"max_word", "mean_word"}


def test_real_minilm_highlights_the_off_topic_word():
    train = [
        "The bank raised its quarterly dividend after strong earnings.",
        "Shares of the company rose as profit beat forecasts.",
        "The central bank held interest rates steady this quarter.",
        "Investors bought stock after the merger was announced.",
        "Revenue grew and the firm lifted its annual profit outlook.",
        "Bond yields fell as traders priced in lower rates.",
    ]
    det = TokenBank(top_words=1).fit(train)
    off_topic = "A giraffe walked slowly across the savanna at dawn."
    doc = "Shares of the bank rose as the giraffe beat profit forecasts."
    on_topic = "The company raised its profit forecast as shares rose."
    scores = det.decision_function([on_topic, off_topic, doc])
    assert scores[1] > scores[0]
    weights = det.explain([doc])
    assert weights.tokens[0][int(weights.weights[0].argmax())] == "giraffe"
    knn = TextKNN().fit(train)
    assert knn.decision_function([off_topic])[0] > knn.decision_function([on_topic])[0]


def test_knn_distance_is_the_mean_of_the_k_smallest_cosine_distances_leaving_self_out():
    from deepad.models.textbank.detector import knn_distance

    rows = unit_rows(np.random.default_rng(3).normal(size=(12, 5)))
    full = 1 - rows.astype(np.float64) @ rows.T.astype(np.float64)
    np.testing.assert_allclose(
        knn_distance(rows, rows, 3), np.sort(full, 1)[:, :3].mean(1), atol=1e-5
    )
    np.fill_diagonal(full, np.inf)
    got = knn_distance(rows, rows, 3, np.arange(12))
    np.testing.assert_allclose(got, np.sort(full, 1)[:, :3].mean(1), atol=1e-5)


def test_word_channel_adds_standardised_word_distance_by_hand(vectors, tmp_path):
    from deepad.text.embeddings import embed_documents

    train, test = finance_docs(30), finance_docs(5, seed=9) + sports_docs(5)
    det = TextKNN(**_file(vectors, k=3, word_weight=0.5, tfidf_weight=0)).fit(train)
    emb_train = embed_documents(train, source="file", embedding_file=vectors)
    emb_test = embed_documents(test, source="file", embedding_file=vectors)

    def knn(q, bank, leave_out):
        d = 1 - unit_rows(q).astype(np.float64) @ unit_rows(bank).T.astype(np.float64)
        if leave_out:
            np.fill_diagonal(d, np.inf)
        return np.sort(d, 1)[:, :3].mean(1)

    doc_train, word_train = (
        knn(emb_train.pooled, emb_train.pooled, True),
        knn(emb_train.mean(), emb_train.mean(), True),
    )
    expected = (knn(emb_test.pooled, emb_train.pooled, False) - doc_train.mean()) / doc_train.std()
    expected += (
        0.5
        * (knn(emb_test.mean(), emb_train.mean(), False) - word_train.mean())
        / (word_train.std())
    )
    scores = det.score(test)
    np.testing.assert_allclose(scores.score, expected, atol=1e-4)
    assert {"document", "words", "nearest"} <= scores.components.keys()
    assert metrics.auroc(np.r_[np.zeros(5), np.ones(5)], scores.score) > 0.95
    det.save(tmp_path / "m")
    np.testing.assert_array_equal(
        Detector.load(tmp_path / "m").decision_function(test), scores.score
    )


def test_tfidf_channel_matches_scikit_learn_tfidf_by_hand(vectors, tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from deepad.text.embeddings import embed_documents

    train, test = finance_docs(30), finance_docs(5, seed=9) + sports_docs(5)
    det = TextKNN(**_file(vectors, k=3, word_weight=0, tfidf_weight=0.7)).fit(train)
    emb_train = embed_documents(train, source="file", embedding_file=vectors)
    emb_test = embed_documents(test, source="file", embedding_file=vectors)
    # The same kept words, counted by scikit-learn: sublinear tf, smoothed idf, unit rows.
    tfidf = TfidfVectorizer(analyzer=lambda words: words, sublinear_tf=True)
    bank = tfidf.fit_transform(emb_train.tokens).toarray()
    queries = tfidf.transform(emb_test.tokens).toarray()

    def knn(q, b, leave_out):
        d = 1 - q @ b.T
        if leave_out:
            np.fill_diagonal(d, np.inf)
        return np.sort(d, 1)[:, :3].mean(1)

    def doc_knn(q, b, leave_out):
        return knn(unit_rows(q).astype(np.float64), unit_rows(b).astype(np.float64), leave_out)

    doc_train = doc_knn(emb_train.pooled, emb_train.pooled, True)
    tfidf_train = knn(bank, bank, True)
    expected = (doc_knn(emb_test.pooled, emb_train.pooled, False) - doc_train.mean()) / (
        doc_train.std()
    ) + 0.7 * (knn(queries, bank, False) - tfidf_train.mean()) / tfidf_train.std()
    scores = det.score(test)
    np.testing.assert_allclose(scores.components["tfidf"], knn(queries, bank, False), atol=1e-6)
    np.testing.assert_allclose(scores.score, expected, atol=1e-4)
    np.testing.assert_allclose(
        det.decision_scores_,
        (doc_train - doc_train.mean()) / doc_train.std()
        + 0.7 * (tfidf_train - tfidf_train.mean()) / tfidf_train.std(),
        atol=1e-4,
    )
    assert metrics.auroc(np.r_[np.zeros(5), np.ones(5)], scores.score) > 0.95
    det.save(tmp_path / "m")
    np.testing.assert_array_equal(
        Detector.load(tmp_path / "m").decision_function(test), scores.score
    )


def test_tfidf_channel_alone_flags_documents_of_unseen_words():
    from deepad.models.textbank.bank import sparse_knn_distance, tfidf_rows, tfidf_vocabulary

    normal = [["rates", "bank", "loan"], ["bank", "loan", "profit"], ["rates", "profit"]] * 4
    words, idf = tfidf_vocabulary(normal)
    assert words == ["bank", "loan", "profit", "rates"]
    bank = tfidf_rows(normal, words, idf)
    np.testing.assert_allclose(np.asarray((bank.multiply(bank)).sum(axis=1)).ravel(), 1.0)
    queries = tfidf_rows([["bank", "loan", "rates"], ["hockey", "goal"], []], words, idf)
    distance = sparse_knn_distance(queries, bank, 2)
    assert distance[1] == pytest.approx(1.0) and distance[2] == pytest.approx(1.0)
    assert distance[0] < 0.2
    # Leave-one-out: each of the 12 rows has 3 identical copies besides itself.
    np.testing.assert_allclose(sparse_knn_distance(bank, bank, 3, leave_out_own=True), 0, atol=1e-9)
    assert (sparse_knn_distance(bank, bank, 4, leave_out_own=True) > 0.01).all()
    np.testing.assert_allclose(sparse_knn_distance(bank, bank, 4), 0, atol=1e-9)


def test_a_model_saved_before_the_tfidf_channel_restores_and_scores_the_same(vectors):
    """Saved state of the two-channel text_knn (four scales, no tf-idf tensors) loads as a
    model without the tf-idf channel and scores as before."""
    train, test = finance_docs(20), finance_docs(3, seed=4) + sports_docs(3)
    det = TextKNN(**_file(vectors, k=3, word_weight=0.5, tfidf_weight=0)).fit(train)
    tensors, meta = det._state()
    assert not meta and "tfidf_idf" not in tensors
    tensors["scales"] = tensors["scales"][:4]  # what the two-channel model saved
    old = TextKNN(**_file(vectors, k=3, word_weight=0.5, tfidf_weight=0))
    old._restore(tensors, {})
    assert old.tfidf_bank_ is None
    from deepad.text.embeddings import embed_documents

    emb = embed_documents(test, source="file", embedding_file=vectors)
    np.testing.assert_array_equal(old.score_embeddings(emb).score, det.score_embeddings(emb).score)
