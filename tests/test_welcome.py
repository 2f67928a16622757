from __future__ import annotations

from labkit import notebooks, welcome


def test_lab_map_names_every_notebook_that_exists():
    mapped = {c.notebook for c in welcome.LAB_MAP}
    existing = {p.stem for p in notebooks.notebook_paths()}
    assert existing <= mapped, f"notebooks missing from the welcome map: {existing - mapped}"


def test_environment_check_reports_torch_and_renderer():
    notebooks.setup_plotting()
    checks = {c.name: c for c in welcome.check_environment()}
    assert checks["torch"].ok and checks["plotly renderer"].ok
    text = welcome.format_checks(list(checks.values()))
    assert "torch" in text and "data root" in text


def test_environment_check_flags_wrong_renderer():
    import plotly.io as pio

    old = pio.renderers.default
    try:
        pio.renderers.default = "json"
        checks = {c.name: c for c in welcome.check_environment()}
        assert not checks["plotly renderer"].ok
    finally:
        pio.renderers.default = old
