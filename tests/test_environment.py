"""environment.yml (for conda users; no conda here) must stay a mirror of requirements.txt."""

from __future__ import annotations

import re

import yaml

from labkit.config import REPO_ROOT


def _requirements() -> dict[str, str]:
    out = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[<>=!~ ]", line, maxsplit=1)[0].lower()
            out[name] = line
    return out


def test_environment_yml_parses_and_mirrors_requirements():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert env["name"] and "python=3.11" in env["dependencies"]
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    mirrored = {}
    for spec in pip_block:
        if spec.startswith("-e"):
            continue
        mirrored[re.split(r"[<>=!~ ]", spec, maxsplit=1)[0].lower()] = spec
    assert mirrored == _requirements()


def test_torch_is_pinned_to_the_cpu_wheel_version():
    assert _requirements()["torch"] == "torch==2.13.0"
