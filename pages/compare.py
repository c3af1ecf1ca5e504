"""Compare: metrics of several runs on the same data side by side."""

import streamlit as st

from pages.components import runinfo
from pages.components.state import finished_runs, service

st.title("Compare")
svc = service()

done = finished_runs(svc, "No finished runs to compare yet.")

groups: dict[tuple, list] = {}
for record in sorted(done, key=lambda r: r.id):
    groups.setdefault((record.train_dataset, record.test_dataset), []).append(record)


def group_label(key: tuple) -> str:
    train, test = key
    text = f"train: {runinfo.dataset_name(svc, train)}"
    if test:
        text += f" · test: {runinfo.dataset_name(svc, test)}"
    ids = [str(r.id) for r in groups[key]]
    shown = ", ".join(ids[-6:])
    return f"{text} · run{'s' if len(ids) > 1 else ''} {'…, ' if len(ids) > 6 else ''}{shown}"


# most runs first, then the data of the latest run
keys = sorted(groups, key=lambda k: (-len(groups[k]), -groups[k][-1].id))
chosen = st.selectbox("Data", keys, format_func=group_label, key="compare_group")
runs = groups[chosen]
best = set(svc.best_runs().values())
labels = {
    r.id: f"{'★ ' if r.id in best else ''}Run {r.id} · {runinfo.method_title(svc, r.method)}"
    for r in runs
}
picked = st.multiselect(
    "Runs", list(labels), default=list(labels), format_func=labels.get, key="compare_runs"
)
if not picked:
    st.info("Pick at least one run.")
    st.stop()

rows = svc.compare(picked)
hidden = {"status", "scored_on", "items", "train_items"}
table = [{k: v for k, v in row.items() if k not in hidden} for row in rows]
st.dataframe(table, hide_index=True, width="stretch", key="compare_table")
st.caption(
    "Metrics are on the scored set at each run's threshold saved for scoring (`deepad "
    "score` uses it), else its default one; AUROC/AUPRC do not depend on it. ★ marks the best "
    "run of the training set (set on the Runs page). Columns “set …” are settings that differ "
    "between the chosen runs; *_seconds are wall times of each phase."
)
numeric = [k for k in ("auroc", "auprc", "pixel_auroc", "f1") if any(k in r for r in rows)]
if numeric and len(rows) > 1:
    metric = st.selectbox("Chart", numeric, key="compare_metric")
    st.bar_chart(
        {labels[r["run"]]: r.get(metric) or 0.0 for r in rows}, horizontal=True, height=240
    )
