"""What a command-line user sees on bad input: one ``error:`` line on stderr, exit status 2, no traceback.

The commands run for real (``python -m labkit ...`` in a subprocess, ~2-3 s each for the torch import), so the test
covers the whole path: ``labkit.__main__``, the command module, :mod:`labkit.cli`. Unit tests of the pieces
(``TrainConfig.validate``, the help texts, :func:`labkit.cli.run`) run in-process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labkit import cli, config
from labkit.train import TrainConfig, cores_available

REPO = Path(__file__).resolve().parent.parent


def _run(tmp_path: Path, *args: str, module: str = "labkit", data_root: Path | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m <module> *args`` from ``tmp_path``; the data root is an empty folder unless ``data_root``."""
    empty = tmp_path / "empty_data_root"
    empty.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), LABKIT_DATA=str(data_root or empty), OMP_NUM_THREADS="1")
    for name in ("WORLD_SIZE", "LABKIT_DEBUG"):
        env.pop(name, None)
    env.setdefault("MPLCONFIGDIR", str(tmp_path / "mpl"))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _usage_error(proc: subprocess.CompletedProcess, *phrases: str) -> str:
    """Assert the one-line usage error; return that line."""
    everything = proc.stdout + proc.stderr
    assert proc.returncode == 2, everything
    assert "Traceback" not in everything, everything
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------------------------------- python -m labkit


def test_unknown_command_lists_the_commands(tmp_path):
    line = _usage_error(_run(tmp_path, "trian"), "unknown command 'trian'")
    assert "train" in line and "toy" in line


# ---------------------------------------------------------------------------------------------------- toy


def test_toy_trains_sphereface(tmp_path, data_dir):
    """The CLI offers every registered head; A-Softmax gets its integer m and no s, and trains."""
    root = data_dir("lfw_aligned_112x96").parent
    proc = _run(tmp_path, "toy", "--head", "sphereface", "--m", "4", "--epochs", "4", "--out", str(tmp_path / "o"),
                data_root=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    info = json.loads((tmp_path / "o" / "sphereface_m4.00_s16_seed0.json").read_text())
    assert info["config"]["head"] == "sphereface" and info["config"]["m"] == 4
    z = np.load(tmp_path / "o" / "sphereface_m4.00_s16_seed0.npz")
    assert z["features"].shape[1] == 2 and np.isfinite(z["features"]).all()
    assert len(z["history_loss"]) == 4 and np.isfinite(z["history_loss"]).all()


def test_toy_negative_margin_is_one_line(tmp_path):
    _usage_error(_run(tmp_path, "toy", "--head", "cosface", "--m", "-0.2", "--out", str(tmp_path / "o")),
                 "--m", "margin m must be", "-0.2")
    assert not (tmp_path / "o").exists()  # stopped before training


def test_toy_debug_shows_the_traceback(tmp_path):
    proc = _run(tmp_path, "toy", "--head", "cosface", "--m", "-0.2", "--debug")
    assert proc.returncode not in (0, 2)
    assert "Traceback" in proc.stderr and "UsageError" in proc.stderr and "-0.2" in proc.stderr


def test_toy_unknown_head_lists_the_registry(tmp_path):
    from labkit.losses import HEADS

    line = _usage_error(_run(tmp_path, "toy", "--head", "lmcl"), "--head", "invalid choice: 'lmcl'", "--help")
    assert all(name in line for name in HEADS)


def test_toy_sphereface_non_integer_margin(tmp_path):
    _usage_error(_run(tmp_path, "toy", "--head", "sphereface", "--m", "2.5"), "integer >= 1", "2.5")


def test_toy_sweep_and_verify_check_their_arguments(tmp_path):
    _usage_error(_run(tmp_path, "toy", "sweep", "--ms", "0.1", "-0.3", "--out", str(tmp_path / "s")), "--ms", "-0.3")
    _usage_error(_run(tmp_path, "toy", "verify", str(tmp_path / "nowhere")), "no folder", "toy sweep --out")


def test_toy_without_data_says_where_to_put_it(tmp_path):
    _usage_error(_run(tmp_path, "toy", "--epochs", "1", "--out", str(tmp_path / "o")), "LABKIT_DATA")


# ---------------------------------------------------------------------------------------------------- train


def test_train_checks_arguments_before_looking_for_data(tmp_path):
    # the data root is empty: a check made after the data lookup would complain about CASIA-WebFace instead
    line = _usage_error(_run(tmp_path, "train", "--arch", "resnet9000"), "--arch", "resnet9000", "sphere20")
    assert "CASIA" not in line
    line = _usage_error(_run(tmp_path, "train", "--m", "-1"), "--m must be", ">= 0")
    assert "not found" not in line


def test_train_sphereface_needs_an_integer_margin(tmp_path):
    _usage_error(_run(tmp_path, "train", "--head", "sphereface"), "--m must be an integer >= 1", "sphereface")


def test_train_milestones_must_increase_below_iters(tmp_path):
    _usage_error(_run(tmp_path, "train", "--iters", "100", "--milestones", "50", "40"), "--milestones", "(50, 40)")


def test_train_missing_data_is_one_line(tmp_path):
    _usage_error(_run(tmp_path, "train", "--data", "casia", "--arch", "lab_cnn"), "training data 'casia' not found",
                 "--data", "python -m labkit data get casia")


# ---------------------------------------------------------------------------------------------------- data, eval


def test_data_commands_check_paths(tmp_path):
    _usage_error(_run(tmp_path, "data", "info", str(tmp_path / "nowhere")), "does not exist", "<identity>/<image>")
    _usage_error(_run(tmp_path, "data", "-q", "align", str(tmp_path / "nowhere"), str(tmp_path / "dst")),
                 "source folder", "does not exist")


def test_eval_bad_files_and_values(tmp_path):
    np.savez(tmp_path / "wrong.npz", something=np.zeros(3))
    _usage_error(_run(tmp_path, "eval", "ytf", "--features", str(tmp_path / "wrong.npz")),
                 "lacks the array(s) videos, features", "something")
    _usage_error(_run(tmp_path, "eval", "megaface", "--features", str(tmp_path / "wrong.npz"), "--counts", "ten"),
                 "--counts", "integers >= 1")


# ------------------------------------------------------------------------------------------------ labkit.experiments


def test_lab_scale_checks_arguments_and_data(tmp_path):
    _usage_error(_run(tmp_path, "--epochs", "0", module="labkit.experiments"), "--epochs", "integer >= 1")
    _usage_error(_run(tmp_path, "--mode", "fast", module="labkit.experiments"), "not found", "LABKIT_DATA")
    _usage_error(_run(tmp_path, "--folds", "12", module="labkit.experiments"), "--folds", "View 2 folds 0-9")
    # an empty list must not silently mean "Tables 1-2 on View 1" (it would start the full grid)
    _usage_error(_run(tmp_path, "--folds", module="labkit.experiments"), "--folds needs at least one value")


# ---------------------------------------------------------------------------------------------------- in-process


def test_every_train_option_has_a_one_line_help_with_its_default():
    from labkit.train_cli import HELP, build_parser, flag

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert set(HELP) == set(names)
    assert all(HELP[n].strip() and "\n" not in HELP[n] for n in names)
    actions = {a.option_strings[0]: a for a in build_parser()._actions if a.option_strings}
    for name in names:
        assert "default:" in actions[flag(name)].help, name
    assert "not epochs" in actions["--iters"].help and "bf16" in actions["--amp"].help
    assert "synthetic" in actions["--data"].help and "train.rec" in actions["--data"].help


def test_train_defaults_validate_and_workers_follow_the_cores():
    cfg = TrainConfig()
    cfg.validate()
    assert cfg.workers == cores_available() >= 1
    assert TrainConfig(head="sphereface", m=4).validate() is None
    assert TrainConfig(head="arcface", m=0.5).validate() is None


@pytest.mark.parametrize("changes, field", [
    ({"arch": "resnet9000"}, "arch"), ({"head": "lmcl"}, "head"), ({"s": 0.0}, "s"), ({"m": -0.1}, "m"),
    ({"head": "sphereface", "m": 0.35}, "m"), ({"head": "arcface", "m": 4.0}, "m"), ({"batch": 0}, "batch"),
    ({"iters": 0}, "iters"), ({"lr": -1.0}, "lr"), ({"milestones": (10, 10)}, "milestones"),
    ({"iters": 100, "milestones": (50, 100)}, "milestones"), ({"amp": "fp16"}, "amp"), ({"crop": "square"}, "crop"),
    ({"channels_last": "yes"}, "channels_last"), ({"device": "gpu"}, "device"), ({"workers": -1}, "workers"),
    ({"log_every": 0}, "log_every"), ({"momentum": 1.0}, "momentum"), ({"synthetic_classes": 1}, "synthetic_classes"),
])
def test_validate_names_the_field(changes, field):
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        TrainConfig(**changes).validate()


def test_fit_validates_before_touching_data(tmp_path, monkeypatch):
    from labkit.train import fit

    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="^batch must be"):
        fit(TrainConfig(batch=0, out=str(tmp_path / "o")))
    assert not (tmp_path / "o").exists()


def test_run_maps_usage_errors_and_data_missing_to_one_line(capsys):
    def bad(argv: list[str]) -> int:
        raise cli.UsageError(f"--x {argv[0]} is wrong;\n  use --x 1")

    def missing(argv: list[str]) -> int:
        raise config.DataMissingError("no data here.\nGet it with:\n  step one\n  step two")

    assert cli.run(bad, ["7"]) == 2
    assert capsys.readouterr().err == "error: --x 7 is wrong; use --x 1\n"
    assert cli.run(missing, []) == 2
    assert capsys.readouterr().err == "error: no data here. Get it with: step one; step two\n"
    with pytest.raises(cli.UsageError):
        cli.run(bad, ["7", "--debug"])  # --debug is removed from argv and lets the exception through
    seen = []
    assert cli.run(lambda argv: seen.append(argv) or 0, ["a", "--debug", "b", "--", "--debug"]) == 0
    assert seen == [["a", "b", "--", "--debug"]]


def test_argument_parser_errors_are_one_line(capsys):
    p = cli.ArgumentParser(prog="demo")
    p.add_argument("--n", type=cli.positive_int, default=1)
    with pytest.raises(SystemExit) as exit_info:
        p.parse_args(["--n", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "demo: error: argument --n: '0' is not an integer >= 1 (see `demo --help`)\n"
    assert not hasattr(p.parse_args([]), "debug")
