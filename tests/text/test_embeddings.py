import numpy as np
import pytest

from deepad.disk_cache import DiskCache
from deepad.text import embeddings as E
from deepad.text.embeddings import EMPTY_TOKEN, EmbeddingSource, embed_documents
from deepad.text.preprocess import TextPreprocessing
from tests.text.vectors import DIM, write_vectors


@pytest.fixture(autouse=True)
def _fresh_memo():
    E._MEMO.clear()
    yield
    E._MEMO.clear()


@pytest.mark.parametrize("header", [False, True], ids=["glove", "fasttext"])
def test_file_vectors_per_kept_word_and_no_document_dropped(tmp_path, header):
    path = write_vectors(tmp_path / "vec.txt", header=header)
    table = {}
    for line in path.read_text().splitlines()[int(header) :]:
        word, *values = line.split(" ")
        table[word] = np.array(values, dtype=np.float32)
    docs = ["Profit and dividend, unknownword!", "", "the of and", "hockey goal"]
    emb = embed_documents(docs, source="file", embedding_file=path)
    assert len(emb) == 4 and emb.dim == DIM
    assert emb.tokens == [["profit", "dividend"], [EMPTY_TOKEN], [EMPTY_TOKEN], ["hockey", "goal"]]
    np.testing.assert_allclose(
        emb.document(0), np.stack([table["profit"], table["dividend"]]), atol=1e-2
    )
    np.testing.assert_allclose(emb.mean()[3], (table["hockey"] + table["goal"]) / 2, atol=1e-2)
    assert np.isfinite(emb.vectors.astype(np.float32)).all()


def test_cache_round_trip_and_key_depends_on_settings(tmp_path):
    path = write_vectors(tmp_path / "vec.txt")
    docs = ["profit dividend shares", "hockey team season"]
    first = embed_documents(docs, source="file", embedding_file=path, cache=DiskCache(tmp_path / "c", max_bytes=2**30))
    files = list((tmp_path / "c" / "embeddings").glob("*.npz"))
    assert len(files) == 1
    E._MEMO.clear()
    again = embed_documents(docs, source="file", embedding_file=path, cache=DiskCache(tmp_path / "c", max_bytes=2**30))
    np.testing.assert_array_equal(first.vectors, again.vectors)
    np.testing.assert_array_equal(first.offsets, again.offsets)
    assert first.tokens == again.tokens
    embed_documents(
        docs,
        source="file",
        embedding_file=path,
        prep=TextPreprocessing(min_length=5),
        cache=DiskCache(tmp_path / "c", max_bytes=2**30),
    )
    assert len(list((tmp_path / "c" / "embeddings").glob("*.npz"))) == 2


def test_an_unreadable_cache_file_is_ignored_and_written_again(tmp_path):
    path = write_vectors(tmp_path / "vec.txt")
    docs = ["profit dividend shares", "hockey team season"]
    cache = DiskCache(tmp_path / "c", max_bytes=2**30)
    first = embed_documents(docs, source="file", embedding_file=path, cache=cache)
    [(entry, size, _)] = cache.entries()
    entry.write_bytes(b"PK\x03\x04 cut short")
    E._MEMO.clear()
    again = embed_documents(docs, source="file", embedding_file=path, cache=cache)
    np.testing.assert_array_equal(first.vectors, again.vectors)
    assert entry.stat().st_size == size  # written again in full


def test_subset_keeps_documents_aligned(tmp_path):
    path = write_vectors(tmp_path / "vec.txt")
    docs = ["profit", "hockey goal team", "bank stock"]
    emb = embed_documents(docs, source="file", embedding_file=path)
    part = emb.subset([2, 0])
    assert part.tokens == [["bank", "stock"], ["profit"]]
    np.testing.assert_array_equal(part.document(0), emb.document(2))
    np.testing.assert_array_equal(part.pooled, emb.pooled[[2, 0]])


def test_file_source_needs_a_path():
    with pytest.raises(ValueError, match="embedding_file"):
        embed_documents(["x"], source=EmbeddingSource.FILE)


def test_minilm_words_are_means_of_their_word_piece_states():
    import torch

    model = E.load_minilm("cpu")
    text = "Unbelievably, the stockholders applauded."
    emb = embed_documents([text])
    assert emb.tokens == [["unbelievably", "stockholders", "applauded"]]
    assert emb.dim == 384
    enc = model.tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.inference_mode():
        states = model[0].auto_model(**enc).last_hidden_state[0].numpy()
    start = text.index("stockholders")
    pieces = [i for i, (a, b) in enumerate(offsets) if b > a and a >= start and b <= start + 12]
    assert len(pieces) > 1  # a multi-piece word, so the mean is really exercised
    np.testing.assert_allclose(emb.document(0)[1], states[pieces].mean(0), atol=2e-2)
    # The pooled vector is sentence-transformers' own document embedding, before normalising.
    reference = model.encode([text])[0]
    pooled = emb.pooled[0] / np.linalg.norm(emb.pooled[0])
    np.testing.assert_allclose(pooled, reference, atol=1e-4)


def test_minilm_static_table_and_package_path():
    assert (E.minilm_path() / "model.safetensors").is_file()
    emb = embed_documents(["profit dividend", ""], source="minilm-static")
    assert emb.tokens == [["profit", "dividend"], [EMPTY_TOKEN]]
    assert emb.dim == 384


def test_minilm_pools_every_layer_in_one_pass_and_caches_them(tmp_path):
    import torch

    model = E.load_minilm("cpu")
    texts = ["Shares of the bank rose after the merger.", "A short one.", "Hockey season starts."]
    cache = DiskCache(tmp_path, max_bytes=2**30)
    assert embed_documents(texts, cache=cache).pools == {}  # only when asked for
    emb = embed_documents(texts, cache=cache, pools=True)  # computed again, with them
    layers = model[0].auto_model.config.num_hidden_layers
    assert set(emb.pools) == {f"mean{layer}" for layer in range(layers + 1)} | {"cls", "max"}
    # A padded batch gives every document the states it has on its own.
    enc = model.tokenizer(texts[1], return_tensors="pt")
    with torch.inference_mode():
        hidden = model[0].auto_model(**enc, output_hidden_states=True).hidden_states
    for layer in (0, 3, layers):
        np.testing.assert_allclose(
            emb.pools[f"mean{layer}"][1], hidden[layer][0].mean(0).numpy(), atol=1e-4
        )
    np.testing.assert_allclose(emb.pools["cls"][1], hidden[-1][0, 0].numpy(), atol=1e-4)
    np.testing.assert_allclose(emb.pools["max"][1], hidden[-1][0].max(0).values, atol=1e-4)
    np.testing.assert_allclose(emb.pool(f"mean{layers}"), emb.pool("pooled"), atol=1e-5)
    part = emb.subset([2, 0])
    np.testing.assert_array_equal(part.pools["cls"], emb.pools["cls"][[2, 0]])
    E._MEMO.clear()
    again = embed_documents(texts, cache=cache, pools=True)
    assert again.pools.keys() == emb.pools.keys()
    np.testing.assert_array_equal(again.pools["mean2"], emb.pools["mean2"])
    with pytest.raises(KeyError, match="no 'mean9'"):
        emb.pool("mean9")
