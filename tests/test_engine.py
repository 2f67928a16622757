"""labkit.engine: the one training loop. Schedules, the step-indexed batch plan, flips, validation, and the three
presets (toy, lab, paper) trained through the same fit() on tiny synthetic data, each resuming exactly after a real
SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit.engine import BatchPlan, FitConfig, apply_flip, fit, flip_mask, lr_at
from labkit.losses import make_head
from labkit.presets import PRESETS, preset

REPO = Path(__file__).resolve().parent.parent


def test_paper_step_schedule_and_warmup_cosine():
    cfg = preset("paper")
    assert cfg.milestone_steps() == (16_000, 24_000, 28_000)
    assert [lr_at(cfg, t) for t in (0, 15_999, 16_000, 24_000, 29_999)] == pytest.approx([0.1, 0.1, 0.01, 1e-3, 1e-4])
    wc = FitConfig(steps=100, lr=1.0, schedule="warmup_cosine", warmup=10, lr_floor=0.02)
    lrs = [lr_at(wc, t) for t in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # then non-increasing
    assert lrs[-1] == pytest.approx(0.02, abs=0.01)
    assert lr_at(FitConfig(steps=5, schedule="constant", lr=0.3), 4) == 0.3


def test_balanced_plan_draws_per_class_of_every_class_each_epoch():
    labels = np.repeat(np.arange(4), [50, 3, 10, 7])
    plan = BatchPlan(labels, batch=8, sampling="balanced", per_class=6, seed=3)
    assert plan.epoch_len == 24 and plan.steps_per_epoch() == 3
    counts = np.bincount(labels[plan.epoch(0)], minlength=4)
    assert counts.tolist() == [6, 6, 6, 6]
    assert not np.array_equal(plan.epoch(0), plan.epoch(1))  # a fresh permutation every epoch
    # the class of 3 images is cycled: all three appear twice
    small = plan.epoch(0)[labels[plan.epoch(0)] == 1]
    assert sorted(np.bincount(small).tolist()[50:53]) == [2, 2, 2]


def test_plan_is_a_function_of_step_and_ranks_partition_the_global_batch():
    labels = np.arange(37) % 5
    a = BatchPlan(labels, batch=6, seed=1)
    b = BatchPlan(labels, batch=6, seed=1)
    for t in (0, 5, 6, 13):  # batches that straddle epochs included
        g = a.global_batch(t)
        np.testing.assert_array_equal(g, b.global_batch(t))
        parts = [a.rank_batch(t, r, 3) for r in range(3)]
        np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.sort(g))
    # one uniform epoch visits every sample once
    assert sorted(a.epoch(2).tolist()) == list(range(37))


def test_flip_mirrors_the_width_axis_only_where_asked():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).view(2, 1, 2, 3)
    out = apply_flip(x, torch.tensor([True, False]))
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1])
    m1, m2 = flip_mask(0, 7, 64), flip_mask(0, 7, 64)
    assert torch.equal(m1, m2) and 10 < int(m1.sum()) < 54
    assert torch.equal(flip_mask(0, 7, 64, 1, 2), m1[1::2])


@pytest.mark.parametrize("bad, match", [
    ({"steps": 0}, "steps must be"), ({"optimizer": "rmsprop"}, "optimizer must be"),
    ({"schedule": "poly"}, "schedule must be"), ({"milestones": (5, 3)}, "milestones must be"),
    ({"sampling": "balanced", "per_class": 0}, "per_class"), ({"resume": True, "out": ""}, "resume needs out"),
    ({"head_parallel": "tensor"}, "head_parallel must be"),
    ({"head_parallel": "sharded", "sample_rate": 0.0}, r"sample_rate must lie in \(0, 1\]"),
    ({"head_parallel": "sharded", "sample_rate": 1.2}, r"sample_rate must lie in \(0, 1\]"),
    ({"sample_rate": 0.5}, "needs head_parallel='sharded'"),
])
def test_bad_fit_configs_fail_before_training(bad, match):
    with pytest.raises(ValueError, match=match):
        fit(torch.nn.Linear(3, 2), make_head("softmax", 2, 2), (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)),
            FitConfig(**{"steps": 3, "batch": 2, **bad}))


def test_preset_rejects_unknown_names_and_fields():
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ValueError, match="unknown FitConfig field"):
        preset("toy", epochs=3)
    assert set(PRESETS) == {"paper", "toy", "lab"}


def test_margin_warmup_trains_without_margin_then_with_it():
    torch.manual_seed(0)
    x, y = torch.randn(64, 6), torch.randint(0, 4, (64,))
    head = make_head("cosface-unnorm", 4, 4, m=0.3)
    res = fit(torch.nn.Linear(6, 4), head, (x, y),
              FitConfig(steps=8, batch=16, optimizer="adam", lr=1e-2, schedule="constant", margin_warmup=4,
                        log_every=2, flip=False))
    on = [r["margin_on"] for r in res.records("margin_on")]
    assert on == [False, False, True, True]
    for r in res.records("loss"):  # without the margin the two losses agree; with it the margin costs extra
        if r["margin_on"]:
            assert r["loss"] > r["loss_no_margin"]
        else:
            assert r["loss"] == pytest.approx(r["loss_no_margin"], rel=1e-5)
    assert all(0 <= r["train_acc"] <= 1 and r["feat_norm"] > 0 and 0 <= r["angle_deg"] <= 180
               for r in res.records("loss"))


# ------------------------------------------------------------------------------------ the three presets, SIGKILL

CHILD = r"""
import json, sys, time, torch
from labkit.engine import fit
from labkit.losses import make_head
from labkit.presets import preset
from labkit.data import SyntheticFaces
from labkit.models import make_model
from labkit.models import SmallCNN as ToyNet

name, out, resume, slow = sys.argv[1], sys.argv[2], sys.argv[3] == "1", float(sys.argv[4])
torch.set_num_threads(1)
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
if name == "toy":
    data = (torch.randn(96, 3, 28, 24, generator=g), torch.arange(96) % 8)
    backbone, head = ToyNet((28, 24)), make_head("cosface", 2, 8, s=16.0, m=0.1)
    cfg = preset("toy", steps=10, per_class=4, warmup=2)
elif name == "lab":
    data = (torch.randn(80, 3, 28, 24, generator=g), torch.arange(80) % 10)
    backbone = ToyNet((28, 24), feat_dim=16)
    head = make_head("cosface-unnorm", 16, 10, m=0.35)
    cfg = preset("lab", steps=10, batch=16, warmup=2, margin_warmup=3)
else:
    data = SyntheticFaces(6, 4, seed=0)
    backbone, head = make_model("lab_cnn", 32), make_head("cosface", 32, 6, s=16.0, m=0.2)
    cfg = preset("paper", steps=10, batch=8, eval_every=0, log_every=1, device="cpu", workers=0)
cfg.out, cfg.resume, cfg.ckpt_every, cfg.log_every = out, resume, 1, 1

def cb(rec):
    print("step", rec["step"], flush=True)
    time.sleep(slow)

res = fit(backbone, head, data, cfg, callback=cb)
flat = torch.cat([p.detach().flatten() for p in list(backbone.parameters()) + list(head.parameters())])
print("RESULT", json.dumps({"step": res.step, "sum": float(flat.double().sum()), "digest": flat.double().pow(2).sum().item(),
      "first": flat[:5].tolist()}), flush=True)
"""


def _child(name: str, out: Path, resume: bool, slow: float) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", CHILD, name, str(out), "1" if resume else "0", str(slow)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _result(proc: subprocess.Popen) -> dict:
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, text
    return json.loads(text.split("RESULT", 1)[1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["toy", "lab", "paper"])
def test_preset_resumes_exactly_after_sigkill(name, tmp_path):
    whole = _result(_child(name, tmp_path / "whole", False, 0.0))
    victim = _child(name, tmp_path / "killed", False, 0.4)
    for line in victim.stdout:  # kill once a few steps are checkpointed, well before the end
        if line.startswith("step 4"):
            victim.send_signal(signal.SIGKILL)
            break
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    state = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert 3 <= state["step"] < 10  # the callback of step 4 runs just before its checkpoint
    resumed = _result(_child(name, tmp_path / "killed", True, 0.0))
    assert resumed["step"] == whole["step"] == 10
    assert resumed == whole  # bit-identical parameters
