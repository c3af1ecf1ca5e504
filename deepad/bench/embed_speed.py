"""``deepad bench embed-speed``: MiniLM documents per second on real 20 Newsgroups posts.

One run, the same posts for every row, the model loaded and warmed up before any timing:

- ``256 tokens (default)``: the path CVDD, ``text_knn`` and ``token_bank`` take with the
  default ``max_tokens = 256`` and no cache (``deepad.text.embeddings.embed_documents``);
- ``128`` / ``64 tokens``: the same path with ``max_tokens`` lowered (``--set max_tokens=…``
  on a run): fewer word-pieces read per post, so fewer of its words get a vector;
- ``256 tokens, cached``: the same call again with the on-disk cache filled by a first call,
  in a fresh in-process memo (what a second run on the same dataset pays).

Each row reports documents per second, its speed-up over the default row, and how close its
document embeddings (mean word-piece state) and word lists are to the default row's. Posts
are a seeded sample of the training split, headers stripped. Settings: ``--set docs=N``
(default 120, ``--quick`` 40), ``--set batch_size=B`` (32). Use ``--threads 1`` on a shared
machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepad.bench import BenchOptions, suite
from deepad.bench.report import command_line, format_table, split_settings, write_results
from deepad.disk_cache import DEFAULT_MAX_MB, DiskCache

RESULTS = Path("benchmarks") / "results"
SETTINGS = ("docs", "batch_size", "threads")
COLUMNS = ["path", "docs", "seconds", "docs/s", "x default", "pooled cos", "words kept"]


def sample_posts(root: Path, n: int, seed: int) -> list[str]:
    from deepad.data.benchmarks.newsgroups import load_posts

    posts = [p.text for p in load_posts(root) if p.split == "train" and p.text.strip()]
    pick = np.random.default_rng(seed).choice(len(posts), size=min(n, len(posts)), replace=False)
    return [posts[i] for i in sorted(pick)]


def _timed(texts: list[str], **kwargs: Any) -> tuple[Any, float]:
    from deepad.text import embeddings

    embeddings._MEMO.clear()  # each row computes (or reads its cache), never the memo
    start = time.perf_counter()
    result = embeddings.embed_documents(texts, **kwargs)
    return result, time.perf_counter() - start


def _closeness(result: Any, reference: Any) -> tuple[float, float]:
    a = reference.pooled / np.linalg.norm(reference.pooled, axis=1, keepdims=True)
    b = result.pooled / np.linalg.norm(result.pooled, axis=1, keepdims=True)
    words = sum(len(t) for t in result.tokens) / max(1, sum(len(t) for t in reference.tokens))
    return float(np.mean(np.sum(a * b, axis=1))), float(words)


@suite("embed-speed", "MiniLM embedding documents/s on 20 Newsgroups posts (truncation, cache)")
def run(options: BenchOptions) -> None:
    import torch

    from deepad.text.embeddings import embed_documents, load_minilm

    own, _ = split_settings(options.extra, SETTINGS)
    n = int(own.get("docs", 40 if options.quick else 120))
    batch_size = int(own.get("batch_size", 32))
    texts = sample_posts(options.root(), n, options.seed)
    tokenizer = load_minilm("cpu").tokenizer
    pieces = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    embed_documents(texts[:4], max_tokens=256, batch_size=batch_size)  # load and warm up
    rows: list[dict[str, Any]] = []
    reference = None
    with tempfile.TemporaryDirectory() as folder:
        cache = DiskCache(folder, max_bytes=DEFAULT_MAX_MB * 2**20)
        plan = [
            ("256 tokens (default)", {"max_tokens": 256}),
            ("128 tokens", {"max_tokens": 128}),
            ("64 tokens", {"max_tokens": 64}),
            ("256 tokens, cached", {"max_tokens": 256, "cache": cache}),
        ]
        for name, kwargs in plan:
            if "cache" in kwargs:
                _timed(texts, batch_size=batch_size, **kwargs)  # fills the cache, not timed
            result, seconds = _timed(texts, batch_size=batch_size, **kwargs)
            reference = reference or (result, seconds)
            cos, words = _closeness(result, reference[0])
            rows.append(
                {
                    "path": name,
                    "docs": len(texts),
                    "seconds": round(seconds, 2),
                    "docs/s": round(len(texts) / seconds, 2),
                    "x default": round(reference[1] / seconds, 2),
                    "pooled cos": round(cos, 4),  # mean cosine to the default row's
                    "words kept": round(words, 3),  # words with a vector, over the default's
                }
            )
            print(format_table(rows[-1:], COLUMNS), flush=True)
    command = command_line()
    text = format_table(rows, COLUMNS, title="MiniLM embeddings of 20 Newsgroups posts")
    text += (
        f"\n\nposts: {len(texts)} (training split, seed {options.seed}); word-pieces per post: "
        f"median {int(np.median(pieces))}, {np.mean(np.asarray(pieces) > 256):.0%} over 256; "
        f"batch size {batch_size}; torch threads {torch.get_num_threads()}"
    )
    print("\n" + text)
    path = options.output or RESULTS / f"embed-speed{'-quick' if options.quick else ''}.json"
    write_results(
        path,
        {"command": command, "suite": "embed-speed", "threads": torch.get_num_threads(),
         "pieces_median": int(np.median(pieces)), "rows": rows},
    )  # fmt: skip
    path.with_suffix(".md").write_text(
        f"# embed-speed\n\nCommand: `{command}`\n\n```\n{text}\n```\n"
    )
