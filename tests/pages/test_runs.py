import time

from pages.components.state import INSPECT_RUN, TEST, TRAIN
from tests.pages.helpers import app, no_errors, scored_run


def test_start_run_in_background_and_follow_it_on_runs_page(svc):
    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train, TEST: demo.test})
    at.selectbox(key="train_method").set_value("ae").run()
    at.number_input(key="cfg_ae_epochs").set_value(1)
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    no_errors(at)
    assert "started in the background" in at.success[0].value
    run_id = at.session_state[INSPECT_RUN]
    assert svc.run(run_id).config["epochs"] == 1

    at.switch_page("pages/runs.py")
    deadline = time.time() + 120
    while svc.run(run_id).status in ("queued", "running") and time.time() < deadline:
        time.sleep(1)
        at.run()  # the fragment's timer does not fire under AppTest: poll by re-running
        no_errors(at)
    assert svc.run(run_id).status == "done", svc.run(run_id).error
    at.run()
    no_errors(at)
    assert any("AUROC" in c.value for c in at.caption)
    assert inspect_links(at) == [f"run={run_id}"]
    # its worker, once done, started the job it queued: the explainers of its top items
    (prepare,) = [j for j in svc.jobs(run_id) if j.kind == "precompute"]
    deadline = time.time() + 120
    while svc.run(prepare.id).status in ("queued", "running") and time.time() < deadline:
        time.sleep(1)
    assert svc.run(prepare.id).status == "done", svc.run(prepare.id).error
    assert svc.explanations_pending(run_id) is None
    assert svc.run(prepare.id).metrics["count"] >= 1


def inspect_links(at) -> list[str]:
    """The query strings of the Runs page's links to Inspect."""
    return [link.proto.query_string for link in at.get("page_link") if link.proto.page == "inspect"]


def test_finished_runs_link_to_inspect_and_active_ones_do_not(jobless):
    done = scored_run(jobless)
    running = jobless.store.create_run(
        "ae", jobless.run(done).config, jobless.run(done).train_dataset
    )
    jobless.store.update(running, status="running", progress=0.5)
    at = app("pages/runs.py")
    no_errors(at)
    # a link, followed by the browser, not a button whose page switch the panel's timer races
    assert inspect_links(at) == [f"run={done}"]
    assert not [b for b in at.button if b.label == "Inspect"]


def test_runs_page_shows_failure_reason_and_offers_resume(svc):
    done = scored_run(svc)
    failed = svc.store.create_run("ae", svc.run(done).config, svc.run(done).train_dataset)
    svc.store.update(failed, status="failed", error="CUDA out of memory")
    interrupted = svc.store.create_run("ae", svc.run(done).config, svc.run(done).train_dataset)
    svc.store.update(interrupted, status="interrupted")
    at = app("pages/runs.py")
    assert not at.exception
    assert any("CUDA out of memory" in e.value for e in at.error)
    assert any("Interrupted" in w.value for w in at.warning)
    assert at.button(key=f"resume_{interrupted}")
    at.button(key=f"delete_{failed}").click()
    at.run()
    assert failed in [r.id for r in svc.runs()]  # asked first
    at.button(key=f"confirm_delete_{failed}").click()
    at.run()
    assert failed not in [r.id for r in svc.runs()]


def test_cancel_and_resume_buttons_call_the_service(jobless):
    run_id = scored_run(jobless)
    jobless.store.update(run_id, status="running", progress=0.4)
    at = app("pages/runs.py")
    no_errors(at)
    assert f"resume_{run_id}" not in [b.key for b in at.button]
    at.button(key=f"cancel_{run_id}").click()
    at.run()
    no_errors(at)
    assert ("cancel", run_id) in jobless.calls
    at.button(key=f"resume_{run_id}").click()
    at.run()
    no_errors(at)
    assert ("resume", run_id) in jobless.calls
    assert jobless.run(run_id).status == "queued"
    assert at.button(key=f"cancel_{run_id}")  # a queued run can be cancelled again


def test_waiting_runs_show_their_place_in_the_queue_and_can_be_cancelled(jobless):
    first = jobless.store.create_run("ae", {"epochs": 1}, "d" * 16)
    second = jobless.store.create_run("ae", {"epochs": 1}, "d" * 16)
    at = app("pages/runs.py")
    no_errors(at)
    text = " ".join(m.value for m in at.markdown)
    assert "position 1 of 2" in text and "position 2 of 2" in text
    assert any("DEEPAD_MAX_RUNS" in c.value for c in at.caption)
    at.button(key=f"cancel_{second}").click().run()
    assert ("cancel", second) in jobless.calls
    assert at.button(key=f"cancel_{first}")


def test_delete_asks_first_and_a_deleted_run_can_be_restored(svc):
    """Issue 23, defect 3: Delete removed a run at one click, with no way back."""
    run_id = scored_run(svc)
    at = app("pages/runs.py")
    at.button(key=f"delete_{run_id}").click().run()
    no_errors(at)
    assert any(f"Delete run {run_id}?" in w.value for w in at.warning)
    at.button(key=f"keep_{run_id}").click().run()
    assert [r.id for r in svc.runs()] == [run_id]
    at.button(key=f"delete_{run_id}").click().run()
    at.button(key=f"confirm_delete_{run_id}").click().run()
    no_errors(at)
    assert svc.runs() == []
    assert [r.id for r, _ in svc.trashed_runs()] == [run_id]
    assert any("Deleted runs (1)" in e.label for e in at.expander)
    at.button(key=f"restore_{run_id}").click().run()
    no_errors(at)
    assert [r.id for r in svc.runs()] == [run_id]
    assert len(svc.results(run_id)) == 20  # scores and files came back with it
    # and the trash can be emptied for good
    at.button(key=f"delete_{run_id}").click().run()
    at.button(key=f"confirm_delete_{run_id}").click().run()
    at.button(key="empty_trash").click().run()
    no_errors(at)
    assert svc.trashed_runs() == [] and svc.store.list_runs() == []


def test_a_finished_run_is_marked_best_for_its_training_set(svc):
    first, second = scored_run(svc), scored_run(svc)
    at = app("pages/runs.py")
    at.button(key=f"best_{first}").click().run()
    no_errors(at)
    assert svc.best_runs() == {svc.run(first).train_dataset: first}
    assert at.button(key=f"best_{first}").label == "★ Best"
    assert any("★ best for its training set" in m.value for m in at.markdown)
    at.button(key=f"best_{second}").click().run()
    assert list(svc.best_runs().values()) == [second]
    at.switch_page("pages/compare.py").run()
    no_errors(at)
    table = at.dataframe[0].value
    assert list(table.loc[table["run"] == second, "best"]) == ["★"]


def test_a_failed_run_offers_retry_and_edit_and_retry(jobless, monkeypatch):
    done = scored_run(jobless)
    config = {**jobless.run(done).config, "epochs": 7}
    failed = jobless.store.create_run("ae", config, jobless.run(done).train_dataset)
    jobless.store.update(failed, status="failed", error="CUDA out of memory")
    monkeypatch.setattr(jobless, "submit", lambda run_id: False)
    at = app("pages/runs.py")
    at.button(key=f"retry_{failed}").click().run()
    assert not at.exception
    newest = max(r.id for r in jobless.runs())
    assert newest > failed and jobless.run(newest).config == jobless.run(failed).config
    links = [link.proto for link in at.get("page_link") if link.proto.page == "train"]
    assert [link.query_string for link in links] == [f"retry={failed}"]
    # following the link: Train opens on that run's data, method and settings
    at.query_params["retry"] = str(failed)
    at.switch_page("pages/train.py").run()
    no_errors(at)
    assert at.session_state[TRAIN] == jobless.run(failed).train_dataset
    assert at.number_input(key="cfg_ae_epochs").value == 7
    assert any(f"Settings of run {failed}" in i.value for i in at.info)


def test_jobs_of_finished_runs_wait_in_the_same_queue_and_can_be_cancelled(jobless):
    done = scored_run(jobless)
    waiting_run = jobless.store.create_run("ae", {"epochs": 1}, "d" * 16)
    explain = jobless.store.create_job("explain", done)
    score = jobless.store.create_job("score", done, {"dataset": "e" * 16})
    jobless.store.update(score, status="running", epoch=5, epochs=20, host="gpu-2")
    at = app("pages/runs.py")
    no_errors(at)
    text = " ".join(m.value for m in at.markdown)
    # the run and the explain job hold places 1 and 2 of one queue
    assert "position 1 of 2" in text and "position 2 of 2" in text
    assert f"Job {explain} · Explaining every item** of run {done}" in text
    assert f"Job {score} · Scoring new data** of run {done}" in text
    assert "5 of 20 items" in text and "on gpu-2" in text
    assert at.button(key=f"cancel_{waiting_run}")
    at.button(key=f"cancel_{explain}").click().run()
    no_errors(at)
    assert ("cancel", explain) in jobless.calls
    assert jobless.run(explain).status == "cancelled"


def test_the_explanations_a_finished_run_prepares_show_as_its_job(jobless):
    done = scored_run(jobless)
    job = jobless.store.create_job("precompute", done)  # as the run queues it when it ends
    jobless.store.update(job, status="running", epoch=64, epochs=200, host="gpu-1")
    at = app("pages/runs.py")
    no_errors(at)
    text = " ".join(m.value for m in at.markdown)
    assert f"Job {job} · Preparing the explanations of the top-scored items** of run {done}" in text
    assert "64 of 200 items" in text and "on gpu-1" in text
    at.button(key=f"cancel_{job}").click().run()
    no_errors(at)
    assert jobless.run(job).status == "cancelled"
