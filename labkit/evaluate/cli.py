"""``python -m labkit eval {lfw,ytf,megaface}``: evaluate a checkpoint (or precomputed features) and write JSON.

Examples::

    python -m labkit eval lfw --checkpoint runs/cosface/last.pt --out results/lfw.json
    python -m labkit eval lfw --features lfw_feats.npz            # keys: names (relpaths), features (N, D)
    python -m labkit eval lfw --features lfw_scores.npz           # key: scores (6000,), in pairs.txt order
    python -m labkit eval ytf --checkpoint last.pt --frames-root /data/ytf/frame_images_DB
    python -m labkit eval ytf --features ytf_feats.npz            # keys: videos ("Person/n"), features (V, D)
    python -m labkit eval megaface --features mf.npz              # probe_features, probe_labels, distractors
    python -m labkit eval megaface --checkpoint last.pt --probe-root facescrub/ --distractor-root megaface/

Checkpoints are read with ``torch.load(..., weights_only=True)`` (via :func:`labkit.checkpoint.load`). The network
is rebuilt with :func:`labkit.models.make_model` from ``--arch`` or the checkpoint's ``config["arch"]``; weights
come from ``state["model"]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from labkit.config import DataMissingError
from labkit.evaluate.features import FLIP_MODES


def load_network(checkpoint: str | Path, arch: str | None = None, device: str = "cpu"):
    """Rebuild the embedding network saved in a training checkpoint (weights_only load)."""
    import torch

    from labkit.models import make_model

    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train one with `python -m labkit train` or pass --features")
    state = torch.load(path, map_location="cpu", weights_only=True)
    cfg = state.get("config", {}) if isinstance(state, dict) else {}
    arch = arch or (cfg.get("arch") if isinstance(cfg, dict) else None)
    if arch is None:
        raise ValueError(f"{path}: the checkpoint config has no 'arch'; pass --arch (e.g. sphere20, lab_cnn)")
    weights = state.get("model", state)
    dim = cfg.get("embedding_dim") if isinstance(cfg, dict) else None
    model = make_model(arch, dim)
    model.load_state_dict(weights)
    return model.to(device).eval()


def _npz(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"features file {path} not found")
    data = np.load(path, allow_pickle=False)
    missing = [k for k in keys if k not in data]
    if missing:
        raise KeyError(f"{path}: missing array(s) {missing}; it holds {sorted(data.files)}")
    return {k: data[k] for k in data.files}


def _embedder(args: argparse.Namespace):
    from labkit.evaluate.features import embed_paths

    model = load_network(args.checkpoint, args.arch, args.device)
    return lambda paths: embed_paths(model, paths, flip=args.flip, batch_size=args.batch_size, device=args.device)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    src = {"checkpoint": str(args.checkpoint)} if args.checkpoint else {"features_file": str(args.features)}
    return {**src, "flip": args.flip if args.checkpoint else "as in the features file", "arch": args.arch}


def _run_lfw(args: argparse.Namespace) -> dict[str, Any]:
    from labkit.evaluate.lfw import embed_lfw, evaluate_lfw, load_lfw_pairs

    pairs = load_lfw_pairs(args.data_root, args.pairs_file)
    opts = {**_options(args), "pairs_file": args.pairs_file}
    if args.checkpoint:
        feats = embed_lfw(_embedder(args), pairs, args.data_root, args.variant)
        opts["lfw_variant"] = args.variant
        res = evaluate_lfw(features=feats, pairs=pairs, options=opts)
    else:
        data = _npz(args.features, ())
        if "scores" in data:
            res = evaluate_lfw(pairs=pairs, scores=data["scores"], options=opts)
        elif "names" in data and "features" in data:
            res = evaluate_lfw(features=dict(zip(data["names"].tolist(), data["features"])), pairs=pairs, options=opts)
        else:
            raise KeyError(f"{args.features}: expected 'scores' or 'names' + 'features', found {sorted(data)}")
    print(res.summary())
    return res.to_dict(include_curve=args.curve)


def _run_ytf(args: argparse.Namespace) -> dict[str, Any]:
    from labkit.evaluate.ytf import (evaluate_ytf, read_ytf_splits, unique_videos, video_feature, video_frames,
                                     ytf_protocol_path)

    pairs = read_ytf_splits(args.splits or ytf_protocol_path(args.data_root))
    opts = {**_options(args), "normalize_frames": not args.raw_frames}
    if args.checkpoint:
        if not args.frames_root:
            raise DataMissingError("--frames-root (YTF frame_images_DB folder) is needed with --checkpoint")
        embed = _embedder(args)
        feats = {}
        for v in unique_videos(pairs):
            person, number = v.rsplit("/", 1)
            feats[v] = video_feature(embed(video_frames(args.frames_root, person, int(number))), not args.raw_frames)
    else:
        data = _npz(args.features, ("videos", "features"))
        feats = dict(zip(data["videos"].tolist(), data["features"]))
        opts["normalize_frames"] = "as in the features file"
    res = evaluate_ytf(feats, pairs, options=opts)
    print(res.summary())
    return res.to_dict(include_curve=args.curve)


def _images_under(root: Path) -> list[Path]:
    from labkit.data.images import IMAGE_EXTENSIONS

    if not root.is_dir():
        raise DataMissingError(f"image folder {root} not found")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def _run_megaface(args: argparse.Namespace) -> dict[str, Any]:
    from labkit.evaluate.identification import identification

    if args.checkpoint:
        from labkit.data.folders import scan_identity_folders

        if not (args.probe_root and args.distractor_root):
            raise DataMissingError("--probe-root (one folder per identity) and --distractor-root are needed with --checkpoint")
        embed = _embedder(args)
        table = scan_identity_folders(args.probe_root, min_images=2)
        paths = [p for ps in table.values() for p in ps]
        labels = np.array([i for i, ps in enumerate(table.values()) for _ in ps])
        probes = embed(paths)
        distractors = embed(_images_under(Path(args.distractor_root)))
    else:
        data = _npz(args.features, ("probe_features", "probe_labels", "distractors"))
        probes, labels = data["probe_features"], data["probe_labels"]
        distractors = data["distractors"]
    counts = [int(c) for c in args.counts.split(",")] if args.counts else None
    res = identification(
        probes, labels, distractors, counts=counts, far=args.far, gallery=args.gallery, chunk_size=args.chunk_size,
        device=args.device, backend=args.backend, options=_options(args),
    )
    for n, r in zip(res.distractor_counts, res.rank1):
        print(f"rank-1 with {n:>9,} distractors: {100 * r:.2f}%")
    print(f"TAR at FAR {res.far}: {res.tar_at_far}")
    return res.to_dict()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labkit eval", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="protocol", required=True)
    for name in ("lfw", "ytf", "megaface"):
        p = sub.add_parser(name)
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--checkpoint", type=Path, help="training checkpoint (weights_only load)")
        src.add_argument("--features", type=Path, help="precomputed features / scores (.npz)")
        p.add_argument("--arch", default=None, help="network name if the checkpoint does not record it")
        p.add_argument("--flip", default="concat", choices=FLIP_MODES, help="test-time flip (paper: concat)")
        p.add_argument("--device", default="cpu")
        p.add_argument("--batch-size", type=int, default=128)
        p.add_argument("--data-root", type=Path, default=None, help="default: labkit.config.data_root()")
        p.add_argument("--out", type=Path, default=None, help="JSON file to write (default: print only)")
        if name in ("lfw", "ytf"):
            p.add_argument("--curve", action="store_true", help="include the ROC curve points in the JSON")
        if name == "lfw":
            p.add_argument("--variant", default="aligned", help="LFW image folder (aligned = 112x96 crops)")
            p.add_argument("--pairs-file", default="pairs.txt")
        if name == "ytf":
            p.add_argument("--splits", type=Path, default=None, help="default: <data root>/ytf_protocol/splits.txt")
            p.add_argument("--frames-root", type=Path, default=None, help="YTF frame_images_DB folder")
            p.add_argument("--raw-frames", action="store_true", help="average frame features without L2-normalising")
        if name == "megaface":
            p.add_argument("--probe-root", type=Path, default=None)
            p.add_argument("--distractor-root", type=Path, default=None)
            p.add_argument("--counts", default=None, help="comma-separated distractor counts (default 10..10^6)")
            p.add_argument("--far", type=float, default=1e-6)
            p.add_argument("--gallery", default="each", choices=["each", "first"])
            p.add_argument("--chunk-size", type=int, default=65_536)
            p.add_argument("--backend", default="torch", choices=["torch", "faiss"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = {"lfw": _run_lfw, "ytf": _run_ytf, "megaface": _run_megaface}[args.protocol]
    try:
        result = run(args)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
