"""The notebook conventions: committed without outputs, a ``parameters`` cell of literals with MODE, papermill can
parameterise every notebook (executing them is nbval's job in ``make test`` and test_notebooks_papermill.py's), and
widgets draw into an Output by replacing its content (:func:`labkit.notebooks.show_in_output`)."""

from __future__ import annotations

import json

import pytest

from labkit import notebooks

PATHS = notebooks.notebook_paths()


def test_there_are_notebooks():
    assert any(p.name.startswith("00_welcome") for p in PATHS)


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_committed_notebook_follows_conventions(path):
    assert notebooks.convention_problems(path) == []


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_default_mode_is_fast(path):
    assert notebooks.default_parameters(path)["MODE"] == "fast"


def test_convention_checker_catches_outputs_and_missing_parameters(tmp_path):
    bad = tmp_path / "99_bad.ipynb"
    nb = {
        "cells": [{"cell_type": "code", "metadata": {}, "source": ["x = 1"], "execution_count": 3,
                   "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    bad.write_text(json.dumps(nb))
    problems = notebooks.convention_problems(bad)
    assert any("carry outputs" in p for p in problems)
    assert any("no cell tagged 'parameters'" in p for p in problems)
    assert notebooks.strip(bad) is True
    assert not any("carry outputs" in p for p in notebooks.convention_problems(bad))


def test_parameters_cell_must_hold_literals(tmp_path):
    nb = {
        "cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": ["MODE = pick()"],
                   "execution_count": None, "outputs": []}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    path = tmp_path / "98_calls.ipynb"
    path.write_text(json.dumps(nb))
    assert any("not a literal" in p for p in notebooks.convention_problems(path))


def test_prepare_injects_parameters_outside_sources(tmp_path):
    out = notebooks.prepare(tmp_path / "nb", mode="full", sources=PATHS[:1], SEED=7)
    nb = json.loads(out[0].read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected, "papermill did not inject a parameters cell"
    src = "".join(injected[0]["source"])
    assert 'MODE = "full"' in src and "SEED = 7" in src
    assert out[0].parent != notebooks.NOTEBOOK_DIR


def test_show_in_output_replaces_the_content_with_one_json_display():
    import ipywidgets
    import numpy as np
    import plotly.graph_objects as go
    from IPython.display import HTML

    out = ipywidgets.Output()
    notebooks.show_in_output(out, go.Figure(go.Scatter(x=np.arange(3), y=np.array([0.5, 1.5, 1.0]))))
    notebooks.show_in_output(out, go.Figure(go.Bar(x=[1], y=[2])))
    assert len(out.outputs) == 1 and out.outputs[0]["output_type"] == "display_data"
    fig = out.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert fig["data"][0]["type"] == "bar" and fig["data"][0]["y"] == [2]
    assert out.msg_id == "", "nothing was captured"
    json.dumps(out.outputs)  # the synced state must be plain JSON (numpy arrays converted)

    notebooks.show_in_output(out, HTML("<b>C = 8</b>"))
    assert out.outputs[0]["data"]["text/html"] == "<b>C = 8</b>"


def test_mime_bundle_does_not_depend_on_the_default_renderer(monkeypatch):
    import plotly.graph_objects as go
    import plotly.io as pio

    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    monkeypatch.setattr(pio.renderers, "default", "")
    bundle = notebooks.mime_bundle(fig)
    assert list(bundle) == ["application/vnd.plotly.v1+json"]
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["y"] == [3, 4]
