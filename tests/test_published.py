"""labkit.experiments.published: the CosFace paper's Tables 1-5 (Wang et al., CVPR 2018) as data, and rendering
them with lab rows. Figures checked against the paper's text (shared/paper/cosface.txt)."""

from __future__ import annotations

import pytest

from labkit.experiments import published as P


def test_table3_lfw_and_ytf():
    assert P.value("table3", "CosFace", "LFW") == 99.73  # LMCL on the large training set
    assert P.value(3, "CosFace", "YTF") == 97.6
    assert P.value("table3", "CosFace", "Training data") == "5M"
    assert P.value("table3", "FaceNet", "LFW") == 99.63 and P.value("table3", "FaceNet", "Training data") == "200M"
    assert P.value("table3", "DeepID2+", "#Models") == 25
    assert P.value("table3", "SphereFace", "LFW") == 99.42 and P.value("table3", "SphereFace", "YTF") == 95.0
    assert P.value("table3", "Baidu", "YTF") is None  # "-" in the paper
    assert [r["Method"] for r in P.table(3).rows] == ["Deep Face", "FaceNet", "DeepFR", "DeepID2+", "Center Face",
                                                      "Baidu", "SphereFace", "CosFace"]


def test_tables_1_and_2():
    assert P.value("table1", "LMCL, no feature normalisation", "MF1 Veri.") == 88.65
    assert P.value("table1", "LMCL, feature normalisation", "YTF") == 96.1
    assert P.value("table2", "LMCL", "MF1 Rank1") == 77.11
    assert P.value("table2", "A-Softmax-NormFea", "LFW") == 99.32
    assert P.value("table2", "Softmax", "MF1 Veri.") == 65.92
    assert len(P.table(2).rows) == 8
    # the dict form used by lab_scale and notebook 07
    assert P.PAPER["table2"]["rows"]["Softmax"]["LFW"] == 97.88
    assert P.PAPER["table2"]["rows"]["A-Softmax"]["LFW"] == 99.42
    assert P.PAPER["table1"]["rows"]["LMCL, feature normalisation"] == {"LFW": 99.33, "YTF": 96.1, "MF1 Rank1": 77.11,
                                                                       "MF1 Veri.": 89.88}
    assert set(P.PAPER) == {"fig5", "table1", "table2"} and "0.35" in P.PAPER["fig5"]["reading"]


def test_tables_4_and_5_megaface():
    assert P.value("table4", "CosFace (single-patch)", "MF1 Rank1", protocol="Small") == 77.11
    assert P.value("table4", "CosFace (3-patch ensemble)", "MF1 Veri.", protocol="Large") == 97.96
    assert P.value("table4", "Vocord - deepVo V3", "MF1 Rank1") == 91.76
    assert [r["Protocol"] for r in P.table(4).rows] == ["Small"] * 8 + ["Large"] * 9
    assert P.value("table5", "CosFace (3-patch ensemble)", "MF2 Rank1") == 77.06
    assert P.value("table5", "SphereFace", "MF2 Veri.") == 84.22
    assert len(P.table(5).rows) == 7
    with pytest.raises(KeyError, match="pass protocol"):
        P.row("table4", "CosFace (single-patch)")
    with pytest.raises(KeyError, match="no row"):
        P.row("table5", "LMCL")
    with pytest.raises(KeyError, match="no column"):
        P.value("table3", "CosFace", "MF1 Rank1")
    with pytest.raises(KeyError, match="no published"):
        P.table(6)


def test_same_model_same_figures_across_tables():
    # Tables 1, 2 and 4 (small protocol) report the same single CosFace model on MF1
    assert P.value("table1", "LMCL, feature normalisation", "MF1 Rank1") == P.value("table2", "LMCL", "MF1 Rank1") \
        == P.value("table4", "CosFace (single-patch)", "MF1 Rank1", "Small")
    assert P.value("table2", "LMCL", "MF1 Veri.") == P.value("table4", "CosFace (single-patch)", "MF1 Veri.", "Small")
    assert P.value("table2", "A-Softmax", "LFW") == P.value("table3", "SphereFace", "LFW")


def test_render_with_lab_rows():
    lab = [{"Method": "lab: model", "Training data": "3.5K", "#Models": 1, "LFW": 74.2, "YTF": "n/a",
            "source": "DevTest, 1,000 pairs"}]
    text = P.render("table3", lab)
    assert text.startswith("**Table 3. Face verification (%) on the LFW and YTF datasets.**")
    lines = text.splitlines()
    assert "| CosFace | 5M | 1 | 99.73 | 97.6 | paper, Table 3" in text
    assert "| Baidu | 1.3M | 1 | 99.13 | - | paper, Table 3 |" in lines
    assert lines[-1] == "| lab: model | 3.5K | 1 | 74.20 | n/a | DevTest, 1,000 pairs |"
    header, rows = P.rows_with_lab(1)
    assert header == ["Method", "LFW", "YTF", "MF1 Rank1", "MF1 Veri.", "source"]
    assert rows[0][:5] == ["LMCL, no feature normalisation", "99.10", "93.1", "75.10", "88.65"]  # printed decimals
    assert P.render(5, caption=False).splitlines()[0] == "| Method | Protocol | MF2 Rank1 | MF2 Veri. | source |"
    with pytest.raises(KeyError, match="not in Table 4"):
        P.render(4, [{"Method": "x", "LFW": 1.0}])


def test_citation_names_the_paper():
    assert "CosFace" in P.CITATION and "CVPR" in P.CITATION and "2018" in P.CITATION
