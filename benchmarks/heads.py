"""Forward + backward time of every head in labkit.losses against reference implementations, on CPU float32.

    .venv/bin/python benchmarks/heads.py            # batch 512, feat_dim 512, 10,572 classes (CASIA-WebFace)
    .venv/bin/python benchmarks/heads.py --quick    # small sizes, few rounds: a smoke test

One "step" is: logits from (features, weight), mean cross-entropy, backward to both features and weight. All
variants run in the same process and are interleaved (one step of each per round, in a rotated order), and the
median over rounds is reported, so that load from other processes hits every variant alike. Ratios are against the
plain bias-free linear + cross-entropy baseline (Eq. 1-2), which has the same three matmuls as every head.

The ablation rows rebuild CosFace step by step to show what each optimisation in ``CosFaceHead`` buys:
naive (dense one-hot) -> margin added at the B targets only -> s folded into the normalised features ->
hand-written backward (``CosFaceHead``).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labkit import losses as L  # noqa: E402

S, M = 64.0, 0.35


def _naive(x: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    cos = F.normalize(x, dim=1) @ F.normalize(w, dim=1).T
    return F.cross_entropy(S * (cos - M * F.one_hot(y, w.shape[0]).to(cos.dtype)), y)


def _no_one_hot(x: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = S * (F.normalize(x, dim=1) @ F.normalize(w, dim=1).T)
    logits = logits.index_put_((torch.arange(len(y)), y), torch.tensor(-S * M), accumulate=True)
    return F.cross_entropy(logits, y)


def _s_folded(x: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = (F.normalize(x, dim=1) * S) @ F.normalize(w, dim=1).T
    logits = logits.index_put_((torch.arange(len(y)), y), torch.tensor(-S * M), accumulate=True)
    return F.cross_entropy(logits, y)


def build_variants(feat_dim: int, num_classes: int) -> dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], list[torch.nn.Parameter]]]:
    """name -> (step(x, y) returning the loss, parameters whose grads to clear)."""
    from pytorch_metric_learning.losses import CosFaceLoss

    w0 = torch.empty(num_classes, feat_dim).uniform_(-feat_dim**-0.5, feat_dim**-0.5)
    variants: dict = {}

    def head_step(head: torch.nn.Module):
        with torch.no_grad():
            head.weight.copy_(w0)
        return (lambda x, y: F.cross_entropy(head(x, y), y)), [head.weight]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small --quick sizes may sit outside the paper's bounds
        variants["baseline: linear + CE"] = head_step(L.SoftmaxHead(feat_dim, num_classes))
        w_ref = torch.nn.Parameter(w0.clone())
        variants["ref: naive one-hot CosFace"] = (lambda x, y: _naive(x, w_ref, y)), [w_ref]
        pml = CosFaceLoss(num_classes=num_classes, embedding_size=feat_dim, margin=M, scale=S)
        with torch.no_grad():
            pml.W.copy_(w0.T)
        variants["ref: pml CosFaceLoss"] = (lambda x, y: pml(x, y)), [pml.W]
        w_a = torch.nn.Parameter(w0.clone())
        variants["ablation: no one-hot"] = (lambda x, y: _no_one_hot(x, w_a, y)), [w_a]
        w_b = torch.nn.Parameter(w0.clone())
        variants["ablation: + s folded"] = (lambda x, y: _s_folded(x, w_b, y)), [w_b]
        variants["CosFaceHead (+ custom backward)"] = head_step(L.CosFaceHead(feat_dim, num_classes, s=S, m=M))
        variants["NormFaceHead (NSL)"] = head_step(L.NormFaceHead(feat_dim, num_classes, s=S))
        variants["ArcFaceHead"] = head_step(L.ArcFaceHead(feat_dim, num_classes, s=S, m=0.5))
        variants["SphereFaceHead (m=4)"] = head_step(L.SphereFaceHead(feat_dim, num_classes, m=4))
    return variants


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few rounds (smoke test)")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 15, quick 10)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--only", default="", help="comma-separated substrings: time only matching variants (baseline is always kept)"
    )
    args = ap.parse_args(argv)

    batch, feat_dim, num_classes = (64, 64, 1000) if args.quick else (512, 512, 10572)
    rounds = args.rounds or (10 if args.quick else 15)
    warmup = 1 if args.quick else 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, CPU float32, "
        f"batch {batch}, feat_dim {feat_dim}, classes {num_classes}, {rounds} rounds (+{warmup} warm-up), "
        "forward + backward to features and weight, median ms"
    )

    variants = build_variants(feat_dim, num_classes)
    names = list(variants)
    if args.only:
        keys = [k.strip().lower() for k in args.only.split(",") if k.strip()]
        names = [n for i, n in enumerate(names) if i == 0 or any(k in n.lower() for k in keys)]
    x0 = torch.randn(batch, feat_dim)
    y = torch.randint(0, num_classes, (batch,))
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        order = names[r % len(names):] + names[: r % len(names)]  # rotate so no variant always follows another
        for name in order:
            step, params = variants[name]
            for p in params:
                p.grad = None
            x = x0.clone().requires_grad_()
            c0, t0 = time.process_time(), time.perf_counter()
            step(x, y).backward()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if r >= warmup:
                times[name].append(dt * 1e3)
                cpu[name].append(dc * 1e3)

    base = statistics.median(times[names[0]])
    base_cpu = statistics.median(cpu[names[0]])
    width = max(map(len, names))
    print(
        f"\n{'variant':<{width}}  {'median ms':>10}  {'min ms':>8}  {'x baseline':>10}  "
        f"{'median CPU ms':>13}  {'CPU x baseline':>14}"
    )
    for name in names:
        med, med_cpu = statistics.median(times[name]), statistics.median(cpu[name])
        print(
            f"{name:<{width}}  {med:10.1f}  {min(times[name]):8.1f}  {med / base:10.2f}  "
            f"{med_cpu:13.1f}  {med_cpu / base_cpu:14.2f}"
        )
    print("(wall = perf_counter; CPU = process CPU time of all threads, less sensitive to other processes' load)")
    head_name, pml_name = "CosFaceHead (+ custom backward)", "ref: pml CosFaceLoss"
    if head_name in times:
        cos_head = statistics.median(times[head_name])
        line = f"\nCosFaceHead: {cos_head / base:.2f}x baseline wall (target <= 1.10x)"
        if pml_name in times:
            line += f", {statistics.median(times[pml_name]) / cos_head:.2f}x faster than pml CosFaceLoss"
        print(line)


if __name__ == "__main__":
    main()
