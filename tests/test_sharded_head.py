"""labkit.parallel: the class-sharded margin head, checked on 2 and 3 CPU ranks (gloo) that the tests start
themselves (torch.multiprocessing spawn, a free port found at run time, a join timeout that fails as a hang).

What is compared, and with what:
- float64: the loss and the gradients of the features and of every weight slice against the single-process head
  (``labkit.losses`` + ``F.cross_entropy``) on the same global batch, for NSL, LMCL and ArcFace;
- class sampling: r = 1 keeps every class, and the sampled code path with every class kept equals no sampling;
  at r < 1 the rows a step did not keep are bit-identical afterwards, in the weight and in the optimizer state;
- 20 engine steps: 2 sharded ranks = 2 replicated ranks (DDP) with and without BatchNorm, and = 1 rank with the
  full head for a backbone without BatchNorm (with it, each rank normalises its own share of the batch);
- checkpoints: saved by 2 ranks at step 10, resumed by 3 ranks and by 1, ending where the 2-rank run ends;
- bad input: ranks that disagree on C, C < W, a sample rate outside (0, 1], a checkpoint of another C.

Each group of ranks runs all its checks in one start (process start costs more than the checks).
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import traceback
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from labkit.engine import FitConfig, fit
from labkit.losses import make_head
from labkit.parallel import ShardedMarginHead, ShardOptimizer, check_sample_rate, shard_bounds, sharded_cross_entropy

JOIN_TIMEOUT_S = 300  # a hang check, not a speed check: a healthy group finishes in seconds
HEADS = {"nsl": {"s": 16.0}, "cosface": {"s": 16.0, "m": 0.35}, "arcface": {"s": 16.0, "m": 0.5}}
C, D, PER_RANK = 11, 6, 4


# ------------------------------------------------------------------------------------------ starting ranks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(fn_name: str, rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
        result = globals()[fn_name](rank, world, Path(folder))
        torch.save(result, Path(folder) / f"rank{rank}.pt")
        dist.destroy_process_group()
    except BaseException:
        (Path(folder) / f"rank{rank}.err").write_text(traceback.format_exc())
        raise


def _spawn(fn_name: str, world: int, folder: Path) -> list[dict]:
    """Run ``fn_name(rank, world, folder)`` on ``world`` gloo ranks; return each rank's result dict."""
    folder.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_entry, args=(fn_name, r, world, port, str(folder))) for r in range(world)]
    for p in procs:
        p.start()
    for r, p in enumerate(procs):
        p.join(JOIN_TIMEOUT_S)
        if p.is_alive():
            for q in procs:
                q.kill()
            pytest.fail(f"{fn_name}: rank {r} of {world} was still running after {JOIN_TIMEOUT_S} s: a hang (a "
                        "collective waiting for a rank that never joined it)", pytrace=False)
    errors = [(folder / f"rank{r}.err").read_text() for r in range(world) if (folder / f"rank{r}.err").exists()]
    bad = [r for r, p in enumerate(procs) if p.exitcode != 0]
    if bad or errors:
        pytest.fail(f"{fn_name}: ranks {bad} failed:\n" + "\n".join(errors), pytrace=False)
    return [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(world)]


# ------------------------------------------------------------------------------------------ head checks (per rank)


def _global_batch(seed: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(PER_RANK * world, D, generator=g, dtype=torch.float64), torch.randint(0, C, (PER_RANK * world,),
                                                                                             generator=g)


def _full_head(name: str, classes: int = C) -> torch.nn.Module:
    torch.manual_seed(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # s = 16 is below Eq. 6 for p_w = 0.9 here: irrelevant to the algebra
        return make_head(name, D, classes, **HEADS[name]).double()


def _head_suite(rank: int, world: int, folder: Path) -> dict:
    out: dict = {}
    mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    lo, hi = shard_bounds(C, world, rank)
    for name in HEADS:
        x, y = _global_batch(1, world)
        full = _full_head(name)
        xr = x.clone().requires_grad_()
        ref = F.cross_entropy(full(xr, y), y)
        ref.backward()
        head = ShardedMarginHead.from_head(full)
        xs = x[mine].clone().requires_grad_()
        loss = head(xs, y[mine])
        loss.backward()
        out[name] = {"loss": float(loss), "ref": float(ref),
                     "dx": float((xs.grad - xr.grad[mine]).abs().max()),
                     "dw": float((head.weight.grad - full.weight.grad[lo:hi]).abs().max()),
                     "dw_scale": float(full.weight.grad[lo:hi].abs().max())}

    # sampling: r = 1 keeps every class; the sampled path with every class kept equals no sampling
    x, y = _global_batch(2, world)
    plain = ShardedMarginHead.from_head(_full_head("cosface"))
    sampled = ShardedMarginHead.from_head(_full_head("cosface"), sample_rate=1 - 1e-12)
    results = []
    for h in (plain, sampled):
        opt = ShardOptimizer(h, "sgd", lr=0.5, momentum=0.9, weight_decay=5e-4)
        xs = x[mine].clone().requires_grad_()
        loss = h(xs, y[mine])
        loss.backward()
        opt.step()
        results.append((loss.detach(), xs.grad, h.weight.detach().clone(), h.active[0]))
    out["r1"] = {"kept_all": results[1][3] is not None and results[1][3].tolist() == list(range(hi - lo)),
                 "dloss": float((results[0][0] - results[1][0]).abs()),
                 "dx": float((results[0][1] - results[1][1]).abs().max()),
                 "dw": float((results[0][2] - results[1][2]).abs().max())}

    # r < 1: rows a step does not keep stay bit-identical, weight and optimizer state (SGD momentum and Adam)
    many = 60  # enough classes that each rank has some no row of the batch targets
    lo, hi = shard_bounds(many, world, rank)
    for kind in ("sgd", "adam"):
        h = ShardedMarginHead.from_head(_full_head("cosface", many), sample_rate=0.3, seed=7)
        opt = ShardOptimizer(h, kind, lr=0.1, momentum=0.9, weight_decay=5e-4)
        checks = []
        for step in range(3):
            before_w = h.weight.detach().clone()
            before_s = {k: v.clone() for k, v in opt.state.items()}
            x, y = _global_batch(10 + step, world)
            y = (y * 7 + step) % many
            h(x[mine], y[mine]).backward()
            kept = h.active[0]
            opt.step()
            opt.zero_grad()
            untouched = torch.ones(hi - lo, dtype=torch.bool)
            untouched[kept] = False
            targets = y[(y >= lo) & (y < hi)] - lo
            checks.append({
                "n_kept": len(kept), "n_untouched": int(untouched.sum()),
                "targets_kept": bool(torch.isin(targets, kept).all()),
                "weight_same": bool(torch.equal(h.weight.detach()[untouched], before_w[untouched])),
                "state_same": all(torch.equal(opt.state[k][untouched], before_s[k][untouched]) for k in before_s),
                "kept_moved": bool((h.weight.detach()[kept] != before_w[kept]).any(1).all()),
            })
        out[f"sampled_{kind}"] = checks

    # bad input: every rank raises the same error, and none waits for a collective that never comes
    errors = {}
    try:
        ShardedMarginHead(D, C + (rank > 0), s=16.0)
    except ValueError as exc:
        errors["disagree"] = str(exc)
    try:
        ShardedMarginHead(D, world - 1 if world > 2 else 1, s=16.0)
    except ValueError as exc:
        errors["too_few"] = str(exc)
    dist.barrier()  # the group is still usable afterwards
    out["errors"] = errors
    return out


@pytest.fixture(scope="module")
def head_runs(tmp_path_factory) -> dict[int, list[dict]]:
    return {w: _spawn("_head_suite", w, tmp_path_factory.mktemp(f"heads{w}")) for w in (2, 3)}


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("name", list(HEADS))
def test_sharded_loss_and_gradients_equal_the_single_process_head_float64(head_runs, world, name):
    for rank, res in enumerate(head_runs[world]):
        r = res[name]
        assert r["loss"] == pytest.approx(r["ref"], abs=1e-6, rel=1e-6), f"rank {rank}"
        assert r["loss"] == head_runs[world][0][name]["loss"]  # bitwise the same number on every rank
        assert r["dx"] < 1e-6 and r["dw"] < 1e-6, f"rank {rank}: {r}"
        assert r["dw_scale"] > 1e-3  # the weight gradient compared is not trivially zero


@pytest.mark.parametrize("world", [2, 3])
def test_sampling_at_rate_one_equals_no_sampling(head_runs, world):
    for res in head_runs[world]:
        r = res["r1"]
        assert r["kept_all"]
        assert r["dloss"] < 1e-12 and r["dx"] < 1e-12 and r["dw"] < 1e-12, r


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_sampling_leaves_untouched_rows_bit_identical(head_runs, world, kind):
    for res in head_runs[world]:
        for step in res[f"sampled_{kind}"]:
            assert step["n_untouched"] > 0 and step["targets_kept"]
            assert step["weight_same"] and step["state_same"], step
            assert step["kept_moved"], step


def test_bad_rank_layouts_fail_on_every_rank_without_hanging(head_runs):
    for world in (2, 3):
        for res in head_runs[world]:
            assert "ranks disagree on num_classes C" in res["errors"]["disagree"]
    for res in head_runs[3]:
        assert "C = 2 classes cannot be split over 3 ranks" in res["errors"]["too_few"]


def test_one_rank_needs_no_process_group_and_gradchecks():
    assert not dist.is_initialized()
    x, y = _global_batch(3, 1)
    for name in HEADS:
        full = _full_head(name)
        head = ShardedMarginHead.from_head(full)
        xr = x.clone().requires_grad_()
        F.cross_entropy(full(xr, y), y).backward()
        xs = x.clone().requires_grad_()
        head(xs, y).backward()
        torch.testing.assert_close(xs.grad, xr.grad, rtol=0, atol=1e-12)
        torch.testing.assert_close(head.weight.grad, full.weight.grad, rtol=0, atol=1e-12)
    # the distributed cross-entropy's own backward against finite differences
    logits = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 6, -1, 3, -1])  # -1: the row's class lives on another rank (none here: a partial row)
    assert torch.autograd.gradcheck(lambda z: sharded_cross_entropy(z, target), (logits,))


def test_sample_rate_outside_zero_one_is_refused():
    for bad in (0, -0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match=r"sample rate must lie in \(0, 1\]"):
            check_sample_rate(bad)
    with pytest.raises(ValueError, match=r"sample_rate must lie in \(0, 1\]"):
        FitConfig(head_parallel="sharded", sample_rate=0.0).validate()
    with pytest.raises(ValueError, match="needs head_parallel='sharded'"):
        FitConfig(sample_rate=0.5).validate()
    with pytest.raises(ValueError, match="margin on the normalised target cosine"):
        ShardedMarginHead.from_head(make_head("softmax", D, C))


# ------------------------------------------------------------------------------------------ engine runs (per rank)

STEPS, BATCH, CLASSES, IN = 20, 12, 10, 8


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.randn(60, IN, generator=g), torch.arange(60) % CLASSES


def _backbone(bn: bool) -> torch.nn.Module:
    layers = [torch.nn.Linear(IN, 16)] + ([torch.nn.BatchNorm1d(16)] if bn else []) + [torch.nn.PReLU(),
                                                                                       torch.nn.Linear(16, 8)]
    return torch.nn.Sequential(*layers)


def _train(parallel: str, bn: bool = False, out: str = "", resume: bool = False, callback=None,
           optimizer: str = "sgd", sample_rate: float = 1.0, classes: int = CLASSES) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    backbone = _backbone(bn)
    head = make_head("cosface", 8, classes, s=16.0, m=0.2)
    cfg = FitConfig(steps=STEPS, batch=BATCH, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 3e-3,
                    schedule="step", milestones=(15,), device="cpu", log_every=1, out=out, resume=resume,
                    ckpt_every=10 if out else 0, head_parallel=parallel, sample_rate=sample_rate)
    res = fit(backbone, head, _data(), cfg, callback=callback)
    state = {f"backbone.{k}": v.detach().clone() for k, v in backbone.state_dict().items()}
    state["head.weight"] = head.weight.detach().clone()
    state["loss"] = torch.tensor([r["loss"] for r in res.history if "loss" in r], dtype=torch.float64)
    return state


def _keep_step10(folder: Path):
    def cb(rec: dict) -> None:  # rank 0, step 11's record: last.pt still holds step 10
        if rec.get("step") == 11:
            (folder / "from10").mkdir(exist_ok=True)
            shutil.copy(folder / "run" / "last.pt", folder / "from10" / "last.pt")
    return cb


def _train_suite_2(rank: int, world: int, folder: Path) -> dict:
    return {"rep": _train("replicated"), "shard": _train("sharded"), "rep_bn": _train("replicated", bn=True),
            "shard_bn": _train("sharded", bn=True),
            "ckpt": _train("sharded", out=str(folder / "run"), callback=_keep_step10(folder) if rank == 0 else None),
            "adam_rep": _train("replicated", optimizer="adam"), "adam_shard": _train("sharded", optimizer="adam")}


def _train_suite_3(rank: int, world: int, folder: Path) -> dict:
    return {"resumed": _train("sharded", out=str(folder / "from10"), resume=True), "shard": _train("sharded")}


@pytest.fixture(scope="module")
def train_runs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("train")
    two = _spawn("_train_suite_2", 2, folder)
    assert (folder / "from10" / "last.pt").is_file(), "the 2-rank run left no step-10 checkpoint"
    shutil.copytree(folder / "from10", folder / "for1")
    shutil.copytree(folder / "from10", folder / "saved10")  # untouched by the resumed runs
    three = _spawn("_train_suite_3", 3, folder)
    torch.set_num_threads(1)
    one = {"rep": _train("replicated"), "rep_bn": _train("replicated", bn=True), "shard": _train("sharded"),
           "resumed": _train("sharded", out=str(folder / "for1"), resume=True), "folder": folder}
    return {1: one, 2: two[0], 3: three[0], "ranks2": two}


def _close(a: dict, b: dict, rtol: float = 2e-5, atol: float = 2e-6) -> None:
    for k in a:
        if k != "folder":
            torch.testing.assert_close(a[k], b[k], rtol=rtol, atol=atol, check_dtype=False, msg=lambda m: f"{k}: {m}")


def test_two_sharded_ranks_train_like_two_replicated_ranks(train_runs):
    two = train_runs[2]
    _close(two["shard"], two["rep"])
    _close(two["shard_bn"], two["rep_bn"])  # per-rank BatchNorm in both: the same computation
    _close(two["adam_shard"], two["adam_rep"])
    r0, r1 = train_runs["ranks2"]  # every rank ends with the same (gathered) head
    assert torch.equal(r0["shard"]["head.weight"], r1["shard"]["head.weight"])


def test_sharded_ranks_train_like_one_rank_without_batchnorm(train_runs):
    one, two, three = train_runs[1], train_runs[2], train_runs[3]
    _close(two["shard"], one["rep"])
    _close(three["shard"], one["rep"])
    _close(one["shard"], one["rep"])
    # with BatchNorm each rank normalises its own 6 of the 12 rows: a real difference, far above round-off
    diff = max(float((two["rep_bn"][k] - one["rep_bn"][k]).abs().max()) for k in one["rep_bn"])
    assert diff > 1e-3


def test_checkpoint_of_two_ranks_resumes_on_three_and_on_one(train_runs):
    two, three, one = train_runs[2], train_runs[3], train_runs[1]
    saved = torch.load(one["folder"] / "saved10" / "last.pt", weights_only=True)
    assert saved["step"] == 10 and tuple(saved["head"]["weight"].shape) == (CLASSES, 8)  # the full head
    assert tuple(saved["head_shard"]["optimizer"]["state"]["momentum_buffer"].shape) == (CLASSES, 8)
    for resumed in (three["resumed"], one["resumed"]):
        _close({k: v for k, v in resumed.items() if k != "loss"}, {k: v for k, v in two["ckpt"].items() if k != "loss"})
        torch.testing.assert_close(resumed["loss"], two["ckpt"]["loss"], rtol=2e-5, atol=2e-6)


def test_sharded_checkpoint_of_another_class_count_is_refused(train_runs, tmp_path):
    shutil.copytree(train_runs[1]["folder"] / "saved10", tmp_path / "other")
    with pytest.raises(ValueError, match=r"holds a head of C = 10 classes .* this run has C = 12"):
        _train("sharded", out=str(tmp_path / "other"), resume=True, classes=12)
    with pytest.raises(ValueError, match="head_parallel='sharded', this run head_parallel='replicated'"):
        _train("replicated", out=str(tmp_path / "other"), resume=True)


@pytest.mark.parametrize("extra, message", [
    (["--head-parallel", "sharded", "--sample-rate", "0"], r"--sample-rate must be a number in \(0, 1\]"),
    (["--head-parallel", "sharded", "--sample-rate", "1.5"], r"--sample-rate must be a number in \(0, 1\]"),
    (["--sample-rate", "0.5"], "class sampling needs --head-parallel sharded"),
    (["--head-parallel", "sharded", "--head", "softmax"], "--head must be one of nsl, cosface, arcface"),
])
def test_cli_refuses_bad_sharding_options_in_one_line(extra, message, capsys, tmp_path):
    from labkit import train_cli

    argv = ["--arch", "lab_cnn", "--data", "synthetic", "--iters", "2", "--batch", "4", "--eval-every", "0",
            "--out", str(tmp_path), *extra]
    assert train_cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert __import__("re").search(message, err[0]), err[0]


def test_cli_resume_of_a_sharded_checkpoint_with_another_class_count_is_one_line(capsys, tmp_path):
    from labkit import train_cli

    base = ["--arch", "lab_cnn", "--data", "synthetic", "--synthetic-per-class", "2", "--iters", "2", "--batch", "4",
            "--eval-every", "0", "--workers", "0", "--no-progress", "--out", str(tmp_path), "--head-parallel",
            "sharded", "--sample-rate", "0.5"]
    torch.set_num_threads(1)
    assert train_cli.main([*base, "--synthetic-classes", "6"]) == 0
    capsys.readouterr()
    assert train_cli.main([*base, "--synthetic-classes", "8", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a head of C = 6 classes" in err[0] and "this run has C = 8" in err[0], err
