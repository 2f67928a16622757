"""The CosFace paper's published numbers, as data, and a renderer that puts the lab's rows beside them.

Source: H. Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition", CVPR 2018:
Fig. 5 (read qualitatively), Table 1 (feature normalisation), Table 2 (loss functions), Table 3 (LFW and YTF),
Table 4 (MegaFace Challenge 1) and Table 5 (MegaFace Challenge 2). Figures are percentages exactly as printed.
"Veri." is the TAR at a FAR of 1e-6; "Rank1" the rank-1 identification rate with 10^6 distractors; "Small" and
"Large" are MegaFace's training-set protocols (under / over 0.5M images).

- :data:`TABLES` holds each table as a :class:`PublishedTable` (columns, rows in the paper's order);
- :func:`value` / :func:`row` read one figure / row (``value("table3", "CosFace", "LFW") == 99.73``);
- :func:`render` returns a Markdown table (or the header and the rows) with the lab's rows appended, each row
  saying where it comes from;
- :data:`PAPER` is the older dict form (``PAPER["table2"]["rows"]["LMCL"]["LFW"]``) of Fig. 5 and Tables 1-2,
  used by :mod:`labkit.experiments.lab_scale` and notebook 07.

Used in notebook 06, section 5 ("The paper's tables with the lab's rows") and notebook 07.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CITATION = ('H. Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition", '
            "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR), 2018")

#: decimals each figure column is printed with in the paper
DECIMALS: dict[str, int] = {"LFW": 2, "YTF": 1, "MF1 Rank1": 2, "MF1 Veri.": 2, "MF2 Rank1": 2, "MF2 Veri.": 2}

#: shown for a figure the paper does not report ("-" in the paper) or a lab row leaves out
MISSING = "-"


@dataclass(frozen=True)
class PublishedTable:
    """One table of the paper. ``rows`` are dicts keyed by ``columns`` (``None``: not reported), in printed order;
    ``setting`` says what data, network and protocol produced them; ``notes`` (optional) annotates single rows by
    method name."""

    number: int
    caption: str
    setting: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    notes: Mapping[str, str] | None = None

    @property
    def title(self) -> str:
        return f"Table {self.number}. {self.caption}"


def _rows(columns: Sequence[str], *values: Sequence[Any]) -> tuple[dict[str, Any], ...]:
    out = []
    for v in values:
        if len(v) != len(columns):
            raise ValueError(f"row {v} does not have the {len(columns)} columns {columns}")
        out.append(dict(zip(columns, v)))
    return tuple(out)


_T12 = ("Method", "LFW", "YTF", "MF1 Rank1", "MF1 Veri.")
_T3 = ("Method", "Training data", "#Models", "LFW", "YTF")
_T4 = ("Method", "Protocol", "MF1 Rank1", "MF1 Veri.")
_T5 = ("Method", "Protocol", "MF2 Rank1", "MF2 Veri.")

TABLES: dict[str, PublishedTable] = {
    "table1": PublishedTable(
        1, "Comparison of models with and without feature normalization on LFW, YTF and MegaFace Challenge 1 (MF1).",
        "CASIA-WebFace, 64-layer CNN, m = 0.35", _T12,
        _rows(_T12,
              ("LMCL, no feature normalisation", 99.10, 93.1, 75.10, 88.65),
              ("LMCL, feature normalisation", 99.33, 96.1, 77.11, 89.88)),
        notes={"LMCL, no feature normalisation": "printed as Normalization 'No'",
               "LMCL, feature normalisation": "printed as Normalization 'Yes'"},
    ),
    "table2": PublishedTable(
        2, "Comparison of the proposed LMCL with state-of-the-art loss functions.",
        "CASIA-WebFace, the same 64-layer CNN for every loss", _T12,
        _rows(_T12,
              ("Softmax", 97.88, 93.1, 54.85, 65.92),
              ("Softmax+Contrastive", 98.78, 93.5, 65.21, 78.86),
              ("Triplet", 98.70, 93.4, 64.79, 78.32),
              ("L-Softmax", 99.10, 94.0, 67.12, 80.42),
              ("Softmax+Center", 99.05, 94.4, 65.49, 80.14),
              ("A-Softmax", 99.42, 95.0, 72.72, 85.56),
              ("A-Softmax-NormFea", 99.32, 95.4, 75.42, 88.82),
              ("LMCL", 99.33, 96.1, 77.11, 89.88)),
    ),
    "table3": PublishedTable(
        3, "Face verification (%) on the LFW and YTF datasets.",
        "LFW: the 6,000 View 2 pairs, 10 folds, unrestricted with labeled outside data; YTF: 5,000 video pairs; "
        "each method with its own training data and network", _T3,
        _rows(_T3,
              ("Deep Face", "4M", 3, 97.35, 91.4),
              ("FaceNet", "200M", 1, 99.63, 95.1),
              ("DeepFR", "2.6M", 1, 98.95, 97.3),
              ("DeepID2+", "300K", 25, 99.47, 93.2),
              ("Center Face", "0.7M", 1, 99.28, 94.9),
              ("Baidu", "1.3M", 1, 99.13, None),
              ("SphereFace", "0.49M", 1, 99.42, 95.0),
              ("CosFace", "5M", 1, 99.73, 97.6)),
        notes={"CosFace": "LMCL, 64-layer CNN on the large (about 5M images) training set"},
    ),
    "table4": PublishedTable(
        4, "Face identification and verification evaluation on MF1.",
        "FaceScrub probes, 10^6 MegaFace distractors; Rank1 = rank-1 identification, Veri. = TAR at FAR 1e-6", _T4,
        _rows(_T4,
              ("SIAT MMLAB", "Small", 65.23, 76.72),
              ("DeepSense - Small", "Small", 70.98, 82.85),
              ("SphereFace - Small", "Small", 75.76, 90.04),
              ("Beijing FaceAll V2", "Small", 76.66, 77.60),
              ("GRCCV", "Small", 77.67, 74.88),
              ("FUDAN-CS SDS", "Small", 77.98, 79.19),
              ("CosFace (single-patch)", "Small", 77.11, 89.88),
              ("CosFace (3-patch ensemble)", "Small", 79.54, 92.22),
              ("Beijing FaceAll Norm 1600", "Large", 64.80, 67.11),
              ("Google - FaceNet v8", "Large", 70.49, 86.47),
              ("NTechLAB - facenx large", "Large", 73.30, 85.08),
              ("SIATMMLAB TencentVision", "Large", 74.20, 87.27),
              ("DeepSense V2", "Large", 81.29, 95.99),
              ("YouTu Lab", "Large", 83.29, 91.34),
              ("Vocord - deepVo V3", "Large", 91.76, 94.96),
              ("CosFace (single-patch)", "Large", 82.72, 96.65),
              ("CosFace (3-patch ensemble)", "Large", 84.26, 97.96)),
    ),
    "table5": PublishedTable(
        5, "Face identification and verification evaluation on MF2.",
        "MF2's own training data (4.7M faces, 672K identities: the large protocol), FaceScrub probes, 10^6 MF2 "
        "distractors; Rank1 = rank-1 identification, Veri. = TAR at FAR 1e-6", _T5,
        _rows(_T5,
              ("3DiVi", "Large", 57.04, 66.45),
              ("Team 2009", "Large", 58.93, 71.12),
              ("NEC", "Large", 62.12, 66.84),
              ("GRCCV", "Large", 75.77, 74.84),
              ("SphereFace", "Large", 71.17, 84.22),
              ("CosFace (single-patch)", "Large", 74.11, 86.77),
              ("CosFace (3-patch ensemble)", "Large", 77.06, 90.30)),
    ),
}

#: Fig. 5 prints no numbers (the values are only drawn): its reading is qualitative.
FIG5: dict[str, str] = {
    "setting": "CASIA-WebFace, 64-layer CNN, LFW View 2 (6,000 pairs) and YTF; m from 0 to 0.45",
    "reading": "worst at m = 0; accuracy improves consistently with m and saturates at m = 0.35",
}


def _as_dict(table: PublishedTable) -> dict[str, Any]:
    return {"setting": table.setting,
            "rows": {r["Method"]: {c: r[c] for c in table.columns[1:]} for r in table.rows}}


#: Fig. 5 and Tables 1-2 in dict form: ``PAPER["table1"]["rows"]["LMCL, feature normalisation"]["LFW"] == 99.33``.
#: NSL is not a row of Table 2. (Tables 3-5 repeat method names across protocols, so they live in TABLES only.)
PAPER: dict[str, Any] = {"fig5": FIG5, "table1": _as_dict(TABLES["table1"]), "table2": _as_dict(TABLES["table2"])}


def table(table_id: str | int) -> PublishedTable:
    """A table by id (``"table3"``) or number (``3``)."""
    key = f"table{table_id}" if isinstance(table_id, int) else table_id
    if key not in TABLES:
        raise KeyError(f"no published {key!r}; the paper's tables here are {sorted(TABLES)}")
    return TABLES[key]


def row(table_id: str | int, method: str, protocol: str | None = None) -> dict[str, Any]:
    """The row of ``method`` (as printed; Tables 4-5 need ``protocol``, ``"Small"``/``"Large"``, when the method
    appears under both)."""
    t = table(table_id)
    found = [r for r in t.rows if r["Method"] == method and (protocol is None or r.get("Protocol") == protocol)]
    if len(found) != 1:
        methods = sorted({r["Method"] for r in t.rows})
        what = "several rows: pass protocol" if found else f"no row; methods: {methods}"
        raise KeyError(f"{t.title} {method!r}{f' ({protocol})' if protocol else ''}: {what}")
    return dict(found[0])


def value(table_id: str | int, method: str, column: str, protocol: str | None = None) -> Any:
    """One published figure, e.g. ``value("table3", "CosFace", "LFW") == 99.73``."""
    r = row(table_id, method, protocol)
    if column not in r:
        raise KeyError(f"{table(table_id).title} has no column {column!r}; columns: {list(r)}")
    return r[column]


def fmt(column: str, x: Any) -> str:
    """A cell as the paper prints it: figures with the column's decimals, ``None`` as ``-``."""
    if x is None:
        return MISSING
    if isinstance(x, float) and column in DECIMALS:
        return f"{x:.{DECIMALS[column]}f}"
    return str(x)


def rows_with_lab(table_id: str | int, lab_rows: Sequence[Mapping[str, Any]] = ()) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: the published rows then ``lab_rows``, every cell a string, with a last column saying
    where the row comes from.

    A lab row is a dict keyed by the table's columns plus ``"source"`` (data, network, protocol that produced it);
    figures are percentages (floats are printed with the paper's decimals, strings as given, missing as ``-``).
    """
    t = table(table_id)
    header = [*t.columns, "source"]
    out = []
    for r in t.rows:
        note = (t.notes or {}).get(r["Method"])
        out.append([fmt(c, r[c]) for c in t.columns] + [f"paper, Table {t.number}" + (f" ({note})" if note else "")])
    for r in lab_rows:
        unknown = set(r) - set(header)
        if unknown:
            raise KeyError(f"lab row {r.get('Method', '?')!r} has columns {sorted(unknown)} not in {t.title}")
        out.append([fmt(c, r.get(c)) for c in t.columns] + [str(r.get("source", "lab"))])
    return header, out


def render(table_id: str | int, lab_rows: Sequence[Mapping[str, Any]] = (), caption: bool = True) -> str:
    """A Markdown table of the published rows with ``lab_rows`` appended (see :func:`rows_with_lab`), under the
    table's caption and the setting of its published rows.

    Used in notebook 06, section 5.
    """
    from labkit.evaluate.analysis import markdown_table

    t = table(table_id)
    header, rows = rows_with_lab(table_id, lab_rows)
    body = markdown_table(header, rows)
    if not caption:
        return body
    return f"**{t.title}** Published rows: {t.setting}.\n\n{body}"


__all__ = ["CITATION", "DECIMALS", "FIG5", "PAPER", "PublishedTable", "TABLES", "fmt", "render", "row",
           "rows_with_lab", "table", "value"]
