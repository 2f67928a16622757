"""``python -m labkit data ...``: get, inspect and align face data sets.

    python -m labkit data get lfw [--variant deepfunneled|original|funneled] [--from FOLDER] [--root ROOT]
    python -m labkit data get casia|ytf|megaface       (prints exactly what to fetch, from where, where to put it)
    python -m labkit data info PATH                    (class and image counts of a folder-per-identity set or a .rec)
    python -m labkit data align SRC DST --landmarks FILE --size 112x96
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from labkit import config


def _get(args: argparse.Namespace) -> int:
    from labkit.data.download import MANUAL_SOURCES, ChecksumError, DownloadError, get_lfw

    root = Path(args.root) if args.root else config.data_root()
    if args.dataset != "lfw":
        print(MANUAL_SOURCES[args.dataset].format(root=root))
        return 0
    try:
        lfw = get_lfw(root, variant=args.variant, source=args.source, progress=not args.quiet)
    except (ChecksumError, DownloadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(f"error: cannot write into {root} ({exc}); pass --root or set LABKIT_DATA to a writable folder",
              file=sys.stderr)
        return 1
    print(f"LFW ({args.variant}) and protocol files verified in {lfw}")
    return 0


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    path = Path(args.path)
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

    size = parse_size(args.size)
    if args.landmarks is None:
        print("warning: no --landmarks given: every image gets the fixed centre-crop fallback (see labkit.data.align)",
              file=sys.stderr)
    from tqdm.auto import tqdm

    bar = tqdm(unit="img", disable=args.quiet)

    def tick(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    counts = align_folder(args.src, args.dst, args.landmarks, size=size, progress=tick)
    bar.close()
    print(f"wrote {counts['aligned']} aligned, {counts['fallback']} centre-crop fallback, "
          f"skipped {counts['skipped']} unreadable -> {args.dst}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m labkit data``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m labkit data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("get", help="download and verify (LFW), or print how to get a data set")
    g.add_argument("dataset", choices=["lfw", "casia", "ytf", "megaface"])
    g.add_argument("--variant", default="deepfunneled", choices=["deepfunneled", "original", "funneled"])
    g.add_argument("--from", dest="source", default=None, help="install from this local folder instead of the network")
    g.add_argument("--root", default=None, help="data root (default: $LABKIT_DATA or data/)")
    g.set_defaults(func=_get)
    i = sub.add_parser("info", help="class and image counts of a data set")
    i.add_argument("path")
    i.set_defaults(func=_info)
    a = sub.add_parser("align", help="write a 5-point aligned copy of an image folder")
    a.add_argument("src")
    a.add_argument("dst")
    a.add_argument("--landmarks", default=None, help="landmark file: 'relative/path x1 y1 ... x5 y5' per line")
    a.add_argument("--size", default="112x96", help="HEIGHTxWIDTH (default 112x96)")
    a.set_defaults(func=_align)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
