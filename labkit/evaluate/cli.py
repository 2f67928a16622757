"""``python -m labkit eval {lfw,pairs,ytf,megaface}``: evaluate a model (or precomputed features) and write JSON.

Examples::

    python -m labkit eval lfw --checkpoint runs/cosface/last.pt --out results/lfw.json
    python -m labkit eval lfw --model lab                           # a registered name or a face-model file
    python -m labkit eval pairs ROOT --pairs pairs.txt --model lab  # any ROOT/<identity>/<image> set
    python -m labkit eval pairs ROOT --pairs auto --detect --out my_set.json   # person-disjoint folds, MTCNN
    python -m labkit eval lfw --features lfw_feats.npz            # keys: names (relpaths), features (N, D)
    python -m labkit eval lfw --features lfw_scores.npz           # key: scores (6000,), in pairs.txt order
    python -m labkit eval ytf --checkpoint last.pt --frames-root /data/ytf/frame_images_DB
    python -m labkit eval ytf --features ytf_feats.npz            # keys: videos ("Person/n"), features (V, D)
    python -m labkit eval megaface --features mf.npz              # probe_features, probe_labels, distractors
    python -m labkit eval megaface --checkpoint last.pt --probe-root facescrub/ --distractor-root megaface/

Checkpoints are read with ``torch.load(..., weights_only=True)`` (via :func:`labkit.checkpoint.load`). The network
is rebuilt with :func:`labkit.models.make_model` from ``--arch`` or the checkpoint's ``config["arch"]``; weights
come from ``state["model"]``. ``--model NAME|FILE`` goes through :func:`labkit.zoo.load_face_model` instead.

``eval pairs`` (:mod:`labkit.evaluate.pairs`) runs LFW's 10-fold protocol on any identity-folder set against a pairs
file in ``pairs.txt`` format, or ``--pairs auto`` (a seeded person-disjoint split written beside the results).
Without ``--detect`` the images must be aligned 112x96 (or 112x112 ArcFace) crops; with it every photo is
detected and aligned, and a photo without a face falls back to the centre crop and is listed in the result.

A bad option, a missing or unreadable file, or a features file without the expected arrays ends with one ``error:``
line and exit status 2 (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from labkit import cli
from labkit.config import DataMissingError
from labkit.data.images import CorruptImageError
from labkit.evaluate.features import FLIP_MODES


def load_network(checkpoint: str | Path, arch: str | None = None, device: str = "cpu"):
    """Rebuild the embedding network saved in a training checkpoint (weights_only load).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not a checkpoint or whose
    weights do not fit the network named by ``arch`` (or by the checkpoint's config).
    """
    import torch

    from labkit.models import make_model

    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train one with `python -m labkit train` or pass --features")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (UnpicklingError, RuntimeError, EOFError, ...) for a bad file
        raise ValueError(f"{path} is not a readable training checkpoint ({type(exc).__name__}: "
                         f"{cli.one_line(exc)[:160]}); give the last.pt written by `python -m labkit train`") from exc
    cfg = state.get("config", {}) if isinstance(state, dict) else {}
    arch = arch or (cfg.get("arch") if isinstance(cfg, dict) else None)
    if arch is None:
        raise ValueError(f"{path}: the checkpoint config has no 'arch'; pass --arch (e.g. sphere20, lab_cnn)")
    weights = state.get("model", state) if isinstance(state, dict) else state
    dim = cfg.get("embedding_dim") if isinstance(cfg, dict) else None
    model = make_model(arch, dim)
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: its weights do not fit a {arch} network; pass the --arch it was trained with "
                         "(the checkpoint's config records it)") from exc
    return model.to(device).eval()


# the arrays a --features file must hold, per protocol (LFW takes either of two sets, checked in _open_npz)
NPZ_ARRAYS: dict[str, tuple[str, ...]] = {
    "lfw": (), "ytf": ("videos", "features"), "megaface": ("probe_features", "probe_labels", "distractors"),
}
FEATURES_HELP: dict[str, str] = {
    "lfw": "precomputed .npz: 'scores' (6000, pairs.txt order) or 'names' (relative paths) + 'features' (N, D)",
    "ytf": "precomputed .npz: 'videos' (\"Person/n\") + 'features' (V, D)",
    "megaface": "precomputed .npz: 'probe_features', 'probe_labels', 'distractors'",
}


def _open_npz(path: str | Path, protocol: str):
    """Open a --features archive (arrays are read lazily) after checking it exists and holds what ``protocol``
    reads; any problem is a :class:`labkit.cli.UsageError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise cli.UsageError(f"features file {path} not found; give the .npz to evaluate ({FEATURES_HELP[protocol]})")
    try:
        data = np.load(path, allow_pickle=False)
        files = list(data.files)
    except (OSError, ValueError, AttributeError) as exc:
        raise cli.UsageError(f"features file {path} is not a NumPy .npz archive (write it with numpy.savez)") from exc
    held = ", ".join(sorted(files)) or "nothing"
    missing = [k for k in NPZ_ARRAYS[protocol] if k not in files]
    if missing:
        raise cli.UsageError(f"features file {path} lacks the array(s) {', '.join(missing)}; it holds {held}")
    if protocol == "lfw" and "scores" not in files and not {"names", "features"} <= set(files):
        raise cli.UsageError(f"features file {path} needs either 'scores' (6000 pair scores) or 'names' + "
                             f"'features'; it holds {held}")
    return data


def _npz(path: str | Path, protocol: str) -> dict[str, np.ndarray]:
    data = _open_npz(path, protocol)
    return {k: data[k] for k in data.files}


DEFAULT_MODEL = "lab"


def default_model() -> str:
    """The model used when ``--model`` is not given: the shipped lab-scale model ``lab`` when it is registered;
    otherwise a :class:`labkit.cli.UsageError` saying so and listing what can be given."""
    from labkit import zoo

    registered = zoo.names()
    if any(n.split(" ")[0] == DEFAULT_MODEL for n in registered):
        return DEFAULT_MODEL
    have = ", ".join(registered) or "none registered"
    raise cli.UsageError(f"no --model given and the shipped lab model {DEFAULT_MODEL!r} is not installed here "
                         f"(registered names: {have}); pass --model with a name or a face-model file (.pt)")


def load_model(spec: str | None, device: str = "cpu"):
    """:func:`labkit.zoo.load_face_model` of ``spec`` (default :func:`default_model`); a name or file that is no
    model is a :class:`labkit.cli.UsageError` (the message lists the valid names)."""
    from labkit import zoo

    try:
        return zoo.load_face_model(spec or default_model(), device)
    except ValueError as exc:  # UnknownModelError included
        raise cli.UsageError(cli.one_line(exc)) from exc


def _network(args: argparse.Namespace):
    if getattr(args, "model", None) or getattr(args, "checkpoint", None) is None:
        return load_model(getattr(args, "model", None), args.device)
    return load_network(args.checkpoint, args.arch, args.device)


def _embedder(args: argparse.Namespace):
    from labkit.evaluate.features import embed_paths

    model = _network(args)
    return lambda paths: embed_paths(model, paths, flip=args.flip, batch_size=args.batch_size, device=args.device)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "model", None):
        src = {"model": str(args.model)}
    elif args.checkpoint:
        src = {"checkpoint": str(args.checkpoint)}
    else:
        src = {"features_file": str(args.features)}
    embeds = bool(getattr(args, "model", None) or args.checkpoint)
    return {**src, "flip": args.flip if embeds else "as in the features file", "arch": args.arch}


def _report(res) -> None:
    """Print a verification result: accuracy +- s.e. (and AUC, EER), TAR at each FAR, the fold thresholds."""
    print(res.summary())
    for far, tar in res.roc.tar_at_far.items():
        note = " (below the resolution of the impostor pairs)" if far in res.roc.far_below_resolution else ""
        print(f"TAR at FAR {far}: {100 * tar:.2f}%{note}")
    print("fold thresholds (cosine): " + " ".join(f"{t:.4f}" for t in res.fold_thresholds))


def _run_lfw(args: argparse.Namespace) -> dict[str, Any]:
    from labkit.evaluate.lfw import embed_lfw, evaluate_lfw, load_lfw_pairs

    pairs = load_lfw_pairs(args.data_root, args.pairs_file)
    opts = {**_options(args), "pairs_file": args.pairs_file}
    if args.checkpoint or args.model:
        feats = embed_lfw(_embedder(args), pairs, args.data_root, args.variant)
        opts["lfw_variant"] = args.variant
        res = evaluate_lfw(features=feats, pairs=pairs, options=opts)
    else:
        data = _npz(args.features, "lfw")
        if "scores" in data:
            res = evaluate_lfw(pairs=pairs, scores=data["scores"], options=opts)
        elif "names" in data and "features" in data:
            res = evaluate_lfw(features=dict(zip(data["names"].tolist(), data["features"])), pairs=pairs, options=opts)
        else:
            raise cli.UsageError(f"features file {args.features} needs either 'scores' (6000 pair scores) or "
                                 f"'names' + 'features'; it holds {', '.join(sorted(data)) or 'nothing'}")
    _report(res)
    return res.to_dict(include_curve=args.curve)


def auto_pairs_path(args: argparse.Namespace) -> Path:
    """Where ``--pairs auto`` writes its pairs file: beside ``--out`` (``<out stem>.pairs_seed<S>.txt``), or
    ``pairs_auto_seed<S>.txt`` in the current folder without ``--out``."""
    if args.out is not None:
        return args.out.with_name(f"{args.out.stem}.pairs_seed{args.seed}.txt")
    return Path(f"pairs_auto_seed{args.seed}.txt")


def _auto_pairs(args: argparse.Namespace):
    """Make the seeded person-disjoint pairs of ROOT and write them; a file already there is re-used only when it
    holds exactly these pairs (same folder, same seed), never overwritten with others."""
    from labkit.evaluate import pairs as fp

    made = fp.auto_pairs(args.root, n_folds=args.folds, pairs_per_fold=args.pairs_per_fold, seed=args.seed)
    path = auto_pairs_path(args)
    text = fp.pairs_text(made.pairs)
    if path.is_file():
        if path.read_text() != text:
            raise cli.UsageError(f"{path} exists and holds other pairs than --pairs auto --seed {args.seed} makes "
                                 f"from {args.root} (the folder changed, or the file was edited); pass it with "
                                 "--pairs FILE, delete it, or choose another --out or --seed")
        print(f"re-used {path}: {made.describe()}")
    else:
        fp.write_pairs(made.pairs, path)
        print(f"wrote {path}: {made.describe()}")
    return made, path


def _run_pairs(args: argparse.Namespace) -> dict[str, Any]:
    from labkit.evaluate import crops
    from labkit.evaluate import pairs as fp

    model = _network(args)  # first: a --model that names nothing stops before any file is read or written
    if args.pairs == "auto":
        made, pairs_file = _auto_pairs(args)
        pairs, paths = made.pairs, fp.resolve_pairs(made.pairs, args.root, str(pairs_file))
        source = {"pairs_file": str(pairs_file), "pairs": "auto", "seed": args.seed,
                  "fold_people": made.fold_people}
    else:
        pairs, paths = fp.read_folder_pairs(args.pairs, args.root)
        source = {"pairs_file": str(args.pairs)}
    images = fp.unique_paths(paths, args.root)
    opts = {**_options(args), **source, "root": str(args.root), "detect": args.detect,
            "model_name": model.card.name}
    if args.detect:
        got = crops.embed_detected(model, images, args.flip, args.batch_size, args.device)
        rows, no_face = got.features, [str(p.relative_to(args.root)) for p in got.no_face]
        opts["no_face"] = {"count": len(no_face), "of": len(images), "photos": no_face,
                           "fallback": "centre crop (labkit.data.align.center_crop), no landmarks"}
    else:
        rows = crops.embed_aligned(model, images, args.flip, args.batch_size, args.device)
    res = fp.evaluate_pairs(dict(zip(images, rows)), pairs, paths, protocol=f"pairs {len(pairs)}, {args.root.name}",
                            options=opts)
    _report(res)
    if args.detect:
        n = len(opts["no_face"]["photos"])
        shown = ", ".join(opts["no_face"]["photos"][:5]) + (" ..." if n > 5 else "")
        print(f"photos without a detected face (centre-cropped instead): {n} of {len(images)}"
              + (f": {shown}" if n else ""))
    return res.to_dict(include_curve=args.curve)


def _run_ytf(args: argparse.Namespace) -> dict[str, Any]:
    from labkit.evaluate.ytf import (evaluate_ytf, read_ytf_splits, unique_videos, video_feature, video_frames,
                                     ytf_protocol_path)

    pairs = read_ytf_splits(args.splits or ytf_protocol_path(args.data_root))
    opts = {**_options(args), "normalize_frames": not args.raw_frames}
    if args.checkpoint or args.model:
        if not args.frames_root:
            raise DataMissingError("--frames-root (YTF frame_images_DB folder) is needed with --checkpoint")
        embed = _embedder(args)
        feats = {}
        for v in unique_videos(pairs):
            person, number = v.rsplit("/", 1)
            feats[v] = video_feature(embed(video_frames(args.frames_root, person, int(number))), not args.raw_frames)
    else:
        data = _npz(args.features, "ytf")
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

    if args.checkpoint or args.model:
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
        data = _npz(args.features, "megaface")
        probes, labels = data["probe_features"], data["probe_labels"]
        distractors = data["distractors"]
    res = identification(
        probes, labels, distractors, counts=args.counts, far=args.far, gallery=args.gallery, chunk_size=args.chunk_size,
        device=args.device, backend=args.backend, options=_options(args),
    )
    for n, r in zip(res.distractor_counts, res.rank1):
        print(f"rank-1 with {n:>9,} distractors: {100 * r:.2f}%")
    print(f"TAR at FAR {res.far}: {res.tar_at_far}")
    return res.to_dict()


def _counts(text: str) -> list[int]:
    """argparse ``type=`` of ``--counts``: comma-separated distractor counts, each an integer >= 1."""
    try:
        counts = [int(c) for c in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers >= 1, e.g. 10,1000")
    return counts


def _far(text: str) -> float:
    """argparse ``type=`` of ``--far``: a false-accept rate strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a false-accept rate in (0, 1), e.g. 1e-6")
    return value


# folder options -> what they should point at (for the error message)
FOLDER_OPTIONS = {
    "data_root": "the data root holding lfw/ and ytf_protocol/ (default $LABKIT_DATA)",
    "frames_root": "YTF's frame_images_DB folder",
    "probe_root": "a folder of probe images, one sub-folder per identity",
    "distractor_root": "a folder of distractor images",
}


def _check_args(args: argparse.Namespace) -> None:
    """What can be checked before any data is read: the device, the output path, the folders given and the
    --features archive's list of arrays."""
    import torch

    kind, _, index = args.device.partition(":")
    if kind not in ("auto", "cpu", "cuda", "mps") or (index and not (kind == "cuda" and index.isdigit())):
        raise cli.UsageError(f"--device {args.device!r} is not a device; use cpu, cuda, cuda:N or auto")
    if kind == "cuda" and not torch.cuda.is_available():
        raise cli.UsageError(f"--device {args.device}: no CUDA GPU is visible here; use --device cpu (or auto)")
    if kind == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if getattr(args, "features", None) is not None:
        _open_npz(args.features, args.protocol)
    if args.protocol == "pairs":
        if not args.root.is_dir():
            raise cli.UsageError(f"ROOT {args.root} is not a folder; give a face set laid out ROOT/<identity>/<image>")
        if args.pairs != "auto" and Path(args.pairs).is_dir():
            raise cli.UsageError(f"--pairs {args.pairs} is a folder; give a pairs file (LFW pairs.txt format) or auto")
    if args.out is not None and args.out.is_dir():
        raise cli.UsageError(f"--out {args.out} is a folder; give a JSON file name, e.g. {args.out / 'result.json'}")
    for name, what in FOLDER_OPTIONS.items():
        folder = getattr(args, name, None)
        if folder is not None and not Path(folder).is_dir():
            raise cli.UsageError(f"--{name.replace('_', '-')} {folder} is not a folder; give {what}")


PROTOCOL_HELP = {
    "lfw": "LFW verification: 10-fold accuracy on the 6,000 pairs",
    "pairs": "any ROOT/<identity>/<image> face set against a pairs file (LFW format) or --pairs auto",
    "ytf": "YouTube Faces verification: 10-fold accuracy on the 5,000 video pairs",
    "megaface": "MegaFace-style identification: rank-1 against growing distractor sets, TAR at a FAR",
}


MODEL_HELP = "a registered model name (lab, reference, ...) or a face-model file / `labkit train` checkpoint"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flip", default="concat", choices=FLIP_MODES, help="test-time flip (paper: concat)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--batch-size", type=cli.positive_int, default=128,
                   help="images per forward pass when embedding (default 128)")
    p.add_argument("--out", type=Path, default=None, help="JSON file to write (default: print only)")
    p.add_argument("--curve", action="store_true", help="include the ROC curve points in the JSON")


def _pairs_parser(sub) -> None:
    from labkit.evaluate.pairs import INDEX_RULE

    p = sub.add_parser(
        "pairs", help=PROTOCOL_HELP["pairs"],
        description=("10-fold verification (LFW's protocol) of any face set laid out ROOT/<identity>/<image>. "
                     f"Image index rule: {INDEX_RULE}. Anything else is an error."))
    p.add_argument("root", type=Path, metavar="ROOT", help="the face set: one sub-folder of images per identity")
    p.add_argument("--pairs", required=True, metavar="FILE|auto",
                   help="pairs file in LFW pairs.txt format (header 'folds n', then per fold n 'name i j' and n "
                        "'name1 i name2 j' lines), or auto: a seeded person-disjoint split written beside --out")
    p.add_argument("--model", default=None, help=MODEL_HELP + " (default: lab, when installed)")
    p.add_argument("--detect", action=argparse.BooleanOptionalAction, default=False,
                   help="detect and align each photo with MTCNN (a photo without a face is centre-cropped and "
                        "listed); default --no-detect: the images are aligned 112x96 or 112x112 ArcFace crops")
    p.add_argument("--seed", type=int, default=0, help="seed of --pairs auto (default 0)")
    p.add_argument("--folds", type=cli.positive_int, default=10, help="folds of --pairs auto (default 10)")
    p.add_argument("--pairs-per-fold", type=cli.positive_int, default=300,
                   help="at most this many matched (and as many mismatched) pairs per fold with --pairs auto "
                        "(default 300, as LFW)")
    _common(p)
    p.set_defaults(checkpoint=None, arch=None)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m labkit eval", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="protocol", required=True, metavar="{lfw,pairs,ytf,megaface}")
    _pairs_parser(sub)
    for name in ("lfw", "ytf", "megaface"):
        p = sub.add_parser(name, help=PROTOCOL_HELP[name])
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--checkpoint", type=Path, help="training checkpoint (weights_only load)")
        src.add_argument("--features", type=Path, help=FEATURES_HELP[name])
        src.add_argument("--model", default=None, help=MODEL_HELP)
        p.add_argument("--arch", default=None, help="network name if the checkpoint does not record it")
        p.add_argument("--flip", default="concat", choices=FLIP_MODES, help="test-time flip (paper: concat)")
        p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
        p.add_argument("--batch-size", type=cli.positive_int, default=128,
                       help="images per forward pass when embedding (default 128)")
        p.add_argument("--data-root", type=Path, default=None, help="default: labkit.config.data_root()")
        p.add_argument("--out", type=Path, default=None, help="JSON file to write (default: print only)")
        if name in ("lfw", "ytf"):
            p.add_argument("--curve", action="store_true", help="include the ROC curve points in the JSON")
        if name == "lfw":
            p.add_argument("--variant", default="aligned", help="LFW image folder (aligned = 112x96 crops)")
            p.add_argument("--pairs-file", default="pairs.txt", help="LFW protocol file (default pairs.txt)")
        if name == "ytf":
            p.add_argument("--splits", type=Path, default=None, help="default: <data root>/ytf_protocol/splits.txt")
            p.add_argument("--frames-root", type=Path, default=None, help="YTF frame_images_DB folder")
            p.add_argument("--raw-frames", action="store_true", help="average frame features without L2-normalising")
        if name == "megaface":
            p.add_argument("--probe-root", type=Path, default=None,
                           help="probe images, one folder per identity (with --checkpoint)")
            p.add_argument("--distractor-root", type=Path, default=None,
                           help="distractor images, any layout (with --checkpoint)")
            p.add_argument("--counts", type=_counts, default=None,
                           help="comma-separated distractor counts (default 10,100,...,10^6)")
            p.add_argument("--far", type=_far, default=1e-6, help="false-accept rate of the TAR (default 1e-6)")
            p.add_argument("--gallery", default="each", choices=["each", "first"],
                           help="gallery images per probe identity (default each)")
            p.add_argument("--chunk-size", type=cli.positive_int, default=65_536,
                           help="distractors scored per chunk (default 65536)")
            p.add_argument("--backend", default="torch", choices=["torch", "faiss"],
                           help="nearest-neighbour search (default torch)")
    return parser


@cli.command
def main(argv: list[str]) -> int:
    """``python -m labkit eval {lfw,pairs,ytf,megaface} ...``; returns the exit status (2 with one line on a usage
    error)."""
    args = build_parser().parse_args(argv)
    _check_args(args)
    run = {"lfw": _run_lfw, "pairs": _run_pairs, "ytf": _run_ytf, "megaface": _run_megaface}[args.protocol]
    try:
        result = run(args)
    except (FileNotFoundError, KeyError, ValueError, CorruptImageError, IsADirectoryError) as exc:
        # the inputs are files named on the command line: one that is missing or holds the wrong data is a usage
        # error (a KeyError's message is its first argument; str() would quote it)
        raise cli.UsageError(cli.one_line(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)) from exc
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
