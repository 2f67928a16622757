"""Notebook conventions of the lab, in one place.

- Notebooks are committed without outputs (:func:`strip`, ``make strip``; a test fails on committed outputs).
- Each has one cell tagged ``parameters`` holding literals (``MODE``, ``DEVICE``, ``SEED``, ...).
- CI parameterises every notebook with papermill into ``build/notebooks`` (never in place) and executes the copies
  with ``pytest --nbval-lax`` (:func:`prepare`).
- :func:`setup_plotting` fixes plotly's renderer so saved notebooks stay small (no embedded plotly.js).

Command line: ``python -m labkit.notebooks prepare --mode fast --out build/notebooks`` and
``python -m labkit.notebooks strip notebooks``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def notebook_paths(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The lab's notebooks, in teaching order (file names start with a two-digit number)."""
    return sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))


def parameters_cell(nb: dict[str, Any]) -> dict[str, Any] | None:
    """The cell tagged ``parameters``, or None."""
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def convention_problems(path: Path) -> list[str]:
    """What is wrong with a committed notebook under the lab's conventions (empty list: nothing)."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{path}: unreadable notebook ({exc})"]
    problems = []
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    with_outputs = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    if with_outputs:
        problems.append(f"{path.name}: code cells {with_outputs} carry outputs; run `make strip` before committing")
    params = parameters_cell(nb)
    if params is None:
        problems.append(f"{path.name}: no cell tagged 'parameters'")
    else:
        src = "".join(params.get("source", []))
        if "MODE" not in src:
            problems.append(f"{path.name}: the parameters cell does not define MODE")
        try:
            _literal_assignments(src)
        except ValueError as exc:
            problems.append(f"{path.name}: parameters cell: {exc}")
    return problems


def _literal_assignments(src: str) -> dict[str, Any]:
    """Parse a parameters cell; every statement must be ``NAME = <literal>``."""
    import ast

    values: dict[str, Any] = {}
    for node in ast.parse(src).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"line {node.lineno}: only `NAME = literal` assignments belong in a parameters cell")
        try:
            values[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError as exc:
            raise ValueError(f"line {node.lineno}: {node.targets[0].id} is not a literal") from exc
    return values


def default_parameters(path: Path) -> dict[str, Any]:
    """The literals of a notebook's parameters cell."""
    nb = json.loads(Path(path).read_text())
    cell = parameters_cell(nb)
    return _literal_assignments("".join(cell["source"])) if cell else {}


def strip(path: Path) -> bool:
    """Remove outputs, execution counts and widget state from a notebook in place. Returns True if it changed."""
    text = Path(path).read_text()
    nb = json.loads(text)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in ("execution", "collapsed", "scrolled"):
            cell.get("metadata", {}).pop(key, None)
    meta = nb.get("metadata", {})
    for key in ("widgets", "papermill"):
        meta.pop(key, None)
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        Path(path).write_text(new)
        return True
    return False


def prepare(out: Path, mode: str = "fast", sources: list[Path] | None = None, **params: Any) -> list[Path]:
    """Write papermill-parameterised copies of the notebooks into ``out`` (not executed: nbval executes them).

    ``mode`` and any extra ``params`` are injected after the ``parameters`` cell, as papermill does.
    """
    import papermill as pm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources or notebook_paths():
        dst = out / src.name
        pm.execute_notebook(
            str(src), str(dst), parameters={"MODE": mode, **params}, prepare_only=True, kernel_name="python3",
            cwd=str(src.parent), progress_bar=False,
        )
        written.append(dst)
    return written


def setup_plotting() -> None:
    """Render plotly figures as a JSON mime bundle (small files, no plotly.js in the notebook)."""
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.notebooks")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_prep = sub.add_parser("prepare", help="parameterise every notebook into a build folder for nbval")
    p_prep.add_argument("--mode", default="fast", choices=["fast", "full"])
    p_prep.add_argument("--out", type=Path, default=Path("build/notebooks"))
    p_strip = sub.add_parser("strip", help="remove outputs from notebooks in place")
    p_strip.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "prepare":
        for path in prepare(args.out, mode=args.mode):
            print(f"prepared {path}")
        return 0
    changed = 0
    for p in args.paths:
        for nb in notebook_paths(p) if p.is_dir() else [p]:
            if strip(nb):
                changed += 1
                print(f"stripped {nb}")
    print(f"{changed} notebook(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
