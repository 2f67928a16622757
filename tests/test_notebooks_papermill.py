"""Every notebook executed for real by papermill in fast mode, and again with a parameter override.

Why papermill and not only nbval: nbval (``make test``) drives the kernel itself and ignores widget messages, while
papermill (like Voila) executes through nbclient, whose stand-in for ``ipywidgets.Output`` talks back to the kernel.
That path hung the explorer cells in about half the runs (``labkit.notebooks.show_in_output`` explains how). Such a
hang does not raise at the per-cell timeout: the cell just completes after exactly the timeout, so every execution
here also checks each cell's recorded duration.

Each notebook runs as CI runs it: kernel ``python3``, working directory ``notebooks/``, ``MODE="fast"``, the
exercise answers from ``tests/notebook_answers.json`` when that file exists, and face data from ``LABKIT_DATA``
when set (without it the notebooks fall back to the shipped results). The override runs pick, per notebook whose
parameters change what it computes, a cheap but visible change and check the executed output shows it; for the
notebooks that train on faces in CI the override is a ``DATA_ROOT`` without data, which runs their no-data
fallback (CI would otherwise never execute it).
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest

from labkit import bounds, notebooks
from labkit.notebooks import NOTEBOOK_DIR

pytestmark = pytest.mark.slow

PATHS = notebooks.notebook_paths()
# Per-cell limit. The slowest fast-mode cell (notebook 06 embedding ~2,000 faces with the reference model, uncached)
# takes about a minute on a quiet 2-core machine and several on a loaded one; a hang shows up as a cell lasting the
# whole limit, so the limit is also what one hang costs.
CELL_TIMEOUT = 900
NO_DATA = "/nonexistent/labkit-no-data"


def run_notebook(src: Path, out_dir: Path, **params: Any) -> dict:
    """Execute ``src`` with papermill into ``out_dir``; fail on an error or on a cell that sat out the timeout."""
    import papermill as pm

    dst = out_dir / src.name
    pm.execute_notebook(str(src), str(dst), parameters=notebooks.notebook_parameters(src, "fast", **params),
                        kernel_name="python3", cwd=str(NOTEBOOK_DIR), execution_timeout=CELL_TIMEOUT,
                        progress_bar=False)
    nb = json.loads(dst.read_text())
    durations = [(i, c["metadata"].get("papermill", {}).get("duration") or 0.0)
                 for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    stuck = [(i, round(d)) for i, d in durations if d >= CELL_TIMEOUT - 1]
    assert not stuck, f"{src.name}: cells {stuck} ran into the {CELL_TIMEOUT} s limit (a papermill hang)"
    return nb


def output_text(nb: dict) -> str:
    """Everything a reader sees as text: printed streams plus the text/plain and text/markdown of results."""
    parts = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if o.get("output_type") == "stream":
                parts.append("".join(o.get("text", "")))
            for mime in ("text/plain", "text/markdown"):
                if mime in o.get("data", {}):
                    parts.append("".join(o["data"][mime]))
    return "\n".join(parts)


def injected(nb: dict) -> dict[str, Any]:
    """The values papermill injected after the ``parameters`` cell (parsed, so quoting styles do not matter)."""
    cells = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, "papermill did not inject exactly one parameters cell"
    tree = ast.parse("".join(cells[0]["source"]))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)}


# Notebook -> how many Output widgets hold a plotly figure once it ran (one per explorer it builds).
WIDGET_FIGURES = {"01_softmax_to_cosine": 2, "02_bounds_on_s_and_m": 1, "03_toy_8_identities": 1,
                  "05_train_casia_webface": 1, "08_instructor_dashboard": 3,
                  "09_your_own_faces": 1}


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_executes_under_papermill(path, tmp_path):
    nb = run_notebook(path, tmp_path)
    values = injected(nb)
    assert values["MODE"] == "fast"
    for name, value in notebooks.notebook_answers().get(path.stem, {}).items():
        assert values.get(name) == value, f"exercise answer {name} was not injected"
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code and all(c.get("execution_count") for c in code), "some code cells did not run"
    # the explorers drew their first figure into their Output widget while the cell ran
    assert plotly_outputs_in_widget_state(nb) == WIDGET_FIGURES.get(path.stem, 0)


def plotly_outputs_in_widget_state(nb: dict) -> int:
    """How many ipywidgets Output models in the saved widget state hold a plotly figure."""
    state = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return sum(1 for model in state.values() if model.get("model_name") == "OutputModel"
               and any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in model["state"].get("outputs", [])))


# ----------------------------------------------------------------------------------------- parameter overrides


def _softmax_to_cosine(text: str, defaults: dict) -> None:
    # LMCL - NSL logits are -s*m on the target entries (the notebook prints that tensor)
    assert f"{-defaults['S'] * 0.25:.4f}" in text
    assert f"{-defaults['S'] * defaults['M']:.4f}" not in text


def _bounds(text: str, defaults: dict) -> None:
    expected = bounds.s_lower_bound(8, 0.99)
    assert not math.isclose(expected, bounds.s_lower_bound(8, defaults["P_W"]))
    assert f"s >= {expected:.4f}   (P_W = 0.99)" in text
    assert f"(P_W = {defaults['P_W']})" not in text


def _no_data(marker: str) -> Callable[[str, dict], None]:
    def check(text: str, defaults: dict) -> None:
        assert NO_DATA in text, "the notebook did not report the data root it was given"
        assert marker in text, f"the no-data path did not say {marker!r}"

    return check


def _synthetic_training(text: str, defaults: dict) -> None:
    assert "training on synthetic faces instead" in text and NO_DATA in text
    assert "10 iterations in" in text


def _two_photos(text: str, defaults: dict) -> None:
    assert "2 photos" in text and "Hugo_Chavez_0001.jpg vs Kim_Clijsters_0001.jpg: cosine" in text
    assert "Jennifer_Garner" not in text


# Notebook -> (override, check of the executed output). 00 (environment check) and 08 (dashboard; DATA_ROOT and
# SEED only matter when the train button is clicked) have no parameter that changes what they compute.
OVERRIDES: dict[str, tuple[dict[str, Any], Callable[[str, dict], None]]] = {
    "01_softmax_to_cosine": ({"M": 0.25}, _softmax_to_cosine),
    "02_bounds_on_s_and_m": ({"P_W": 0.99}, _bounds),
    "03_toy_8_identities": ({"DATA_ROOT": NO_DATA}, _no_data("The shipped sweep works without it")),
    "04_face_data": ({"DATA_ROOT": NO_DATA}, _no_data("missing")),
    "05_train_casia_webface": ({"DATA_ROOT": NO_DATA, "ITERS": 10}, _synthetic_training),
    "06_benchmarks": ({"DATA_ROOT": NO_DATA}, _no_data("LFW was not found")),
    "07_margin_and_normalization": ({"DATA_ROOT": NO_DATA}, _no_data("No face data")),
    "09_your_own_faces": ({"PHOTOS": ["Hugo_Chavez_0001.jpg", "Kim_Clijsters_0001.jpg"]}, _two_photos),
}


def test_every_notebook_with_parameters_has_an_override():
    """A new notebook whose parameters go beyond MODE/DEVICE/SEED needs an entry in OVERRIDES (or a reason)."""
    without = {"00_welcome", "08_instructor_dashboard"}
    assert set(OVERRIDES) | without == {p.stem for p in PATHS}
    for stem, (params, _check) in OVERRIDES.items():
        defaults = notebooks.default_parameters(NOTEBOOK_DIR / f"{stem}.ipynb")
        missing = set(params) - set(defaults)
        assert not missing, f"{stem}: override of {missing}, not in its parameters cell"
        assert all(defaults[k] != v for k, v in params.items()), f"{stem}: the override equals the default"


@pytest.mark.parametrize("stem", sorted(OVERRIDES))
def test_parameter_override_changes_the_output(stem, tmp_path):
    path = NOTEBOOK_DIR / f"{stem}.ipynb"
    params, check = OVERRIDES[stem]
    nb = run_notebook(path, tmp_path, **params)
    values = injected(nb)
    assert {k: values.get(k) for k in params} == params
    check(output_text(nb), notebooks.default_parameters(path))
