"""``python -m labkit faces detect PHOTO... [--json]``: the faces and 5 landmarks MTCNN finds in each photo (the
detection step of the paper's Sec. 4.1).

Without ``--json``: one readable line per photo (how many faces, each box and score). With ``--json``: one JSON
object per line and photo, ``{"photo": PATH, "faces": [{"box": [x1, y1, x2, y2], "score": p, "landmarks":
[[x, y] x 5]}]}`` in the photo's pixels (pixel centres at integers), the faces largest first. A photo with no face
is not an error (0 faces); a missing file, a folder, or a file that is not a readable image ends with one
``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from labkit import cli


def _detect(args: argparse.Namespace) -> int:
    from labkit.data.images import CorruptImageError
    from labkit.faces.mtcnn import WeightsMissingError
    from labkit.faces.photo import find_faces, load_photo

    images = []
    for name in args.photos:  # check every photo before the slow part, so a typo fails at once
        try:
            images.append(load_photo(name))
        except (FileNotFoundError, ValueError, CorruptImageError) as exc:
            raise cli.UsageError(cli.one_line(exc)) from exc
    for name, image in zip(args.photos, images):
        try:
            faces = find_faces(image)
        except WeightsMissingError as exc:
            raise cli.UsageError(cli.one_line(exc)) from exc
        if args.json:
            print(json.dumps({"photo": name, "faces": [f.to_json() for f in faces]}), flush=True)
        else:
            parts = [f"box [{', '.join(f'{v:.1f}' for v in f.box)}] score {f.score:.3f}" for f in faces]
            print(f"{name}: {len(faces)} face{'s' if len(faces) != 1 else ''}" + (": " + "; ".join(parts) if parts
                                                                                  else ""), flush=True)
    return 0


@cli.command
def main(argv: list[str]) -> int:
    """Entry point of ``python -m labkit faces``; returns the exit status (2 with one line on a usage error)."""
    parser = cli.ArgumentParser(prog="python -m labkit faces", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="{detect}")
    d = sub.add_parser("detect", help="faces, boxes and 5 landmarks in each photo")
    d.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, ...)")
    d.add_argument("--json", action="store_true", help="one JSON object per line and photo")
    d.set_defaults(func=_detect)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
