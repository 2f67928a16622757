"""Papermill parameter overrides change what a notebook computes (not just its parameters cell)."""

from __future__ import annotations

import json
import math

import pytest

from labkit import bounds
from labkit.notebooks import NOTEBOOK_DIR


def _stdout(nb_path) -> str:
    nb = json.loads(nb_path.read_text())
    return "".join(
        "".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )


@pytest.mark.slow
def test_bounds_notebook_follows_a_p_w_override(tmp_path):
    import papermill as pm

    out = tmp_path / "02_p099.ipynb"
    pm.execute_notebook(str(NOTEBOOK_DIR / "02_bounds_on_s_and_m.ipynb"), str(out), kernel_name="python3",
                        parameters={"MODE": "fast", "P_W": 0.99}, cwd=str(NOTEBOOK_DIR), progress_bar=False)
    text = _stdout(out)
    expected = bounds.s_lower_bound(8, 0.99)
    assert not math.isclose(expected, bounds.s_lower_bound(8, 0.9))
    assert f"C =      8:  s >= {expected:.4f}   (P_W = 0.99)" in text
