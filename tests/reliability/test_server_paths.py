"""No setting, from a form or from a model file, reads a file of the server's choosing: the
word-vector file of ``embedding = file`` must lie in the folder the operator allows, and no
message quotes a file's content."""

import json

import pytest

from deepad.models import Detector
from deepad.models.textbank import TextKNN
from tests.text.vectors import finance_docs, write_vectors

SECRET = "List of secrets: root:x:0:0\n"


@pytest.fixture
def folders(tmp_path, monkeypatch):
    allowed = tmp_path / "vectors"
    allowed.mkdir()
    write_vectors(allowed / "glove.txt")
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    monkeypatch.setenv("DEEPAD_WORD_VECTORS", str(allowed))
    return allowed, secret


def fit(name):
    return TextKNN(embedding="file", embedding_file=name, cache_embeddings=False).fit(
        finance_docs(12)
    )


@pytest.mark.parametrize(
    "name", ["SECRET", "../secret.txt", "/etc/passwd", "../../../../../etc/passwd", "link.txt"]
)
def test_a_path_outside_the_allowed_folder_is_refused_unread(folders, name):
    allowed, secret = folders
    (allowed / "link.txt").symlink_to(secret)
    name = str(secret) if name == "SECRET" else name
    with pytest.raises(ValueError, match="not in the word-vector folder") as caught:
        fit(name)
    assert "List" not in str(caught.value) and "root:" not in str(caught.value)


def test_missing_files_outside_are_not_told_apart_from_existing_ones(folders):
    allowed, secret = folders
    messages = []
    for name in (str(secret), str(secret) + ".missing"):
        with pytest.raises(ValueError) as caught:
            fit(name)
        messages.append(str(caught.value).replace(".missing", ""))
    assert messages[0] == messages[1]


def test_a_file_that_is_not_vectors_is_refused_without_quoting_it(folders):
    allowed, _ = folders
    (allowed / "notes.txt").write_text(SECRET * 3)
    with pytest.raises(ValueError, match="notes.txt, line 1: not a word followed by numbers") as e:
        fit("notes.txt")
    assert "List" not in str(e.value) and "secrets" not in str(e.value)


def test_without_an_allowed_folder_file_vectors_are_off(folders, monkeypatch):
    monkeypatch.delenv("DEEPAD_WORD_VECTORS")
    with pytest.raises(ValueError, match="DEEPAD_WORD_VECTORS"):
        fit("glove.txt")


def test_a_model_file_naming_a_server_path_is_refused_when_scoring(folders, tmp_path):
    fit("glove.txt").save(tmp_path / "model")
    path = tmp_path / "model" / "detector.json"
    tree = json.loads(path.read_text())
    tree["config"]["embedding_file"] = "../../../../../etc/passwd"
    path.write_text(json.dumps(tree))
    detector = Detector.load(tmp_path / "model")
    with pytest.raises(ValueError, match="not in the word-vector folder"):
        detector.score(finance_docs(3, seed=1))
