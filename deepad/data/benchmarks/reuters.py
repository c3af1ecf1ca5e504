"""Reuters-21578, ModApte split (LEWISSPLIT plus TOPICS="YES"), single-label documents.

The one-vs-rest protocol of the CVDD experiments (thesis Section 3.2.2, Table 3.3): the seven
topics with at least 100 single-label training documents; a normal class trains on its own
training documents and is tested on the single-label test documents of all seven topics.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepad.data.types import ANOMALOUS, NORMAL, DataKind, Dataset

CLASSES = ("earn", "acq", "crude", "trade", "money-fx", "interest", "ship")

# Table 3.3 of the thesis: (train, test) single-label documents per class.
PAPER_COUNTS = {
    "earn": (2840, 1083),
    "acq": (1596, 696),
    "crude": (253, 121),
    "trade": (250, 76),
    "money-fx": (222, 87),
    "interest": (191, 81),
    "ship": (108, 36),
}

_DOC = re.compile(r"<REUTERS(?P<attrs>[^>]*)>(?P<body>.*?)</REUTERS>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_TOPICS = re.compile(r"<TOPICS>(.*?)</TOPICS>", re.S)
_D = re.compile(r"<D>(.*?)</D>", re.S)
_TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.S)
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.S)
_TEXT = re.compile(r"<TEXT[^>]*>(.*?)</TEXT>", re.S)
_TAG = re.compile(r"<[^>]+>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class ReutersDoc:
    newid: int
    split: str  # "train" or "test"
    topics: tuple[str, ...]
    text: str


def reuters_dir(root: Path) -> Path:
    """The folder holding the ``reut2-*.sgm`` files under a benchmark data root."""
    for candidate in (root / "reuters21578", root):
        if any(candidate.glob("reut2-*.sgm")):
            return candidate
    raise FileNotFoundError(f"no reut2-*.sgm files under {root} (or {root}/reuters21578)")


def _text_of(body: str) -> str:
    title = _TITLE.search(body)
    main = _BODY.search(body)
    if main is None:
        # Some documents have no BODY; their TEXT element holds the story untagged.
        text = _TEXT.search(body)
        main_text = _TAG.sub(" ", _TITLE.sub(" ", text.group(1))) if text else ""
    else:
        main_text = main.group(1)
    parts = [html.unescape(p) for p in (title.group(1) if title else "", main_text)]
    # &#2; / &#3; mark the start and end of a story; they are not text.
    parts = [_CONTROL.sub(" ", p).strip() for p in parts]
    return "\n".join(p for p in parts if p)


def load_modapte(root: Path) -> list[ReutersDoc]:
    """All ModApte documents (train and test) with their topics, in NEWID order."""
    docs = []
    for path in sorted(reuters_dir(root).glob("reut2-*.sgm")):
        # The files are not valid UTF-8 (reut2-017 has byte 0xFC); latin-1 reads every byte.
        raw = path.read_text(encoding="latin-1")
        for match in _DOC.finditer(raw):
            attrs = dict(_ATTR.findall(match.group("attrs")))
            if attrs.get("TOPICS") != "YES" or attrs.get("LEWISSPLIT") not in ("TRAIN", "TEST"):
                continue
            body = match.group("body")
            topics_block = _TOPICS.search(body)
            topics = tuple(_D.findall(topics_block.group(1))) if topics_block else ()
            docs.append(
                ReutersDoc(
                    newid=int(attrs["NEWID"]),
                    split=attrs["LEWISSPLIT"].lower(),
                    topics=topics,
                    text=_text_of(body),
                )
            )
    docs.sort(key=lambda d: d.newid)
    return docs


def modapte_categories(docs: list[ReutersDoc]) -> set[str]:
    """The 90 topics with at least one training and one test document (the usual ModApte
    category set, as in NLTK's ``reuters`` corpus)."""
    train = {t for d in docs if d.split == "train" for t in d.topics}
    test = {t for d in docs if d.split == "test" for t in d.topics}
    return train & test


def single_label(root: Path, classes: tuple[str, ...] = CLASSES) -> dict[str, list[ReutersDoc]]:
    """ModApte documents with exactly one of the 90 ModApte topics, that topic in ``classes``.

    Topics outside the 90 are dropped first, as the thesis' NLTK corpus does; without that,
    money-fx loses 16 training documents that also carry a rare topic.
    """
    docs = load_modapte(root)
    categories = modapte_categories(docs)
    out: dict[str, list[ReutersDoc]] = {"train": [], "test": []}
    for doc in docs:
        topics = tuple(t for t in doc.topics if t in categories)
        if len(topics) == 1 and topics[0] in classes:
            out[doc.split].append(
                ReutersDoc(newid=doc.newid, split=doc.split, topics=topics, text=doc.text)
            )
    return out


def _dataset(docs: list[ReutersDoc], normal: str | None, name: str) -> Dataset:
    labels = None
    if normal is not None:
        labels = np.array([NORMAL if d.topics[0] == normal else ANOMALOUS for d in docs])
    return Dataset(
        kind=DataKind.TEXT,
        items=[d.text for d in docs],
        names=[f"reuters-{d.newid}" for d in docs],
        labels=labels,
        classes=[d.topics[0] for d in docs],
        name=name,
    )


def reuters_splits(root: Path) -> tuple[Dataset, Dataset]:
    """(train, test) of all single-label documents of the seven classes, unlabeled."""
    docs = single_label(root)
    return _dataset(docs["train"], None, "reuters-train"), _dataset(
        docs["test"], None, "reuters-test"
    )


def reuters_one_vs_rest(root: Path, normal_class: str) -> tuple[Dataset, Dataset]:
    """Train on ``normal_class``'s training documents; test on all seven classes' test set."""
    if normal_class not in CLASSES:
        raise ValueError(f"unknown Reuters class {normal_class!r}; classes: {', '.join(CLASSES)}")
    docs = single_label(root)
    train = [d for d in docs["train"] if d.topics[0] == normal_class]
    return (
        _dataset(train, normal_class, f"reuters-{normal_class}-train"),
        _dataset(docs["test"], normal_class, f"reuters-{normal_class}-test"),
    )
