"""Notebook conventions of the lab, in one place.

- Notebooks are committed without outputs (:func:`strip`, ``make strip``; a test fails on committed outputs).
- Each has one cell tagged ``parameters`` holding literals (``MODE``, ``DEVICE``, ``SEED``, ...).
- CI parameterises every notebook with papermill into ``build/notebooks`` (never in place) and executes the copies
  with ``pytest --nbval-lax`` (:func:`prepare`).
- :func:`setup_plotting` fixes plotly's renderer so saved notebooks stay small (no embedded plotly.js).
- Exercise answers: when ``tests/notebook_answers.json`` exists, it maps a notebook's file stem to papermill
  parameters (the answers); :func:`notebook_parameters` adds them, so :func:`prepare` and the papermill tests run
  every notebook with its exercises answered.
- Widgets draw into an ``ipywidgets.Output`` with :func:`show_in_output`, never with ``with output:`` (that hung
  papermill and Voila; the function's docstring says why).

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
# The exercise answers, written by whoever maintains the tests; absent in a fresh checkout of the notebooks.
ANSWERS_FILE = Path(__file__).resolve().parent.parent / "tests" / "notebook_answers.json"


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


def notebook_answers(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The exercise answers per notebook stem, read from ``path`` (default :data:`ANSWERS_FILE`).

    An absent file means no answers (``{}``). A file that is there but is not a JSON object mapping notebook stems
    to objects of parameters raises ``ValueError``: a typo there must not silently run the exercises unanswered.
    """
    path = ANSWERS_FILE if path is None else Path(path)
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in raw.items()):
        raise ValueError(f"{path}: expected {{notebook stem: {{PARAMETER: value}}}}")
    return raw


def notebook_parameters(src: Path, mode: str = "fast", answers: dict[str, dict[str, Any]] | None = None,
                        **params: Any) -> dict[str, Any]:
    """The papermill parameters for notebook ``src``: ``MODE``, then its exercise answers, then ``params``.

    ``answers`` defaults to :func:`notebook_answers` (the answers file, if any); explicit ``params`` win over an
    answer of the same name.
    """
    answers = notebook_answers() if answers is None else answers
    return {"MODE": mode, **answers.get(Path(src).stem, {}), **params}


def prepare(out: Path, mode: str = "fast", sources: list[Path] | None = None,
            answers: dict[str, dict[str, Any]] | None = None, **params: Any) -> list[Path]:
    """Write papermill-parameterised copies of the notebooks into ``out`` (not executed: nbval executes them).

    ``mode``, the notebook's exercise answers (``answers``, default: the answers file, see :func:`notebook_answers`)
    and any extra ``params`` are injected after the ``parameters`` cell, as papermill does.
    """
    import papermill as pm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    answers = notebook_answers() if answers is None else answers
    written = []
    for src in sources or notebook_paths():
        dst = out / src.name
        pm.execute_notebook(
            str(src), str(dst), parameters=notebook_parameters(src, mode, answers, **params), prepare_only=True,
            kernel_name="python3", cwd=str(src.parent), progress_bar=False,
        )
        written.append(dst)
    return written


def setup_plotting() -> None:
    """Render plotly figures as a JSON mime bundle (small files, no plotly.js in the notebook)."""
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype"


def mime_bundle(obj: Any) -> dict[str, Any]:
    """The rich representation of ``obj`` as a JSON-compatible mime bundle, computed without displaying anything.

    A plotly figure gets the plotly JSON mime type (what ``fig.show()`` sends after :func:`setup_plotting`, whatever
    renderer is the default in this process). Anything else goes through IPython's formatters, with the
    ``_ipython_display_`` hook switched off, since that hook would publish the object instead of returning it.
    """
    if hasattr(obj, "to_plotly_json"):
        import plotly.io as pio

        return pio.renderers["plotly_mimetype"].to_mimebundle(obj.to_dict())
    from IPython.core.formatters import DisplayFormatter

    formatter = DisplayFormatter()
    formatter.ipython_display_formatter.enabled = False
    data, _metadata = formatter.format(obj)
    return data


def show_in_output(output: Any, obj: Any) -> None:
    """Make ``obj`` (a plotly figure, HTML, ...) the only content of the ``ipywidgets.Output`` ``output``.

    This sets the widget's synced ``outputs`` trait, never ``with output:`` nor ``output.clear_output()`` (which
    enters ``with output:`` too). The context manager hung papermill (and can hang Voila, which executes notebooks
    with the same nbclient) in about half the runs of notebooks 01 and 03; the chain is:

    1. ``with output:`` sets ``output.msg_id`` to the running cell's request id. nbclient mirrors that Output in its
       front-end stand-in (``nbclient/output_widget.py``, ``OutputWidget.set_state`` -> ``register_output_hook``), so
       the ``display_data``/``clear_output`` messages of the cell are handed to ``OutputWidget.output`` /
       ``clear_output``, which call ``sync_state()``: a ``comm_msg`` sent to the kernel on the *shell* socket
       (``_publish_msg`` -> ``kernel_client.shell_channel.send``), from the task that reads IOPub.
    2. At that moment ``NotebookClient._async_poll_for_reply`` is awaiting ``shell_channel.get_msg()``, i.e. a
       ``zmq.asyncio`` poll on that same socket, which wakes up from the socket's edge-triggered ``ZMQ_FD``.
    3. ``jupyter_client.session.Session.send`` swaps the asyncio socket for a plain ``zmq.Socket.shadow`` of it, so
       the send bypasses pyzmq's asyncio wrapper, which after its own sends re-reads ``ZMQ_EVENTS`` for pending
       receivers. libzmq's send processes the socket's pending commands: when the kernel's ``execute_reply`` has
       just arrived (the explorer cell ends right after drawing, so it often has), the send consumes the FD's wake-up
       and the reply sits readable in the socket (``ZMQ_EVENTS`` = POLLIN) while asyncio never hears about it.
    4. The poll then waits for its timeout: forever under papermill's default (no ``execution_timeout``), the kernel
       idle; with a per-cell timeout the cell ends after exactly that timeout, without an error, because the timer
       finally polls the socket and finds the reply.

    Assigning ``outputs`` sends a state update on IOPub only: no capture, no stand-in, nothing on the shell socket.
    JupyterLab and Voila render the new ``outputs`` at once (their Output model redraws on ``change:outputs``).
    """
    output.outputs = ({"output_type": "display_data", "data": mime_bundle(obj), "metadata": {}},)


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
