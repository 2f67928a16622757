"""The instructor's dashboard wires the theory explorer and the toy sweep; its sliders drive the readouts."""

from __future__ import annotations

from labkit.dashboard import build_dashboard


def test_dashboard_tabs_and_sliders_drive_readouts():
    tabs = build_dashboard()
    assert [tabs.get_title(i) for i in range(3)] == [
        "Decision margins (Fig. 2)", "Unit circle (Fig. 3)", "8 identities (Fig. 4)"]
    _, sliders, readout, _ = tabs.explorers["decision"]
    before = readout.value
    sliders["m"].value = 0.1 if sliders["m"].value != 0.1 else 0.2
    assert readout.value != before

    toy = tabs.explorers["toy"]
    toy.m_slider.value = 0.0
    gap0 = toy.last["train_min_gap_deg"]
    text0 = toy.readout.value
    toy.m_slider.value = 0.2
    assert toy.readout.value != text0
    assert abs(toy.last["m"] - 0.2) < 1e-9
    assert toy.last["train_min_gap_deg"] > gap0  # the margin opens the gaps between classes (Fig. 4)
