"""User-given text (dataset, file and class-folder names, a failed run's error) is shown as
text on every page: rendered as Markdown, none of it makes an image or a link, so no name
can make a viewer's browser fetch a URL."""

import numpy as np
import pytest
from markdown_it import MarkdownIt

from deepad.data.types import DataKind, Dataset, Skipped
from pages.components.state import EXPLAIN_ITEM, INSPECT_RUN, TEST, TRAIN
from tests.pages.helpers import app, blob, fake_run, noise

EVIL = "evil.example"
NAME = f"![d](https://{EVIL}/d.png) [link](https://{EVIL}/l) :red[x] <img src=https://{EVIL}/h>"


def hostile(tag: str) -> str:
    return f"{tag} ![{tag}](https://{EVIL}/{tag}.png) [{tag}](https://{EVIL}/{tag}) **b** `c"


@pytest.fixture
def hostile_home(jobless):
    rng = np.random.default_rng(0)
    n = 6
    items = [blob(rng) for _ in range(n)] + [noise(rng) for _ in range(n)]
    data = Dataset(
        DataKind.IMAGE,
        items,
        [f"{hostile('item')}{i}.png" for i in range(2 * n)],
        labels=np.array([0] * n + [1] * n),
        classes=[""] * n + [hostile("class")] * n,
        name=NAME,
        skipped=[Skipped(hostile("skipped") + ".png", hostile("reason"))],
    )
    scores = np.r_[np.linspace(0, 1, n), np.linspace(2, 3, n)]
    done = fake_run(jobless, "ae", data, scores)
    failed = jobless.store.create_run("ae", jobless.run(done).config, jobless.run(done).train_dataset)
    jobless.store.update(failed, status="failed", error=hostile("error"))
    return jobless, done, jobless.run(done).train_dataset


def rendered_texts(at):
    """Every text the page renders as Markdown: bodies and the labels that take Markdown."""
    texts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title",
                 "header", "subheader", "toast"):  # fmt: skip
        texts += [e.value for e in at.get(kind)]
    for kind in ("expander", "tab", "metric"):
        texts += [e.label for e in at.get(kind)]
    for radio in at.radio:
        texts += [str(o) for o in radio.options]
    return texts


def fetches(text: str) -> list[str]:
    """Images and links the Markdown makes (Streamlit's renderer is CommonMark with GFM)."""
    found = []
    for token in MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(text):
        for child in [token, *(token.children or [])]:
            if child.type == "image":
                found.append(child.attrGet("src"))
            if child.type == "link_open":
                found.append(child.attrGet("href"))
    return [f for f in found if f and EVIL in f]


PAGES = {
    "pages/data.py": lambda done, train: {TRAIN: train, TEST: train},
    "pages/train.py": lambda done, train: {TRAIN: train},
    "pages/runs.py": lambda done, train: {},
    "pages/inspect.py": lambda done, train: {INSPECT_RUN: done},
    "pages/explain.py": lambda done, train: {INSPECT_RUN: done, EXPLAIN_ITEM: (done, 7)},
    "pages/compare.py": lambda done, train: {},
    "pages/use.py": lambda done, train: {},
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_hostile_names_are_text_on_every_page(hostile_home, page):
    svc, done, train = hostile_home
    at = app(page, **PAGES[page](done, train))
    assert not at.exception, [e.message for e in at.exception]
    texts = rendered_texts(at)
    assert texts
    bad = [(t, fetches(t)) for t in texts if fetches(t)]
    assert not bad, bad
    if page == "pages/runs.py":  # the hostile error is shown, as typed
        assert any(hostile("error") in plain(t) for t in texts)


def plain(text: str) -> str:
    """What a reader sees of ``text`` rendered as Markdown."""
    tokens = MarkdownIt("commonmark").parse(text)
    return "".join(c.content for t in tokens for c in t.children or [] if c.type == "text")


def test_the_check_sees_an_unescaped_name_and_escaping_keeps_the_text():
    from deepad.markup import escape_markdown as md

    assert fetches(NAME) and fetches(hostile("x"))
    assert not fetches(md(NAME)) and plain(md(NAME)) == NAME
