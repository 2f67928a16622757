"""What papermill injects into each notebook: MODE, the exercise answers of ``tests/notebook_answers.json`` (when
the file exists) and explicit overrides. That the overrides change what a notebook computes is checked by executing
the notebooks in ``test_notebooks_papermill.py``."""

from __future__ import annotations

import ast
import json

import pytest

from labkit import notebooks
from labkit.notebooks import NOTEBOOK_DIR

SOFTMAX = NOTEBOOK_DIR / "01_softmax_to_cosine.ipynb"


def _injected(path) -> dict:
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1
    tree = ast.parse("".join(cells[0]["source"]))
    return {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}


def test_absent_answers_file_means_no_answers(tmp_path):
    assert notebooks.notebook_answers(tmp_path / "notebook_answers.json") == {}
    assert notebooks.notebook_parameters(SOFTMAX, "fast", answers={}) == {"MODE": "fast"}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"01_softmax_to_cosine": 3}'])
def test_malformed_answers_file_is_an_error(tmp_path, text):
    path = tmp_path / "notebook_answers.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="notebook_answers.json"):
        notebooks.notebook_answers(path)


def test_answers_go_to_their_notebook_only_and_explicit_parameters_win():
    answers = {"01_softmax_to_cosine": {"ANSWER_A": 1.5, "SEED": 3}, "02_bounds_on_s_and_m": {"ANSWER_B": 2}}
    assert notebooks.notebook_parameters(SOFTMAX, "full", answers) == {"MODE": "full", "ANSWER_A": 1.5, "SEED": 3}
    assert notebooks.notebook_parameters(SOFTMAX, "fast", answers, SEED=7)["SEED"] == 7
    other = NOTEBOOK_DIR / "00_welcome.ipynb"
    assert notebooks.notebook_parameters(other, "fast", answers) == {"MODE": "fast"}


def test_prepare_injects_the_answers_file(tmp_path, monkeypatch):
    answers = tmp_path / "notebook_answers.json"
    answers.write_text(json.dumps({"01_softmax_to_cosine": {"ANSWER_X": 0.25, "ANSWER_NAME": "cos"}}))
    monkeypatch.setattr(notebooks, "ANSWERS_FILE", answers)
    out = notebooks.prepare(tmp_path / "nb", mode="fast", sources=[SOFTMAX, NOTEBOOK_DIR / "00_welcome.ipynb"])
    assert _injected(out[0]) == {"MODE": "fast", "ANSWER_X": 0.25, "ANSWER_NAME": "cos"}
    assert _injected(out[1]) == {"MODE": "fast"}


def test_the_repository_answers_file_is_well_formed_and_names_real_notebooks():
    answers = notebooks.notebook_answers()
    if not notebooks.ANSWERS_FILE.is_file():
        pytest.skip(f"no answers file at {notebooks.ANSWERS_FILE}")
    stems = {p.stem for p in notebooks.notebook_paths()}
    assert answers and set(answers) <= stems, f"answers for unknown notebooks: {set(answers) - stems}"
