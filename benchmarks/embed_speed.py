"""Embedding speed of the reference model (MobileFaceNet on the lab's 112x96 crops): torch vs ONNX Runtime.

    python benchmarks/embed_speed.py [--images 512] [--batch 64] [--threads 2] [--repeats 3]

Both run the same network on the same crops (LFW aligned crops from the data root, else random pixels): torch
eager (``labkit.zoo.FaceModel``, no gradients) and ONNX Runtime on the lab's export of the whole wrapper
(``labkit.export.export_onnx``: padding and normalisation inside the graph, dynamic batch), with the same number of
threads. Images are decoded once beforehand, so the figures are network time only; one image = one forward pass
(the paper's flip doubles it). Prints images/s of each, best of ``--repeats`` rounds in which the two take turns,
and ONNX Runtime / torch, measured in the same run. Without the installed reference model (``python -m labkit
data get mobilefacenet``) it times a random-init MobileFaceNet, and says so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labkit import models, zoo  # noqa: E402


def _crops(n: int) -> tuple[torch.Tensor, str]:
    from labkit.data import layout
    from labkit.data.images import load_image, to_tensor

    folder = layout.find("lfw_aligned", None, "images")
    if folder is not None:
        files = sorted(folder.rglob("*.jpg"))[:n]
        if len(files) == n:
            return torch.stack([to_tensor(load_image(f)) for f in files]), f"{n} LFW crops from {folder}"
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, 3, *zoo.CROP_SIZE, generator=g) * 255 - 127.5) / 128, f"{n} random crops (no LFW found)"


def _model() -> tuple[zoo.FaceModel, str]:
    try:
        return zoo.load_face_model("reference"), "reference MobileFaceNet (installed weights)"
    except FileNotFoundError:
        card = zoo.ModelCard(name="mobilefacenet (random init)")
        return (zoo.FaceModel(models.MobileFaceNet(), card, preprocess=models.ArcFaceInput()).eval(),
                "random-init MobileFaceNet (reference model not installed)")


def _pass(run, x: torch.Tensor, batch: int) -> float:
    """Images/s of one pass over ``x`` in batches."""
    t0 = time.perf_counter()
    for i in range(0, x.shape[0], batch):
        run(x[i : i + batch])
    return x.shape[0] / (time.perf_counter() - t0)


def _interleaved(runs: dict, x: torch.Tensor, batch: int, repeats: int) -> dict[str, float]:
    """Best images/s of each runner over ``repeats`` rounds; within a round the runners take turns, so a change in
    the machine's load hits them alike (the ratio is what this benchmark reports)."""
    for run in runs.values():
        run(x[:batch])  # warm-up
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = max(best[name], _pass(run, x, batch))
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=512, help="crops per timed pass")
    ap.add_argument("--batch", type=int, default=64, help="batch size for both")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads for both (torch and ONNX Runtime)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes; the best is reported")
    args = ap.parse_args(argv)

    import onnxruntime as ort

    from labkit import export

    torch.set_num_threads(args.threads)
    x, what = _crops(args.images)
    model, which = _model()
    with tempfile.TemporaryDirectory() as tmp:
        path = export.export_onnx(model, Path(tmp) / "model.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        with torch.no_grad():
            diff = float(np.abs(export.run_onnx(session, x[:8]) - model(x[:8]).numpy()).max())
            rates = _interleaved({"torch": model, "onnx": lambda b: export.run_onnx(session, b)}, x, args.batch,
                                 args.repeats)
        t_rate, o_rate = rates["torch"], rates["onnx"]
    print(f"{which}; {what}; batch {args.batch}, {args.threads} threads, best of {args.repeats}")
    print(f"torch eager      : {t_rate:8.1f} images/s")
    print(f"ONNX Runtime     : {o_rate:8.1f} images/s   (max |diff| vs torch {diff:.1e})")
    print(f"ONNX Runtime / torch: {o_rate / t_rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
