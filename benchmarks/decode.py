"""Decode throughput per CPU core: JPEG 112x96 (aligned LFW) and PNG 112x112 (Glint/InsightFace style).

    python benchmarks/decode.py [--seconds 3] [--loader]

Reads the real files under the data root when present (``lfw_aligned_112x96/lfw-112x96``,
``glint360k_celebrity_sample/celebrity_images``), else encodes synthetic faces in memory. Files are read into
memory first, so the numbers are decode + conversion only (no disk). One process, one thread: that is images/s per
core; a loader with N workers scales about linearly while N <= cores. ``--loader`` also times the training loader
(decode + normalise + flip + batch) with ``workers="auto"``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labkit import config  # noqa: E402
from labkit.data.images import crop_arcface_to_sphereface, to_tensor  # noqa: E402


def _blobs(folder: Path, pattern: str, limit: int) -> list[bytes]:
    files = sorted(folder.rglob(pattern))[:limit] if folder.is_dir() else []
    return [f.read_bytes() for f in files]


def _synthetic(fmt: str, size: tuple[int, int], n: int) -> list[bytes]:
    from labkit.data.synthetic import SyntheticFaces

    ds = SyntheticFaces(num_classes=n, images_per_class=1, size=size)
    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(ds.image(i)).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        out.append(buf.getvalue())
    return out


def _rate(blobs: list[bytes], seconds: float, post) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for b in blobs:
            with Image.open(io.BytesIO(b)) as im:
                post(np.asarray(im.convert("RGB")))
            n += 1
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--loader", action="store_true", help="also time the engine's training loader (labkit.engine.dataset_loader) with one worker per core")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    root = config.data_root()
    jpeg = _blobs(root / "lfw_aligned_112x96" / "lfw-112x96", "*.jpg", 500)
    jpeg_src = "aligned LFW files" if jpeg else "synthetic (data not found)"
    jpeg = jpeg or _synthetic("JPEG", (112, 96), 200)
    png = _blobs(root / "glint360k_celebrity_sample" / "celebrity_images", "*.png", 500)
    png_src = "Glint sample files" if png else "synthetic (data not found)"
    png = png or _synthetic("PNG", (112, 112), 200)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"cores available: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}")
    rows = [
        ("JPEG 112x96 decode", jpeg, jpeg_src, lambda a: a),
        ("JPEG 112x96 decode + to_tensor", jpeg, jpeg_src, to_tensor),
        ("PNG 112x112 decode", png, png_src, lambda a: a),
        ("PNG 112x112 decode + crop + to_tensor", png, png_src, lambda a: to_tensor(crop_arcface_to_sphereface(a))),
    ]
    for name, blobs, src, post in rows:
        print(f"{name:<40} {_rate(blobs, args.seconds, post):8.0f} images/s per core  ({src}, {len(blobs)} files)")
    if args.loader:
        from labkit.data.folders import IdentityFolderDataset
        from labkit.data.synthetic import SyntheticFaces
        from labkit.engine import BatchPlan, cores_available, dataset_labels, dataset_loader

        folder = root / "lfw_aligned_112x96" / "lfw-112x96"
        ds = IdentityFolderDataset(folder, min_images=10) if folder.is_dir() else SyntheticFaces(100, 50)
        workers = cores_available()
        loader = dataset_loader(ds, BatchPlan(dataset_labels(ds), batch=256), 0, 1_000, workers=workers,
                                pin_memory=torch.cuda.is_available())
        n, t0 = 0, None
        for k, (x, _) in enumerate(loader):
            if k == 2:
                t0, n = time.perf_counter(), 0  # skip worker start-up
            n += len(x)
            if t0 and time.perf_counter() - t0 > args.seconds:
                break
        rate = n / (time.perf_counter() - t0) if t0 else float("nan")
        print(f"{'training loader (' + str(workers) + ' workers)':<40} {rate:8.0f} images/s total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
