"""Write the small Reuters demo set: ``assets/demo/reuters/`` (earnings news normal, acquisitions
news anomalous).

Usage: ``python scripts/make_demo_reuters.py [DATA_ROOT]`` (default ``$DEEPAD_DATA`` or
``../shared/data``). Deterministic: a seeded sample of the ModApte single-label documents.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from deepad.data.benchmarks import data_root
from deepad.data.benchmarks.reuters import single_label

OUT = Path(__file__).resolve().parents[1] / "assets" / "demo" / "reuters"
N_TRAIN = 1000  # with 200, CVDD's contexts fit the few stories and rank poorly
N_TEST_NORMAL = 60
N_TEST_ANOMALOUS = 40
ATTRIBUTION = (
    "Reuters-21578, Distribution 1.0 (David D. Lewis; Reuters Ltd. and Carnegie Group, Inc.), "
    "freely available for research use; ModApte split, single-topic documents."
)


def sample(docs, topic: str, n: int, rng: np.random.Generator):
    pool = [d for d in docs if d.topics[0] == topic]
    index = np.sort(rng.choice(len(pool), size=n, replace=False))
    return [pool[i] for i in index]


def write_jsonl(path: Path, docs) -> None:
    lines = [
        json.dumps({"id": f"reuters-{d.newid}", "text": d.text, "topic": d.topics[0]}) for d in docs
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    root = data_root(sys.argv[1] if len(sys.argv) > 1 else None)
    docs = single_label(root, classes=("earn", "acq"))
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(
        OUT / "train.jsonl", sample(docs["train"], "earn", N_TRAIN, np.random.default_rng(0))
    )
    rng = np.random.default_rng(1)
    test = sample(docs["test"], "earn", N_TEST_NORMAL, rng)
    test += sample(docs["test"], "acq", N_TEST_ANOMALOUS, rng)
    write_jsonl(OUT / "test.jsonl", sorted(test, key=lambda d: d.newid))
    info = {
        "title": "Reuters news: earnings vs. acquisitions",
        "kind": "text",
        "description": (
            f"{N_TRAIN} Reuters-21578 news stories about company earnings (topic earn) to learn "
            f"normality from; the test set mixes {N_TEST_NORMAL} more earnings stories with "
            f"{N_TEST_ANOMALOUS} stories about mergers and acquisitions (topic acq), the "
            "anomalies. Try CVDD: its contexts and attention show which words make a story "
            "look like an earnings report."
        ),
        "attribution": ATTRIBUTION,
        "train": "train.jsonl",
        "test": "test.jsonl",
        "text_column": "text",
        "label_column": "topic",
        "normal_label": "earn",
    }
    (OUT / "demo.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
