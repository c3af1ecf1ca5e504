"""Resources stay bounded by what a method reads: a huge one-line document is cut to the
contextual model's window before it is tokenised."""

import numpy as np


def test_a_long_document_is_cut_to_the_window_before_tokenising(monkeypatch):
    from deepad.text import embeddings

    model = embeddings.load_minilm("cpu")
    tokenizer_type = type(model.tokenizer)
    real = tokenizer_type.__call__
    longest = []

    def spy(self, texts, *args, **kwargs):
        longest.append(max(len(t) for t in texts))
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(tokenizer_type, "__call__", spy)
    huge = "profit dividend shares " * 60_000  # 1.4 MB on one line
    emb = embeddings.embed_documents([huge, "a short note"], max_tokens=16)
    assert longest[-1] <= 16 * embeddings.CHARS_PER_PIECE
    # the same vectors as the document's start alone: nothing the model reads was cut
    start = embeddings.embed_documents([huge[:400], "a short note"], max_tokens=16)
    np.testing.assert_allclose(emb.pooled, start.pooled, atol=1e-5)
    assert emb.tokens[0] == start.tokens[0]


def test_dsebm_sizes_images_from_all_of_them_within_a_bound():
    from deepad.data.types import DataKind, Dataset
    from deepad.models import get_method
    from deepad.models.dsebm.detector import AUTO_IMAGE_CAP

    rng = np.random.default_rng(0)
    huge_first = rng.integers(0, 255, (900, 900), dtype=np.uint8)
    small = [rng.integers(0, 255, (16, 16), dtype=np.uint8) for _ in range(6)]
    data = Dataset(DataKind.IMAGE, [huge_first, *small], [f"i{i}" for i in range(7)])
    detector = get_method("dsebm")(epochs=1, image_size=0, device="cpu").fit(data)
    assert detector.image_size_ == 16  # the median side, not the first image's 900
    big = Dataset(DataKind.IMAGE, [huge_first] * 3, ["a", "b", "c"])
    from deepad.models.dsebm.detector import auto_image_size

    assert auto_image_size(big) <= AUTO_IMAGE_CAP
