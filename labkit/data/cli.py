"""``python -m labkit data ...``: get, inspect and align face data sets.

    python -m labkit data get lfw [--variant deepfunneled|original|funneled] [--from FOLDER] [--root ROOT]
    python -m labkit data get casia|ytf|megaface       (prints exactly what to fetch, from where, where to put it)
    python -m labkit data get mobilefacenet [--from FOLDER] [--root ROOT]   (the reference model, verified)
    python -m labkit data info PATH                    (class and image counts of a folder-per-identity set or a .rec)
    python -m labkit data align SRC DST --landmarks FILE --size 112x96
    python -m labkit data align SRC DST --size 112x96  (no landmark file: MTCNN finds them, DST/landmarks.tsv)

A bad path or value ends with one ``error:`` line and exit status 2 (``--debug`` shows the traceback instead);
a failed download or checksum is status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from labkit import cli, config


def _writable_root(root: Path) -> None:
    """Create the data root if needed; a root that cannot be a folder is a usage error, said in one line."""
    if root.exists() and not root.is_dir():
        raise cli.UsageError(f"data root {root} is a file; pass --root FOLDER or set LABKIT_DATA to a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cli.UsageError(f"cannot create the data root {root} ({exc.strerror or exc}); pass --root or set "
                             "LABKIT_DATA to a writable folder") from exc


def _get_mobilefacenet(args: argparse.Namespace, root: Path) -> int:
    """Install the reference model (:func:`labkit.reference.install`): downloaded, or copied with --from."""
    from labkit import reference
    from labkit.data.download import ChecksumError, DownloadError

    if args.source is not None and not Path(args.source).is_dir():
        raise cli.UsageError(f"--from {args.source} is not a folder; give the folder holding "
                             f"{', '.join(reference.SHA256)} (the lab's shared models/mobilefacenet) or leave --from "
                             "out to download them")
    _writable_root(root)
    try:
        dest = reference.install(root, source=args.source, progress=not args.quiet)
    except (ChecksumError, DownloadError) as exc:
        print(f"error: {cli.one_line(exc)}", file=sys.stderr)
        return 1
    print(f"reference model (MobileFaceNet) verified in {dest}")
    return 0


def _get(args: argparse.Namespace) -> int:
    from labkit.data import layout
    from labkit.data.download import ChecksumError, DownloadError, get_lfw

    root = Path(args.root) if args.root else config.data_root()
    if args.dataset == "mobilefacenet":
        return _get_mobilefacenet(args, root)
    if args.dataset != "lfw":
        print(layout.instructions(args.dataset, root))
        return 0
    if args.source is not None and not Path(args.source).is_dir():
        raise cli.UsageError(f"--from {args.source} is not a folder; give the folder holding the official LFW files "
                             "(pairs.txt, lfw-deepfunneled.tgz, ...) or leave --from out to download them")
    _writable_root(root)
    try:
        lfw = get_lfw(root, variant=args.variant, source=args.source, progress=not args.quiet)
    except (ChecksumError, DownloadError) as exc:
        print(f"error: {cli.one_line(exc)}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(f"error: cannot write into {root} ({exc.strerror or exc}); pass --root or set LABKIT_DATA to a "
              "writable folder", file=sys.stderr)
        return 1
    print(f"LFW ({args.variant}) and protocol files verified in {lfw}")
    return 0


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    path = Path(args.path)
    if not path.exists():
        raise cli.UsageError(f"{path} does not exist; give a folder of <identity>/<image> sub-folders or a "
                             "RecordIO train.rec (`python -m labkit data get casia` says where CASIA-WebFace goes)")
    if path.is_file() and path.suffix != ".rec":
        raise cli.UsageError(f"{path} is a file; give a folder of <identity>/<image> sub-folders or a RecordIO "
                             ".rec file")
    if path.suffix == ".rec" or (path / "train.rec").is_file():
        from labkit.data.recordio import RecordIODataset

        ds = RecordIODataset(path)
        counts = ds.label_counts()
        kind = f"RecordIO {ds.rec_path}"
        n_img, n_cls = len(ds), ds.num_classes
    else:
        from labkit.data.folders import scan_identity_folders

        table = scan_identity_folders(path)
        counts = np.array([len(v) for v in table.values()])
        kind = f"identity folders {path}"
        n_img, n_cls = int(counts.sum()), len(table)
    print(f"{kind}: {n_cls} classes, {n_img} images")
    if len(counts):
        print(f"images per class: min {counts.min()}, median {int(np.median(counts))}, max {counts.max()}")
    return 0


def _align(args: argparse.Namespace) -> int:
    from labkit.data.align import align_folder, parse_size

    with cli.usage_errors("--size: "):
        size = parse_size(args.size)
    src, dst = Path(args.src), Path(args.dst)
    if not src.is_dir():
        raise cli.UsageError(f"source folder {src} does not exist; give a folder of <identity>/<image> sub-folders")
    if dst.exists() and not dst.is_dir():
        raise cli.UsageError(f"destination {dst} is a file; give a folder (it is created if missing)")
    if args.landmarks is not None and not Path(args.landmarks).is_file():
        raise cli.UsageError(f"landmark file {args.landmarks} not found; give a file of 'relative/path x1 y1 ... "
                             "x5 y5' lines, or leave --landmarks out to detect them (MTCNN)")
    from tqdm.auto import tqdm

    bar = tqdm(unit="img", disable=args.quiet)

    def tick(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    landmarks = args.landmarks
    if landmarks is None:  # detect the 5 landmarks ourselves (MTCNN, labkit.faces), saved beside the crops
        from labkit.faces.photo import landmarks_for_folder

        if dst.resolve() == src.resolve():
            raise cli.UsageError("destination must differ from the source (the source is never modified)")
        table_file = dst / "landmarks.tsv"
        bar.set_description("detect")
        landmarks, no_face = landmarks_for_folder(src, out=table_file, progress=tick)
        print(f"detected faces in {len(landmarks)} images -> {table_file}; no face in {len(no_face)}"
              + (" (centre-crop fallback): " + ", ".join(no_face) if no_face else ""))
        bar.reset()
        bar.set_description("align")
    counts = align_folder(args.src, args.dst, landmarks, size=size, progress=tick)
    bar.close()
    print(f"wrote {counts['aligned']} aligned, {counts['fallback']} centre-crop fallback, "
          f"skipped {counts['skipped']} unreadable -> {args.dst}")
    return 0


@cli.command
def main(argv: list[str]) -> int:
    """Entry point of ``python -m labkit data``; returns the exit status (2 with one line on a usage error)."""
    parser = cli.ArgumentParser(prog="python -m labkit data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="{get,info,align}")
    g = sub.add_parser("get", help="download and verify (LFW), or print how to get a data set")
    g.add_argument("dataset", choices=["lfw", "casia", "ytf", "megaface", "mobilefacenet"],
                   help="lfw and mobilefacenet (the reference model) are downloaded and verified; for the others it "
                        "prints what to fetch and where to put it")
    g.add_argument("--variant", default="deepfunneled", choices=["deepfunneled", "original", "funneled"],
                   help="LFW image archive (default deepfunneled)")
    g.add_argument("--from", dest="source", default=None, help="install from this local folder instead of the network")
    g.add_argument("--root", default=None, help="data root (default: $LABKIT_DATA or data/)")
    g.set_defaults(func=_get)
    i = sub.add_parser("info", help="class and image counts of a data set")
    i.add_argument("path", help="a folder of <identity>/<image> sub-folders, or a RecordIO .rec (or its folder)")
    i.set_defaults(func=_info)
    a = sub.add_parser("align", help="write a 5-point aligned copy of an image folder")
    a.add_argument("src", help="folder of <identity>/<image> sub-folders (never modified)")
    a.add_argument("dst", help="output folder, same layout")
    a.add_argument("--landmarks", default=None, help="landmark file: 'relative/path x1 y1 ... x5 y5' per line (default: "
                   "detect them with MTCNN and write DST/landmarks.tsv)")
    a.add_argument("--size", default="112x96", help="HEIGHTxWIDTH (default 112x96)")
    a.set_defaults(func=_align)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError) as exc:  # a path or value given on the command line does not work
        raise cli.UsageError(cli.one_line(exc)) from exc


if __name__ == "__main__":
    sys.exit(main())
