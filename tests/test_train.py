"""The trainer: schedule, sampling, exact resume after a real SIGKILL, rank-count independence, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from labkit import checkpoint, config
from labkit.engine import BatchPlan, _Model
from labkit.train import TrainConfig, build_dataset, build_model, fit_config

REPO = Path(__file__).resolve().parent.parent
TINY = ["--arch", "lab_cnn", "--data", "synthetic", "--synthetic-classes", "6", "--synthetic-per-class", "4",
        "--batch", "4", "--lr", "0.01", "--log-every", "2", "--eval-every", "0", "--workers", "0", "--no-progress"]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("WORLD_SIZE", None)
    return env


def _train(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labkit", "train", *TINY, "--out", str(out), *extra], cwd=REPO,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _params(path: Path) -> dict[str, torch.Tensor]:
    state = checkpoint.load(path)
    return {**{f"model.{k}": v for k, v in state["model"].items()}, **{f"head.{k}": v for k, v in state["head"].items()}}


def _initial_fc() -> torch.Tensor:
    """The FC weight the tiny runs start from (fit seeds every generator, then builds the model)."""
    config.seed_everything(0)
    return build_model(TrainConfig(arch="lab_cnn"), num_classes=6)[0].fc.weight.detach()


def test_paper_schedule_and_scaled_milestones():
    paper = TrainConfig()
    assert paper.milestone_iters() == (16_000, 24_000, 28_000)
    assert (paper.batch, paper.momentum, paper.weight_decay, paper.s, paper.m) == (512, 0.9, 5e-4, 64.0, 0.35)
    assert paper.lr_at(15_999) == pytest.approx(0.1)
    assert paper.lr_at(16_000) == pytest.approx(0.01)
    assert paper.lr_at(29_999) == pytest.approx(1e-4)
    assert TrainConfig(iters=300).milestone_iters() == (160, 240, 280)


def test_paper_run_is_the_engine_paper_preset():
    fc = fit_config(TrainConfig(iters=300, batch=64, out="x"))
    assert (fc.optimizer, fc.schedule, fc.steps, fc.batch, fc.momentum, fc.weight_decay, fc.flip) == (
        "sgd", "step", 300, 64, 0.9, 5e-4, True)
    assert fc.milestone_steps() == (160, 240, 280) and fc.out == "x"
    plan = BatchPlan(list(range(10)), batch=4, seed=3)  # the data order the trainer uses: epochs of permutations
    stream = [i for t in range(5) for i in plan.global_batch(t)]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    assert stream[:10] != stream[10:20]


def test_logits_stay_float32_under_bf16_autocast():
    backbone, head, _ = build_model(TrainConfig(arch="lab_cnn"), num_classes=12)
    logits, _ = _Model(backbone, head, amp=True, compile=False)(torch.randn(2, 3, 112, 96), torch.tensor([0, 5]))
    assert logits.dtype == torch.float32 and logits.shape == (2, 12)


def test_head_bound_warnings_are_reported():
    _, _, msgs = build_model(TrainConfig(arch="lab_cnn", s=2.0), num_classes=10_000)
    assert msgs and "ScaleBoundWarning" in msgs[0]


def test_missing_training_data_says_what_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    with pytest.raises(config.DataMissingError, match="(?s)CASIA-WebFace.*casia_webface"):
        build_dataset(TrainConfig(data="casia"))


@pytest.mark.data
def test_small_real_training_set_is_read_as_112x96(data_dir):
    data_dir("glint360k_celebrity_sample")
    ds = build_dataset(TrainConfig(data="small"))
    x, label = ds[0]
    assert len(ds.classes) == 24 and len(ds) == 712
    assert x.shape == (3, 112, 96) and x.dtype == torch.float32 and 0 <= label < 24


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    iters = ["--iters", "12", "--ckpt-every", "4"]
    ref = _train(tmp_path / "ref", *iters)
    victim = _train(tmp_path / "run", *iters)
    ckpt = tmp_path / "run" / "last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "training finished before it could be killed"
    reached = checkpoint.load(ckpt)["step"]
    assert 0 < reached < 12
    assert not list((tmp_path / "run").glob("*.tmp"))  # atomic writes leave no partial files

    resumed = _train(tmp_path / "run", *iters, "--resume")
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert ref.wait(timeout=300) == 0
    a, b = _params(tmp_path / "ref" / "last.pt"), _params(ckpt)
    assert checkpoint.load(ckpt)["step"] == 12
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume from iteration {reached}"
    # and training did move the parameters away from the (seeded) initialisation
    assert (a["model.fc.weight"] - _initial_fc()).abs().max() > 1e-4


@pytest.mark.slow
def test_two_ranks_match_one_rank(tmp_path):
    args = [*TINY, "--iters", "3"]
    one = subprocess.run([sys.executable, "-m", "labkit", "train", *args, "--out", str(tmp_path / "one")], cwd=REPO,
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stdout + one.stderr
    torchrun = str(Path(sys.executable).parent / "torchrun")
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "labkit", "train", *args,
                          "--out", str(tmp_path / "two")], cwd=REPO, env=_env(), capture_output=True, text=True,
                         timeout=300)
    assert two.returncode == 0, two.stdout + two.stderr
    assert "2 rank(s)" in two.stdout
    a, b = _params(tmp_path / "one" / "last.pt"), _params(tmp_path / "two" / "last.pt")
    assert (a["model.fc.weight"] - _initial_fc()).abs().max() > 1e-4  # the runs trained
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=lambda m: f"{k}: {m}")


def test_insightface_recordio_is_read_at_112x96(tmp_path):
    import io

    import numpy as np
    from PIL import Image

    from labkit.data.recordio import write_insightface_rec

    def png(value: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.full((112, 112, 3), value, np.uint8)).save(buf, format="PNG")
        return buf.getvalue()

    rec = write_insightface_rec(tmp_path / "train.rec", [(0, png(10)), (0, png(20)), (1, png(30))])
    ds = build_dataset(TrainConfig(data=str(rec)))
    x, label = ds[2]
    assert len(ds) == 3 and len(ds.classes) == 2
    assert x.shape == (3, 112, 96) and label == 1
