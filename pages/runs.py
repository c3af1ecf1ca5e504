"""Runs: every run with its status and live progress; cancel, resume, delete."""

import streamlit as st

from deepad import viz
from pages.components import runinfo
from pages.components.state import service
from pages.components.text import md

st.title("Runs")
svc = service()


def act(action: str, run_id: int) -> None:
    try:
        if action == "cancel":
            svc.cancel(run_id)
        elif action == "resume":
            svc.resume(run_id)
        elif action == "delete":
            svc.delete(run_id)
    except Exception as error:
        st.session_state["runs_message"] = f"Could not {action} run {run_id}: {md(error)}"


@st.fragment(run_every="2s")
def run_list() -> None:
    try:
        runs = svc.runs()
    except Exception as error:
        st.error(f"The run store could not be read: {md(error)}")
        return
    message = st.session_state.pop("runs_message", None)
    if message:
        st.error(message)
    if not runs:
        st.info("No runs yet. Start one on the Train page.")
        return
    active = sum(r.status in ("queued", "running") for r in runs)
    queue = svc.queue()
    st.caption(
        f"{len(runs)} runs, {active} active, {len(queue)} waiting. At most {svc.max_runs()} "
        "train at once (setting DEEPAD_MAX_RUNS); the others wait in order and start when one "
        "ends. Refreshes every 2 s."
    )
    runs = sorted(runs, key=lambda r: r.id, reverse=True)
    newest = {r.id for r in runs[:3]}
    for record in runs:
        with st.container(border=True):
            head, buttons = st.columns([3, 2])
            badge = runinfo.STATUS_BADGES.get(record.status, record.status)
            if record.id in queue:
                badge += f" · waiting, position {queue[record.id]} of {len(queue)}"
            head.markdown(
                f"**Run {record.id} · {md(runinfo.method_title(svc, record.method))}** · "
                f"{badge}  \n"
                f"{runinfo.data_line(svc, record)}"
            )
            with buttons:
                cols = st.columns(3)
                # one slot, one button at a time: a card never shows Cancel next to "done"
                action = {"queued": "cancel", "running": "cancel"}.get(record.status)
                if record.status in ("interrupted", "cancelled"):
                    action = "resume"
                if action:
                    cols[0].button(
                        action.capitalize(),
                        key=f"{action}_{record.id}",
                        on_click=act,
                        args=(action, record.id),
                        help="Take it out of the queue" if record.id in queue else None,
                    )
                if record.status == "done":
                    # a link, not a button calling st.switch_page: a page switch made by this
                    # script leaves the browser's 2 s timer of this panel running until the
                    # Inspect page has drawn, and a panel refresh that arrives meanwhile is run
                    # after it and blanks it; following a link stops the timer at the click
                    cols[1].page_link(
                        "pages/inspect.py",
                        label="Inspect",
                        icon="🔍",
                        query_params={"run": str(record.id)},
                    )
                cols[2].button(
                    "Delete", key=f"delete_{record.id}", on_click=act, args=("delete", record.id)
                )
            progress = float(record.progress or 0.0)
            st.progress(min(1.0, max(0.0, progress)), text=runinfo.progress_text(record))
            if record.status == "failed":
                st.error(f"Failed: {md(record.error) if record.error else 'no reason recorded'}")
            elif record.status == "interrupted":
                st.warning(
                    "Interrupted: its process is gone (app host restarted or killed). Resume "
                    "continues from the last checkpoint."
                )
            elif record.status == "done" and record.metrics:
                st.caption(runinfo.metrics_line(record.metrics))
            # curves only for active and recent runs: every figure is resent on each refresh
            recent = record.status == "running" or record.id in newest
            history = svc.history(record.id) if recent else []
            if history:
                left, right = st.columns([3, 1])
                left.plotly_chart(viz.loss_curve(history), key=f"loss_{record.id}", width="stretch")
                live = record.status == "running"
                speed = (record.items_per_second if live else None) or runinfo.throughput(history)
                if speed:
                    right.metric("throughput", f"{speed:,.0f} items/s")
                loss = record.loss if live and record.loss is not None else history[-1].get("loss")
                if loss is not None:
                    right.metric("loss", f"{loss:.4g}")


run_list()
