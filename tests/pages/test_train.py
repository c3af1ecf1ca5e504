import time

import pytest
from streamlit.testing.v1 import AppTest

from pages.components.state import LABELED, TEST, TRAIN
from tests.pages.helpers import app, no_errors, scored_run


def test_train_page_asks_for_data_first(home):
    at = app("pages/train.py")
    no_errors(at)
    assert "Data page" in at.info[0].value


def test_train_page_lists_methods_for_the_kind_and_renders_the_config(svc):
    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train, TEST: demo.test, LABELED: demo.labeled})
    no_errors(at)
    methods = at.selectbox(key="train_method").options
    assert methods[0].startswith("auto — ")
    assert any("(ae)" in m for m in methods)
    assert not any("(cvdd)" in m for m in methods)  # a text method is not offered for images
    at.selectbox(key="train_method").set_value("ae").run()
    no_errors(at)
    assert at.number_input(key="cfg_ae_epochs").value == svc.method("ae").Config().epochs
    assert any("Device:" in c.value for c in at.caption)
    assert any(e.label.startswith("Advanced settings") for e in at.expander)


def test_bad_setting_is_reported_without_traceback(svc):
    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train})
    at.selectbox(key="train_method").set_value("ae").run()
    at.text_input(key="cfg_ae_lr_milestones").set_value("three")
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    assert not at.exception
    assert "lr_milestones" in at.error[0].value
    assert svc.runs() == []


def test_a_new_session_picks_up_the_data_of_the_latest_run(svc):
    run_id = scored_run(svc, epochs=1)
    at = app("pages/train.py")  # as after a browser reload: an empty session
    no_errors(at)
    assert at.session_state[TRAIN] == svc.run(run_id).train_dataset
    assert at.session_state[TEST] == svc.run(run_id).test_dataset
    assert at.selectbox(key="train_method").options


def test_fcdd_form_starts_from_the_width_suggested_for_this_device(svc):
    from deepad.device import select_device
    from deepad.models.fcdd import FCDDConfig

    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train})
    at.selectbox(key="train_method").set_value("fcdd").run()
    no_errors(at)
    suggested = FCDDConfig.suggested_defaults(select_device().type)
    assert at.number_input(key="cfg_fcdd_width").value == suggested.get("width", 1.0)


def test_config_form_sends_a_suggested_value_even_when_left_as_it_is():
    def form():
        import streamlit as st

        from deepad.config import describe
        from deepad.models.fcdd import FCDDConfig
        from pages.components.config_form import config_form

        specs = describe(FCDDConfig, suggested={"width": 0.25})
        st.session_state["sent"] = config_form(specs, key="f")

    at = AppTest.from_function(form).run()
    assert not at.exception
    sent = at.session_state["sent"]
    assert sent["width"] == 0.25  # the config's own default is 1
    assert "epochs" not in sent and "eta" not in sent  # unchanged defaults are left out


def test_image_forms_start_from_the_data_and_say_so(svc):
    from tests.pages.helpers import SIZE, image_sets

    train, _ = image_sets()
    train_id = svc.registry.add(train, name="blobs").id
    at = app("pages/train.py", **{TRAIN: train_id})
    at.selectbox(key="train_method").set_value("ae").run()
    no_errors(at)
    assert at.selectbox(key="cfg_ae_architecture").value == "conv"
    assert at.number_input(key="cfg_ae_image_size").value == SIZE
    assert "from your data" in at.number_input(key="cfg_ae_image_size").label
    assert any("threshold" in c.value.lower() for c in at.caption)  # the rule is stated


def test_training_on_a_set_with_labeled_anomalies_needs_a_confirmation(svc):
    from tests.pages.helpers import image_sets

    _, test = image_sets()
    test_id = svc.registry.add(test, name="blobs test").id
    at = app("pages/train.py", **{TRAIN: test_id})
    no_errors(at)
    assert any("labeled anomalous" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled
    at.checkbox(key="train_confirm_anomalies").check().run()
    assert not at.button(key="train_start").disabled


def test_changing_a_number_field_starts_no_run(svc):
    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train})
    at.selectbox(key="train_method").set_value("ae").run()
    at.number_input(key="cfg_ae_epochs").set_value(2).run()  # as Enter in the field does
    no_errors(at)
    assert svc.runs() == []
    assert not at.get("form")


def test_a_run_beyond_the_limit_waits_in_the_queue(svc, monkeypatch, worker_pid):
    monkeypatch.setenv("DEEPAD_MAX_RUNS", "1")
    demo = svc.use_demo("fashion")
    busy = svc.store.create_run("ae", {"epochs": 1}, demo.train)
    svc.store.update(busy, status="running", pid=worker_pid, heartbeat=time.time())
    at = app("pages/train.py", **{TRAIN: demo.train})
    at.selectbox(key="train_method").set_value("ae").run()
    at.button(key="train_start").click().run()
    no_errors(at)
    waiting = max(r.id for r in svc.runs())
    assert svc.run(waiting).status == "queued" and svc.queue() == {waiting: 1}
    assert any("waits in the queue" in i.value for i in at.info)


def test_expected_training_time_is_shown_and_long_runs_are_warned_about(svc, monkeypatch):
    from deepad import hardware
    from deepad.models import cost

    monkeypatch.setattr(hardware, "device_type", lambda: "cpu")
    monkeypatch.setattr(cost, "machine_speed", lambda home: 10.0)
    measured = cost.ItemCost(seconds=0.002, side=28, gflops=10.0)
    monkeypatch.setitem(cost.CPU_COSTS, "ae", measured)
    demo = svc.use_demo("fashion")
    at = app("pages/train.py", **{TRAIN: demo.train})
    at.selectbox(key="train_method").set_value("ae").run()
    no_errors(at)
    assert any("Expected training time on this machine" in c.value for c in at.caption)
    assert not at.warning
    at.number_input(key="cfg_ae_epochs").set_value(10_000).run()
    no_errors(at)
    assert any("more than ten minutes" in w.value for w in at.warning)


def test_the_method_defaults_to_auto_with_the_recommendation_and_its_form(
    svc, monkeypatch, worker_pid
):
    monkeypatch.setenv("DEEPAD_MAX_RUNS", "1")  # the run started here waits: nothing trains
    demo = svc.use_demo("fashion")
    busy = svc.store.create_run("ae", {"epochs": 1}, demo.train)
    svc.store.update(busy, status="running", pid=worker_pid, heartbeat=time.time())
    choice = svc.recommend(demo.train, demo.test, demo.labeled)
    at = app("pages/train.py", **{TRAIN: demo.train, TEST: demo.test, LABELED: demo.labeled})
    no_errors(at)
    box = at.selectbox(key="train_method")
    assert box.value == "auto" and box.index == 0
    assert box.options[0] == "auto — " + choice.reason.partition(" → ")[2]
    assert any(choice.reason in i.value for i in at.info)  # the one line, shown in full
    # the form below is the chosen method's, exactly as when it is picked by name
    fields = {w.key for w in (*at.number_input, *at.selectbox, *at.text_input, *at.checkbox)}
    assert any(k.startswith(f"cfg_{choice.method}_") for k in fields)
    at.button(key="train_start").click().run()
    no_errors(at)
    started = max(r.id for r in svc.runs())
    assert started != busy and svc.run(started).status == "queued"
    assert svc.run(started).method == choice.method  # the run records the method, not "auto"


def test_auto_follows_the_kind_of_the_training_set(svc):
    from deepad.models.recommend import MEASURED

    texts = svc.use_demo("reuters")
    at = app("pages/train.py", **{TRAIN: texts.train, TEST: texts.test})
    no_errors(at)
    choice = svc.recommend(texts.train, texts.test)
    assert choice.method in MEASURED["text"]["unlabeled"]
    assert at.selectbox(key="train_method").options[0].startswith("auto — ")
    assert any(f"{choice.reason}" in i.value for i in at.info)


def _png(side: int, seed: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    image = np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def test_large_photos_are_shown_tiled_and_small_ones_not(svc, monkeypatch):
    from deepad import hardware
    from deepad.models import cost

    monkeypatch.setattr(hardware, "device_type", lambda: "cpu")
    monkeypatch.setattr(cost, "machine_speed", lambda home: 10.0)
    measured = cost.ItemCost(seconds=0.05, side=224, gflops=10.0, pretrained=True)
    monkeypatch.setitem(cost.CPU_COSTS, "patchcore", measured)
    large = svc.ingest([(f"good/{i}.png", _png(1600, i)) for i in range(2)], "image").record
    at = app("pages/train.py", **{TRAIN: large.id})
    at.selectbox(key="train_method").set_value("patchcore").run()
    no_errors(at)
    captions = [c.value for c in at.caption]
    line = "1,600 px images → resized to 1,536 px and tiled into 8×8 tiles of 224 px"
    assert any(line in c for c in captions), captions
    assert any("Expected fitting time on this machine" in c for c in captions), captions
    # the estimate counts every tile: 8 × 8 per image
    tiled = svc.training_estimate("patchcore", {}, large.id).seconds
    whole = svc.training_estimate("patchcore", {"tiling": "off"}, large.id).seconds
    assert tiled == pytest.approx(64 * whole)
    # tiling off in the form: the page says the photos are resized whole
    at.selectbox(key="cfg_patchcore_tiling").set_value("off").run()
    no_errors(at)
    assert any("1,600 px images → resized to 224 px" in c.value for c in at.caption)
    small = svc.ingest([(f"good/{i}.png", _png(192, i)) for i in range(2)], "image").record
    at = app("pages/train.py", **{TRAIN: small.id})
    at.selectbox(key="train_method").set_value("patchcore").run()
    no_errors(at)
    assert not any("tiled into" in c.value or "resized to" in c.value for c in at.caption)
