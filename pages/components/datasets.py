"""Widgets for choosing, uploading and previewing datasets (keys prefixed by the role)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from deepad import viz
from deepad.data.types import ANOMALOUS, NORMAL, UNKNOWN, DataKind, Dataset
from deepad.markup import escape_markdown as md
from deepad.service import Ingested, ServiceError
from pages.components.state import TRAIN, service

ACCEPT = {
    DataKind.IMAGE: ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "zip"],
    DataKind.TEXT: ["txt", "csv", "jsonl", "zip"],
    DataKind.TABLE: ["csv"],
    DataKind.SEQUENCE: ["csv", "zip"],
}
HINTS = {
    DataKind.IMAGE: "Image files or a zip. A labeled set is a zip with `normal/` and "
    "`anomalous/<defect>/` folders (masks in `ground_truth/<defect>/`, same file names), or an "
    "MVTec-AD category folder zipped.",
    DataKind.TEXT: "A .txt with one document per line, a zip of .txt files (one document each), "
    "or a .csv/.jsonl with a text column and an optional label column.",
    DataKind.TABLE: "A .csv of numeric columns, optionally with a label column.",
    DataKind.SEQUENCE: "A zip of .csv files (one sequence each, rows are time steps) or one .csv "
    "with a sequence-id column.",
}
NONE = "(none)"


def counts(dataset: Dataset) -> dict[str, int]:
    """Items by label: normal, anomalous, unlabeled."""
    n = len(dataset)
    if dataset.labels is None:
        return {"items": n, "normal": 0, "anomalous": 0, "unlabeled": n}
    labels = dataset.labels
    return {
        "items": n,
        "normal": int(np.sum(labels == NORMAL)),
        "anomalous": int(np.sum(labels == ANOMALOUS)),
        "unlabeled": int(np.sum(labels == UNKNOWN)),
    }


def skipped_rows(dataset: Dataset, record: object | None = None) -> list[dict[str, str]]:
    """The files the dataset's upload skipped. The dataset holds them (a stored one reads
    them from its manifest); a record's list is not used, as for content uploaded twice
    it is the earlier upload's, not this one's."""
    del record
    return [{"file": s.name, "reason": s.reason} for s in dataset.skipped]


def sample_indices(dataset: Dataset, count: int) -> list[int]:
    """A few items to show: both labels when the set has them, so anomalies appear too."""
    n = len(dataset)
    if dataset.labels is None or not dataset.has_labels:
        return list(range(min(n, count)))
    picks: list[int] = []
    groups = [np.flatnonzero(dataset.labels == v) for v in (NORMAL, ANOMALOUS, UNKNOWN)]
    groups = [g for g in groups if g.size]
    per_group = max(1, count // len(groups))
    for group in groups:
        picks.extend(int(i) for i in group[:per_group])
    return picks[:count]


def label_text(dataset: Dataset, i: int) -> str:
    if dataset.labels is None and (dataset.classes is None or not dataset.classes[i]):
        return ""
    label = None if dataset.labels is None else int(dataset.labels[i])
    return viz.label_text(label, dataset.classes[i] if dataset.classes is not None else None)


def preview(dataset: Dataset, record: object | None = None, *, key: str) -> None:
    """Counts, a sample of items, and the files that were skipped with their reasons."""
    numbers = counts(dataset)
    if dataset.labels is None or not np.any(dataset.labels != UNKNOWN):
        # no labels at all: say so once instead of "normal 0 · unlabeled 300"
        left, right = st.columns([1, 3])
        left.metric("items", f"{numbers['items']:,}")
        right.caption(
            "No labels: a training set is taken as all normal."
            if key == TRAIN
            else "No labels, so the Inspect page can rank these items but not measure "
            "precision or recall."
        )
    else:
        columns = st.columns(4)
        for column, (name, value) in zip(columns, numbers.items(), strict=True):
            column.metric(name, f"{value:,}")
    kind = dataset.kind
    if kind == DataKind.IMAGE:
        picks = sample_indices(dataset, 12)
        if picks:
            images = [viz.upscale(viz.to_rgb(dataset.items[i]), 96) for i in picks]
            captions = [
                f"{dataset.names[i]}"
                + (f" ({label_text(dataset, i)})" if label_text(dataset, i) else "")
                for i in picks
            ]
            st.image(images, caption=captions, width=110)
        if dataset.has_masks:
            with_masks = sum(m is not None for m in dataset.masks or [])
            st.caption(f"{with_masks} images have a ground-truth mask.")
        shapes = {tuple(np.shape(dataset.items[i])) for i in range(min(len(dataset), 200))}
        st.caption("Image shapes: " + ", ".join(str(s) for s in sorted(shapes)[:5]))
    elif kind == DataKind.TEXT:
        rows = [
            {
                "name": dataset.names[i],
                "label": label_text(dataset, i),
                "text": dataset.items[i][:300],
            }
            for i in sample_indices(dataset, 8)
        ]
        st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_docs")
    elif kind == DataKind.TABLE:
        table = np.asarray(dataset.items)[:10]
        names = dataset.columns or [f"x{j}" for j in range(table.shape[1])]
        rows = [dict(zip(names, map(float, row), strict=False)) for row in table]
        st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_table")
    else:
        picks = sample_indices(dataset, 6)
        rows = [
            {
                "name": dataset.names[i],
                "steps": int(np.shape(dataset.items[i])[0]),
                "features": int(np.shape(dataset.items[i])[1])
                if np.ndim(dataset.items[i]) > 1
                else 1,
                "label": label_text(dataset, i),
            }
            for i in picks
        ]
        st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_seq")
    skipped = skipped_rows(dataset, record)
    if skipped:
        st.warning(f"{len(skipped)} file(s) were skipped:")
        st.dataframe(skipped, hide_index=True, width="stretch", key=f"{key}_skipped")


def upload_form(role: str, *, kind: DataKind | None) -> Ingested | None:
    """File uploader with kind and column options; returns the registered upload.

    ``kind`` fixes the data type (test and labeled sets must match the training set).
    """
    limit = st.get_option("server.maxUploadSize")
    if kind is None:
        kind = DataKind(
            st.selectbox(
                "Data type",
                [k.value for k in DataKind],
                key=f"{role}_kind",
                help="What the files hold; the methods offered depend on it.",
            )
        )
    st.caption(HINTS[kind] + f" Upload limit: {limit} MB per file.")
    folder = kind in (DataKind.IMAGE, DataKind.SEQUENCE) and st.toggle(
        "Upload a whole folder",
        key=f"{role}_folder",
        help="Pick a folder instead of files; its sub-folders (normal/, anomalous/<defect>/, "
        "ground_truth/<defect>/) give labels and masks as in a zip.",
    )
    # a new key after each successful ingest empties the uploader, so the files just read
    # cannot be sent a second time by accident
    round_key = f"{role}_upload_round"
    files = st.file_uploader(
        f"{'Folder' if folder else 'Files'} for the {role.replace('selected_', '')} set",
        type=[t for t in ACCEPT[kind] if t != "zip"] if folder else ACCEPT[kind],
        accept_multiple_files="directory" if folder else True,
        key=f"{role}_{'folder' if folder else 'files'}_{kind.value}_"
        f"{st.session_state.get(round_key, 0)}",
    )
    uploads = [(f.name, f.getvalue()) for f in files or []]
    options: dict[str, object] = {}
    tabular = [n for n, _ in uploads if n.lower().endswith((".csv", ".jsonl"))]
    if uploads and tabular and kind != DataKind.IMAGE:
        try:
            columns = service().columns([u for u in uploads if u[0] in tabular])
        except ServiceError as error:
            st.error(md(error))
            columns = []
        if columns:
            if kind == DataKind.TEXT:
                options["text_column"] = st.selectbox(
                    "Text column",
                    columns,
                    index=columns.index("text") if "text" in columns else 0,
                    key=f"{role}_text_column",
                )
                named = st.selectbox(
                    "Name column (optional)",
                    [NONE, *columns],
                    key=f"{role}_name_column",
                    help="A column that names each document (an id, a title); without it "
                    "documents are named file:row.",
                )
                options["name_column"] = None if named == NONE else named
            if kind == DataKind.SEQUENCE:
                chosen = st.selectbox(
                    "Sequence id column (one file holding many sequences)",
                    [NONE, *columns],
                    key=f"{role}_id_column",
                )
                options["id_column"] = None if chosen == NONE else chosen
            label = st.selectbox(
                "Label column (optional)", [NONE, *columns], key=f"{role}_label_column"
            )
            if label != NONE:
                options["label_column"] = label
            if label != NONE and kind != DataKind.SEQUENCE:
                options["normal_label"] = (
                    st.text_input(
                        "Value that means normal (empty: 0/1 or normal/anomalous)",
                        key=f"{role}_normal_label",
                    )
                    or None
                )
    name = st.text_input("Name (optional)", key=f"{role}_name")
    if st.button("Ingest upload", key=f"{role}_ingest", disabled=not uploads, type="primary"):
        with st.spinner("Reading files…"):
            try:
                done = service().ingest(
                    uploads, kind, name=name, split_test=role == TRAIN, **options
                )
            except ServiceError as error:
                st.error(md(error))
                return None
            except Exception as error:  # never a traceback in the page
                st.error(f"The upload could not be read: {md(error)}")
                return None
        st.session_state[round_key] = st.session_state.get(round_key, 0) + 1
        return done
    return None


def saved_picker(role: str, *, kind: DataKind | None) -> str | None:
    """Pick a dataset already in the registry."""
    records = service().datasets(kind)
    if not records:
        st.caption("No saved datasets" + (f" of type {kind.value}" if kind else "") + " yet.")
        return None
    labels = {r.id: f"{r.name} · {r.kind} · {r.count:,} items" for r in records}
    index = 0
    if role == TRAIN:
        # the newest set is often the labeled test set just uploaded: start from the newest
        # one without labeled anomalies, which is what a training set looks like
        clean = [i for i, r in enumerate(records) if not _anomalous(r)]
        index = clean[0] if clean else 0
        for r in records:
            if _anomalous(r):
                labels[r.id] += f" · {_anomalous(r):,} labeled anomalous"
    chosen = st.selectbox(
        "Saved dataset", list(labels), index=index, format_func=labels.get, key=f"{role}_saved"
    )
    if st.button("Use this dataset", key=f"{role}_use_saved"):
        return chosen
    return None


def _anomalous(record: object) -> int:
    counts = (getattr(record, "manifest", {}) or {}).get("counts") or {}
    return int(counts.get("anomalous", 0) or 0)
