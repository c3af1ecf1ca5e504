import time

from pages.components.state import INSPECT_RUN, LABELED, TEST, TRAIN
from tests.pages.helpers import app, finished_run, no_errors


def test_train_page_asks_for_data_first(home):
    at = app("pages/train.py")
    no_errors(at)
    assert "Data page" in at.info[0].value


def test_train_page_lists_methods_for_the_kind_and_renders_the_config(svc):
    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train, TEST: demo.test, LABELED: demo.labeled})
    no_errors(at)
    methods = at.selectbox(key="train_method").options
    assert any("(ae)" in m for m in methods)
    assert not any("(cvdd)" in m for m in methods)  # a text method is not offered for images
    assert at.number_input(key="cfg_ae_epochs").value == svc.method("ae").Config().epochs
    assert any("Device:" in c.value for c in at.caption)
    assert any(e.label.startswith("Advanced settings") for e in at.expander)


def test_bad_setting_is_reported_without_traceback(svc):
    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train})
    at.text_input(key="cfg_ae_lr_milestones").set_value("three")
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    assert not at.exception
    assert "lr_milestones" in at.error[0].value
    assert svc.runs() == []


def test_start_run_in_background_and_follow_it_on_runs_page(svc):
    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train, TEST: demo.test})
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
    assert at.button(key=f"inspect_{run_id}")


def test_runs_page_shows_failure_reason_and_offers_resume(svc):
    done = finished_run(svc)
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
    assert failed not in [r.id for r in svc.runs()]


def test_compare_page_puts_runs_side_by_side(svc):
    first = finished_run(svc, epochs=1)
    second = finished_run(svc, epochs=2)
    at = app("pages/compare.py")
    no_errors(at)
    table = at.dataframe[0].value
    assert sorted(table["run"].tolist()) == [first, second]
    assert "set epochs" in table.columns and "auroc" in table.columns


def test_a_new_session_picks_up_the_data_of_the_latest_run(svc):
    run_id = finished_run(svc, epochs=1)
    at = app("pages/train.py")  # as after a browser reload: an empty session
    no_errors(at)
    assert at.session_state[TRAIN] == svc.run(run_id).train_dataset
    assert at.session_state[TEST] == svc.run(run_id).test_dataset
    assert at.selectbox(key="train_method").options
