from deepad.text.preprocess import TextPreprocessing, align_words, preprocess, word_spans


def test_default_cleaning_follows_the_cvdd_protocol():
    text = "The U.S. Dollar's rate ROSE 3.5 pct in 1987; don't panic -- it's   fine!!"
    # lowercased, punctuation and numbers gone, stop words and words under 3 chars dropped
    assert preprocess(text) == ["dollars", "rate", "rose", "pct", "dont", "panic", "fine"]


def test_spans_point_into_the_original_text():
    text = "Crude OIL prices, up 12%, hit new highs."
    for word, start, end in word_spans(text):
        assert text[start:end].lower().replace("'", "") == word


def test_each_step_can_be_switched_off():
    text = "The Cat ate 42 fish."
    assert preprocess(text, TextPreprocessing(remove_stopwords=False)) == [
        "the",
        "cat",
        "ate",
        "fish",
    ]
    assert preprocess(text, TextPreprocessing(lowercase=False)) == ["Cat", "ate", "fish"]
    assert preprocess(text, TextPreprocessing(strip_numbers=False, min_length=2)) == [
        "cat",
        "ate",
        "42",
        "fish",
    ]
    assert preprocess(text, TextPreprocessing(min_length=4)) == ["fish"]
    assert preprocess("fish.", TextPreprocessing(strip_punctuation=False)) == ["fish."]


def test_empty_and_stopword_only_documents_give_no_words():
    assert preprocess("") == []
    assert preprocess("the and of it is 12 34") == []


def test_align_words_finds_the_spans_of_kept_tokens():
    text = "Oil prices rose; OIL output fell."
    spans = align_words(text, ["oil", "output", "fell", "<empty>"])
    assert [text[s:e] for s, e in spans[:3]] == ["Oil", "output", "fell"]
    assert spans[3] is None
    # a token skipped by the detector (e.g. not in a word-vector file) shifts nothing
    assert [text[s:e] for s, e in align_words(text, ["prices", "fell"])] == ["prices", "fell"]
