"""Runs: every run with its status and live progress; cancel, resume, retry, mark the best run
of a training set, delete (to a trash, restorable) and restore."""

import streamlit as st

from deepad import viz
from deepad.markup import escape_markdown as md
from pages.components import runinfo
from pages.components.state import service

st.title("Runs")
svc = service()
CONFIRM = "runs_confirm_delete"


def act(action: str, run_id: int) -> None:
    try:
        if action == "cancel":
            svc.cancel(run_id)
        elif action == "resume":
            svc.resume(run_id)
        elif action == "delete":  # asked first: the click on Delete only opens the question
            st.session_state[CONFIRM] = run_id
        elif action == "confirm_delete":
            st.session_state.pop(CONFIRM, None)
            svc.delete(run_id, trash=True)
            st.session_state["runs_note"] = (
                f"Run {run_id} was moved to the deleted runs below; restore it there within "
                f"{svc.trash_days:g} days."
            )
        elif action == "keep":
            st.session_state.pop(CONFIRM, None)
        elif action == "restore":
            svc.restore(run_id)
        elif action == "retry":
            new_id = svc.retry(run_id)
            st.session_state["runs_note"] = f"Run {new_id} retries run {run_id} with its settings."
        elif action in ("best", "not_best"):
            svc.mark_best(run_id, action == "best")
    except Exception as error:
        st.session_state["runs_message"] = (
            f"Could not {action.replace('_', ' ')} run {run_id}: {md(error)}"
        )


def empty_trash() -> None:
    try:
        gone = svc.empty_trash()
    except Exception as error:
        st.session_state["runs_message"] = f"Could not empty the deleted runs: {md(error)}"
    else:
        st.session_state["runs_note"] = f"{len(gone)} deleted run(s) removed for good."


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
    note = st.session_state.pop("runs_note", None)
    if note:
        st.success(note)
    if not runs:
        st.info("No runs yet. Start one on the Train page.")
        trash_section()
        return
    best = set(svc.best_runs().values())
    active = sum(r.status in ("queued", "running") for r in runs)
    queue = svc.queue()
    st.caption(
        f"{len(runs)} run{'' if len(runs) == 1 else 's'}, {active} active; {len(queue)} "
        f"waiting in the queue (runs and jobs). At most {svc.max_runs()} at once (setting "
        "DEEPAD_MAX_RUNS, shared with the jobs of finished runs below); "
        "the others wait in order and start when one ends. Refreshes every 2 s."
    )
    runs = sorted(runs, key=lambda r: r.id, reverse=True)
    newest = {r.id for r in runs[:3]}
    for record in runs:
        with st.container(border=True):
            head, buttons = st.columns([5, 4])
            badge = runinfo.STATUS_BADGES.get(record.status, record.status)
            if record.id in queue:
                badge += f" · waiting, position {queue[record.id]} of {len(queue)}"
            star = " · ★ best for its training set" if record.id in best else ""
            head.markdown(
                f"**Run {record.id} · {md(runinfo.method_title(svc, record.method))}** · "
                f"{badge}{star}  \n"
                f"{runinfo.data_line(svc, record)}"
            )
            with buttons:
                cols = st.columns(4)
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
                if record.status == "failed":
                    cols[0].button(
                        "Retry",
                        key=f"retry_{record.id}",
                        on_click=act,
                        args=("retry", record.id),
                        help="A new run with the same settings and data",
                    )
                    # a link (see Inspect below): Train opens with this run's settings
                    cols[1].page_link(
                        "pages/train.py",
                        label="Edit and retry",
                        icon="✏️",
                        query_params={"retry": str(record.id)},
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
                    marked = record.id in best
                    cols[2].button(
                        "★ Best" if marked else "☆ Mark best",
                        key=f"best_{record.id}",
                        on_click=act,
                        args=("not_best" if marked else "best", record.id),
                        help="The best run of its training set: Compare and Use start from it "
                        + ("(click to take the mark off)" if marked else ""),
                    )
                cols[3].button(
                    "Delete", key=f"delete_{record.id}", on_click=act, args=("delete", record.id)
                )
            if st.session_state.get(CONFIRM) == record.id:
                ask, yes, no = st.columns([4, 1, 1])
                ask.warning(
                    f"Delete run {record.id}? It moves to the deleted runs, where it can be "
                    f"restored for {svc.trash_days:g} days."
                )
                yes.button(
                    "Delete run",
                    key=f"confirm_delete_{record.id}",
                    type="primary",
                    on_click=act,
                    args=("confirm_delete", record.id),
                )
                no.button(
                    "Keep it", key=f"keep_{record.id}", on_click=act, args=("keep", record.id)
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
    job_section(queue)
    trash_section()


JOB_TITLES = {
    "score": "Scoring new data",
    "explain": "Explaining every item",
    "export": "Exporting as ONNX",
    "precompute": "Preparing the explanations of the top-scored items",
}


def job_section(queue: dict[int, int]) -> None:
    """Jobs of finished runs (scoring new data, explaining their items, preparing their
    stored explanations, exporting): rows of the same queue as the runs above, waiting for
    the same slots, cancelled the same way."""
    try:
        jobs = svc.jobs()
    except Exception as error:
        st.error(f"The job queue could not be read: {md(error)}")
        return
    shown = [j for j in jobs if j.status in ("queued", "running")]
    shown += [j for j in jobs if j.status not in ("queued", "running")][: max(0, 5 - len(shown))]
    if not shown:
        return
    st.subheader("Jobs of finished runs")
    for job in shown:
        line, button = st.columns([5, 1])
        badge = runinfo.STATUS_BADGES.get(job.status, job.status)
        if job.id in queue:
            badge += f" · waiting, position {queue[job.id]} of {len(queue)}"
        elif job.status == "running" and job.epochs:
            badge += f" · {job.epoch:,} of {job.epochs:,} items"
        where = f" · on {md(job.host)}" if job.host and job.status == "running" else ""
        error = f"  \n{md(job.error)}" if job.error and job.status == "failed" else ""
        line.markdown(
            f"**Job {job.id} · {JOB_TITLES.get(job.kind, job.kind)}** of run {job.parent} · "
            f"{badge}{where}{error}"
        )
        if job.status in ("queued", "running"):
            button.button("Cancel", key=f"cancel_{job.id}", on_click=act, args=("cancel", job.id))


def trash_section() -> None:
    try:
        trashed = svc.trashed_runs()
    except Exception as error:
        st.error(f"The deleted runs could not be read: {error}")
        return
    if not trashed:
        return
    with st.expander(f"Deleted runs ({len(trashed)})"):
        st.caption(
            f"Deleted runs are kept {svc.trash_days:g} days, then removed for good with their files."
        )
        for record, when in trashed:
            line, button = st.columns([5, 1])
            line.markdown(
                f"Run {record.id} · {runinfo.method_title(svc, record.method)} · "
                f"{record.status} · deleted {runinfo.ago(when)}  \n"
                f"{runinfo.data_line(svc, record)}"
            )
            button.button(
                "Restore", key=f"restore_{record.id}", on_click=act, args=("restore", record.id)
            )
        st.button("Empty the deleted runs now", key="empty_trash", on_click=empty_trash)


run_list()
