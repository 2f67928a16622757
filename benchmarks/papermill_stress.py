"""Stress test: execute every notebook that builds ipywidgets many times in a row with papermill and count hangs.

Why: an explorer cell used to hang papermill about one run in two (see ``labkit.notebooks.show_in_output``): the
cell drew its figure inside ``with output:``, nbclient's stand-in for the Output widget answered on the shell
socket while the execute reply was arriving, and the reply's wake-up was lost. A hang is intermittent, so one
clean run proves nothing; this script repeats each widget notebook and reports the count.

    LABKIT_DATA=/path/to/data .venv/bin/python benchmarks/papermill_stress.py [--runs 10] [--total 40]
        [--cell-timeout 120] [--notebooks 01 03 08]

Every run is a fresh ``python -m papermill ... -p MODE fast`` process (what CI and a student type), working
directory ``notebooks/``, kernel ``python3``, with a per-cell timeout. A run counts as

- ``hang`` when a cell reached the per-cell timeout. With the lost wake-up the cell does not fail at the timeout:
  the client's poll timer fires, finds the reply that was waiting all along, and the cell "completes" after exactly
  the timeout, so the script looks at each cell's recorded duration as well as at timeout errors and at runs
  killed by the wall-clock limit;
- ``fail`` when papermill exited non-zero for another reason (a cell raised);
- ``ok`` otherwise.

``--total`` adds runs, round robin over the notebooks, until that many runs are scheduled. The exit status is 1
if any run hung, 2 if none hung but some failed, 0 when every run was clean.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT))

# What marks a notebook as building ipywidgets: a direct import or one of labkit's widget builders.
WIDGET_MARKERS = ("import ipywidgets", "from ipywidgets", "_explorer(", "build_dashboard(")


def widget_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks in ``folder`` whose code cells build ipywidgets, in teaching order."""
    from labkit.notebooks import notebook_paths

    found = []
    for path in notebook_paths(folder):
        nb = json.loads(path.read_text())
        code = "\n".join("".join(c.get("source", [])) for c in nb.get("cells", []) if c.get("cell_type") == "code")
        if any(marker in code for marker in WIDGET_MARKERS):
            found.append(path)
    return found


@dataclass
class Run:
    notebook: str
    outcome: str  # "ok", "hang" or "fail"
    seconds: float
    detail: str = ""


@dataclass
class Tally:
    runs: list[Run] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.runs)


def _cell_durations(path: Path) -> list[tuple[int, float]]:
    """(cell index, seconds) for every code cell papermill timed in an executed notebook."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    out = []
    for i, cell in enumerate(nb.get("cells", [])):
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell.get("cell_type") == "code" and duration is not None:
            out.append((i, float(duration)))
    return out


def run_once(src: Path, workdir: Path, cell_timeout: int, wall_timeout: int, index: int) -> Run:
    """Execute ``src`` once in a fresh papermill process and classify the run."""
    dst = workdir / f"{src.stem}.run{index}.ipynb"
    cmd = [sys.executable, "-m", "papermill", str(src), str(dst), "-k", "python3", "-p", "MODE", "fast",
           "--cwd", str(src.parent), "--execution-timeout", str(cell_timeout), "--no-progress-bar"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=wall_timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return Run(src.stem, "hang", time.perf_counter() - t0, f"killed after the {wall_timeout} s wall limit")
    seconds = time.perf_counter() - t0
    # A cell that hit the per-cell limit: allow a second of slack for the client's own bookkeeping.
    stuck = [(i, d) for i, d in _cell_durations(dst) if d >= cell_timeout - 1.0]
    if stuck or "Cell execution timed out" in proc.stderr or "CellTimeoutError" in proc.stderr:
        where = ", ".join(f"cell {i} ({d:.0f} s)" for i, d in stuck) or "timeout error"
        return Run(src.stem, "hang", seconds, where)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return Run(src.stem, "fail", seconds, lines[-1][:160] if lines else f"exit {proc.returncode}")
    return Run(src.stem, "ok", seconds)


def schedule(paths: list[Path], runs: int, total: int) -> list[Path]:
    """``runs`` of each notebook in a row, then extra runs round robin until ``total`` runs are scheduled."""
    plan = [p for p in paths for _ in range(runs)]
    i = 0
    while len(plan) < total and paths:
        plan.append(paths[i % len(paths)])
        i += 1
    return plan


def table(tally: Tally, order: list[str]) -> str:
    """A plain-text table: per notebook, the runs, the outcomes and the run times."""
    head = f"{'notebook':34s} {'runs':>4s} {'ok':>4s} {'hang':>4s} {'fail':>4s} {'median s':>9s} {'max s':>7s}"
    lines = [head, "-" * len(head)]
    for name in order:
        runs = [r for r in tally.runs if r.notebook == name]
        if not runs:
            continue
        secs = [r.seconds for r in runs]
        lines.append(f"{name:34s} {len(runs):4d} {sum(r.outcome == 'ok' for r in runs):4d} "
                     f"{sum(r.outcome == 'hang' for r in runs):4d} {sum(r.outcome == 'fail' for r in runs):4d} "
                     f"{statistics.median(secs):9.1f} {max(secs):7.1f}")
    lines.append("-" * len(head))
    lines.append(f"{'all':34s} {len(tally.runs):4d} {tally.count('ok'):4d} {tally.count('hang'):4d} "
                 f"{tally.count('fail'):4d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10, help="runs of each widget notebook in a row (default 10)")
    p.add_argument("--total", type=int, default=0, help="add round-robin runs until this many are scheduled")
    p.add_argument("--cell-timeout", type=int, default=120, help="papermill per-cell timeout in s (default 120)")
    p.add_argument("--wall-timeout", type=int, default=900, help="kill a whole run after this many s (default 900)")
    p.add_argument("--notebooks", nargs="*", default=None,
                   help="file-name prefixes (e.g. 01 03 08); default: every notebook that builds ipywidgets")
    p.add_argument("--keep", type=Path, default=None, help="keep the executed notebooks in this folder")
    args = p.parse_args(argv)

    paths = widget_notebooks()
    if args.notebooks:
        paths = [q for q in sorted(NOTEBOOKS.glob("*.ipynb")) if any(q.name.startswith(x) for x in args.notebooks)]
    if not paths:
        print("no notebooks selected", file=sys.stderr)
        return 2
    plan = schedule(paths, args.runs, args.total)
    print(f"{len(plan)} runs over {len(paths)} notebook(s): {', '.join(q.stem for q in paths)}; per-cell timeout "
          f"{args.cell_timeout} s; LABKIT_DATA={os.environ.get('LABKIT_DATA', '(unset)')}", flush=True)

    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="papermill_stress_") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for k, src in enumerate(plan, 1):
            run = run_once(src, workdir, args.cell_timeout, args.wall_timeout, k)
            tally.runs.append(run)
            print(f"[{k:3d}/{len(plan)}] {run.notebook:34s} {run.outcome:4s} {run.seconds:7.1f} s  {run.detail}",
                  flush=True)
    print()
    print(table(tally, [q.stem for q in paths]))
    hangs, fails = tally.count("hang"), tally.count("fail")
    print(f"\n{hangs} hang(s) and {fails} failure(s) in {len(plan)} runs")
    return 1 if hangs else (2 if fails else 0)


if __name__ == "__main__":
    sys.exit(main())
