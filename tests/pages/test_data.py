import numpy as np

from deepad.data.types import DataKind
from pages.components.state import LABELED, TEST, TRAIN
from tests.pages.helpers import app, blob, no_errors, png, zip_of


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_demo_set_selects_train_test_and_labeled(svc):
    at = app("pages/data.py")
    no_errors(at)
    at.button(key="demo_use").click()
    at.run()
    no_errors(at)
    assert at.session_state[TRAIN] and at.session_state[TEST] and at.session_state[LABELED]
    train = svc.dataset(at.session_state[TRAIN])
    assert train.kind == DataKind.IMAGE
    # the training tab previews the selection: its item count and sample images
    assert metric(at, "items") == f"{len(train):,}"
    assert len(at.image) > 0


def test_zip_upload_ingests_good_images_and_names_the_broken_file(svc):
    rng = np.random.default_rng(1)
    entries = {f"img_{i}.png": png(blob(rng)) for i in range(6)}
    entries["broken.png"] = png(blob(rng))[:40]
    entries["notes.txt"] = b"not an image"
    at = app("pages/data.py")
    assert "200 MB" in " ".join(c.value for c in at.caption)  # the upload limit is stated
    at.file_uploader(key="selected_train_files_image_0").set_value(
        ("upload.zip", zip_of(entries), "application/zip")
    )
    at.run()
    at.button(key="selected_train_ingest").click()
    at.run()
    no_errors(at)
    dataset_id = at.session_state[TRAIN]
    assert len(svc.dataset(dataset_id)) == 6
    assert metric(at, "items") == "6"
    assert any("skipped" in w.value for w in at.warning)
    skipped = at.dataframe[-1].value
    assert set(skipped["file"].str.split("/").str[-1]) >= {"broken.png", "notes.txt"}


def test_upload_with_nothing_usable_is_an_error_not_a_traceback(home):
    at = app("pages/data.py")
    at.file_uploader(key="selected_train_files_image_0").set_value(
        ("broken.png", b"\x89PNG\r\n\x1a\n garbage", "image/png")
    )
    at.run()
    at.button(key="selected_train_ingest").click()
    at.run()
    assert not at.exception
    assert at.error and "broken.png" in at.error[0].value
    assert TRAIN not in at.session_state or not at.session_state[TRAIN]


def test_text_csv_upload_offers_column_pickers(svc):
    rows = ["id,text,label"] + [f"{i},the cat sat on mat number {i},normal" for i in range(8)]
    rows += ["8,stock prices fell sharply,anomalous"]
    at = app("pages/data.py")
    at.selectbox(key="selected_train_kind").set_value("text")
    at.run()
    at.file_uploader(key="selected_train_files_text_0").set_value(
        ("docs.csv", "\n".join(rows).encode(), "text/csv")
    )
    at.run()
    no_errors(at)
    picker = at.selectbox(key="selected_train_text_column")
    assert picker.options == ["id", "text", "label"] and picker.value == "text"
    at.selectbox(key="selected_train_label_column").set_value("label")
    at.run()
    at.text_input(key="selected_train_normal_label").set_value("normal")
    at.button(key="selected_train_ingest").click()
    at.run()
    no_errors(at)
    dataset = svc.dataset(at.session_state[TRAIN])
    assert dataset.kind == DataKind.TEXT and len(dataset) == 9
    assert dataset.labels.tolist() == [0] * 8 + [1]
    assert metric(at, "anomalous") == "1"


def test_labeled_folder_upload_reads_labels_and_masks(svc):
    rng = np.random.default_rng(2)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 255
    files = [(f"set/normal/n{i}.png", png(blob(rng)), "image/png") for i in range(4)]
    files += [(f"set/anomalous/crack/a{i}.png", png(blob(rng)), "image/png") for i in range(2)]
    files += [("set/ground_truth/crack/a0.png", png(mask), "image/png")]
    at = app("pages/data.py", **{TRAIN: svc.use_demo("fashion").train})
    at.toggle(key="selected_test_folder").set_value(True)
    at.run()
    at.file_uploader(key="selected_test_folder_image_0").set_value(files)
    at.run()
    at.button(key="selected_test_ingest").click()
    at.run()
    no_errors(at)
    test = svc.dataset(at.session_state[TEST])
    assert sorted(test.labels.tolist()) == [0, 0, 0, 0, 1, 1]
    assert sum(m is not None for m in test.masks) == 1
    assert any("ground-truth mask" in c.value for c in at.caption)


def test_first_screen_says_what_deepad_does_and_the_order_of_the_pages(home):
    at = app("pages/data.py")
    no_errors(at)
    intro = at.markdown[0].value
    assert "Data" in intro and "Train" in intro and "Runs" in intro and "Inspect" in intro
    assert at.button(key="demo_use")  # the demo is one click away


def test_an_unlabeled_training_set_is_shown_as_normal_not_as_zero_normal(svc):
    demo = svc.use_demo("fashion")
    at = app("pages/data.py", **{TRAIN: demo.train})
    no_errors(at)
    labels = [m.label for m in at.metric]
    if svc.dataset(demo.train).labels is None:
        assert "normal" not in labels and "unlabeled" not in labels
        assert any("taken as all normal" in c.value for c in at.caption)
    # item captions never say a label twice
    assert not any("normal (normal)" in str(c) or "normal · normal" in str(c) for c in labels)


def test_saved_picker_for_the_training_set_skips_a_newer_labeled_test_set(svc):
    from tests.pages.helpers import image_sets

    train, test = image_sets()
    train_id = svc.registry.add(train, name="blobs").id
    svc.registry.add(test, name="blobs test")  # newer, holds anomalies
    at = app("pages/data.py")
    at.radio(key=f"{TRAIN}_source").set_value("Saved dataset").run()
    no_errors(at)
    assert at.selectbox(key=f"{TRAIN}_saved").value == train_id


def test_a_new_training_set_clears_the_demo_test_set_and_the_uploader(svc):
    """Issue 23, defect 1 (and 4's file chips): after "Use this demo set", uploading a new
    training set of the same kind left the demo's test set and labeled anomalies selected,
    so a run trained on one and scored the other."""
    at = app("pages/data.py")
    at.button(key="demo_use").click().run()
    assert at.session_state[TEST] is not None and at.session_state[LABELED] is not None
    rng = np.random.default_rng(2)
    at.file_uploader(key="selected_train_files_image_0").set_value(
        ("gravel.zip", zip_of({f"g_{i}.png": png(blob(rng)) for i in range(6)}), "application/zip")
    )
    at.run()
    at.button(key="selected_train_ingest").click().run()
    no_errors(at)
    assert svc.record(at.session_state[TRAIN]).name == "gravel.zip"
    assert at.session_state[TEST] is None and at.session_state[LABELED] is None
    assert any("were cleared" in i.value for i in at.info)
    # the uploader starts empty again: the zip just read cannot be ingested twice by accident
    assert at.file_uploader(key="selected_train_files_image_1").value in (None, [])
    at.switch_page("pages/train.py").run()
    no_errors(at)
    assert "Test set" not in " ".join(m.value for m in at.markdown)
