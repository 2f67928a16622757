"""Guard: no test compares a measured duration with a limit.

A wall-clock limit inside a test fails whenever the machine is busy (CI shares its 2 cores with other work), so the
lab keeps speed figures in ``benchmarks/``, as ratios against a baseline measured in the same run, and tests assert
behaviour only. Waiting for a condition with a generous timeout is fine; asserting how long something took is not.

What the scan looks for, in every ``tests/**/*.py`` file (Python's ``ast``, so comments and strings never match):

- an ``assert`` whose test contains an ordering comparison (``<``, ``<=``, ``>``, ``>=``) in which one side
  - calls a clock (``time.time``, ``time.perf_counter``, ``time.monotonic``, ``time.process_time`` and their ``_ns``
    forms, ``timeit``), or
  - uses a name *assigned from* such a clock call earlier in the same function (``t0 = time.perf_counter()``, then
    ``dt = time.perf_counter() - t0``: both ``t0`` and ``dt`` are clock-derived), or
  - is a name, attribute or subscript string whose words say duration (``took``, ``elapsed``, ``duration``,
    ``latency``, ``seconds``, ``per_call``, ``runtime``, ``wall``, ``secs``, or a ``_ms`` suffix);
- a comparison with the literal 0 (``elapsed > 0``: "a time was recorded") is a sanity check, not a limit, and is
  allowed.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: planted sources the scan must catch ("caught") and must leave alone ("allowed"), kept out of the scanned .py files
EXAMPLES = json.loads((TESTS / "data" / "duration_assert_examples.json").read_text())
CLOCKS = {"time", "perf_counter", "monotonic", "process_time", "time_ns", "perf_counter_ns", "monotonic_ns",
          "process_time_ns", "timeit", "default_timer"}
DURATION_WORDS = re.compile(r"(^|_)(took|elapsed|duration|latency|seconds|secs|per_call|runtime|wall)(_|$)|.+_ms$",
                            re.IGNORECASE)
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _is_clock_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return name in CLOCKS


def _words(node: ast.AST) -> list[str]:
    """Identifiers and subscript strings that name ``node``'s value (``took``, ``res.elapsed``, ``r["seconds"]``)."""
    out = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.append(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.append(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            out.append(sub.value)
    return out


def _clock_names(func: ast.AST) -> set[str]:
    """Names assigned (directly or through arithmetic on other such names) from a clock call inside ``func``."""
    tainted: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in ast.walk(func):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                value_nodes = list(ast.walk(node.value))
                if any(_is_clock_call(v) or (isinstance(v, ast.Name) and v.id in tainted) for v in value_nodes):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        for n in ast.walk(t):
                            if isinstance(n, ast.Name) and n.id not in tainted:
                                tainted.add(n.id)
                                changed = True
    return tainted


def _is_zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0 and not isinstance(node.value, bool)


def _measures_time(side: ast.AST, tainted: set[str]) -> bool:
    if any(_is_clock_call(n) for n in ast.walk(side)):
        return True
    if any(isinstance(n, ast.Name) and n.id in tainted for n in ast.walk(side)):
        return True
    return any(DURATION_WORDS.search(w) for w in _words(side))


def duration_asserts(source: str, filename: str = "<test>") -> list[str]:
    """``file:line: code`` for every assert that compares a measured duration with a limit (see the module doc)."""
    tree = ast.parse(source, filename)
    scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] + [tree]
    found: dict[int, str] = {}
    for scope in scopes:
        tainted = _clock_names(scope)
        for node in ast.walk(scope):
            if not isinstance(node, ast.Assert):
                continue
            for cmp in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
                sides = [cmp.left, *cmp.comparators]
                for op, left, right in zip(cmp.ops, sides, sides[1:]):
                    if not isinstance(op, ORDERING) or _is_zero(left) or _is_zero(right):
                        continue
                    if _measures_time(left, tainted) or _measures_time(right, tainted):
                        found[node.lineno] = f"{filename}:{node.lineno}: {ast.unparse(node.test)[:120]}"
    return [found[k] for k in sorted(found)]


def test_no_test_compares_a_measured_duration_with_a_limit():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        offenders += duration_asserts(path.read_text(), str(path.relative_to(TESTS.parent)))
    assert not offenders, ("these asserts compare a measured duration with a limit; assert the behaviour instead and "
                           "move the figure to benchmarks/:\n" + "\n".join(offenders))


def test_the_scan_finds_each_kind_of_duration_assert():
    for what, src in EXAMPLES["caught"].items():
        assert len(duration_asserts(src)) == 1, f"the scan missed the {what} case:\n{src}"


def test_the_scan_leaves_behaviour_asserts_and_waits_alone():
    for what, src in EXAMPLES["allowed"].items():
        assert duration_asserts(src) == [], f"the scan flagged {what}:\n{src}"
