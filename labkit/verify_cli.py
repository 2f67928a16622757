"""``python -m labkit verify PHOTO_A PHOTO_B``: are the two photos the same person?

The paper's test pipeline (Sec. 4.1) on two photos: each is searched for faces with MTCNN and the largest face is
aligned to 112x96 with its 5 landmarks (:func:`labkit.faces.align_photo`); each crop and its mirror image go
through the model and the two features are concatenated (``embed_batches(flip="concat")``); the score is the
cosine of the two photos' features, and the decision is ``score > threshold``. The threshold is the model's
calibrated one (``ModelCard.threshold``, chosen by :mod:`labkit.evaluate.calibrate` on stated pairs that the
model never saw, which the output line names) unless ``--threshold`` gives another.

Examples::

    python -m labkit verify me.jpg passport.png                  # the shipped lab model
    python -m labkit verify a.jpg b.jpg --model reference --json
    python -m labkit verify a.jpg b.jpg --model runs/s20/last.pt --threshold 0.3

A file that is not an image, a truncated image, a folder, a photo without a face, or a ``--model`` that names
nothing ends with one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from labkit import cli
from labkit.data.images import CorruptImageError


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m labkit verify", description=__doc__.split("\n")[0])
    parser.add_argument("photo_a", type=Path, metavar="PHOTO_A", help="a photo (JPEG, PNG, PGM, ...) with a face")
    parser.add_argument("photo_b", type=Path, metavar="PHOTO_B", help="the other photo")
    parser.add_argument("--model", default=None,
                        help="a registered model name (lab, reference, ...) or a face-model file (default: lab)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="call the faces the same person when the cosine is above this (default: the model's "
                             "calibrated threshold)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the sentence")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    return parser


def _align(path: Path):
    """The aligned largest face of the photo at ``path``; every failure is a one-line usage error naming it."""
    from labkit import faces

    if path.is_dir():
        raise cli.UsageError(f"{path} is a folder; give the path of a photo file")
    if not path.is_file():
        raise cli.UsageError(f"photo {path} not found; give the path of a photo file")
    try:
        return faces.align_photo(path)
    except faces.NoFaceError as exc:
        raise cli.UsageError(f"{cli.one_line(exc)}; use a photo where the face is clearly visible (at least 20 px "
                             "across)") from exc
    except CorruptImageError as exc:
        raise cli.UsageError(f"{cli.one_line(exc)}; give a JPEG, PNG or other image file") from exc
    except (ValueError, FileNotFoundError) as exc:  # a folder, missing detector weights, ...
        raise cli.UsageError(cli.one_line(exc)) from exc


def verify(photo_a: Path, photo_b: Path, model, threshold: float | None = None, device: str = "cpu") -> dict[str, Any]:
    """Align both photos, embed them with the test-time flip, and compare: the result object of ``--json``."""
    import torch

    from labkit.data.images import to_tensor
    from labkit.evaluate.features import cosine_pairs, embed_batches

    aligned = [_align(Path(photo_a)), _align(Path(photo_b))]
    batch = torch.stack([to_tensor(a.crop) for a in aligned])
    feats = embed_batches(model, batch, flip="concat", device=device)
    score = float(cosine_pairs(feats[:1], feats[1:])[0])
    card = model.card
    if threshold is not None:
        t, source = float(threshold), "given with --threshold"
    else:
        t, source = card.threshold, card.threshold_source or "not stated"
    return {
        "score": score,
        "threshold": t,
        "same": None if t is None else bool(score > t),
        "model": card.name,
        "model_description": card.description,
        "threshold_source": source if t is not None else "the model has no calibrated threshold; pass --threshold",
        "score_kind": "cosine of flip-concatenated features (Sec. 4.1)",
        "photos": [{"path": str(p), "size": list(a.image.shape[:2]), "faces_found": int(a.n_faces),
                    "face_used": a.face.to_json()} for p, a in zip((photo_a, photo_b), aligned)],
    }


def sentence(result: dict[str, Any]) -> str:
    """The one-line verdict: decision, score, threshold and where the threshold comes from."""
    extra = [f"{Path(p['path']).name}: {p['faces_found']} faces, the largest used" for p in result["photos"]
             if p["faces_found"] > 1]
    more = f"; {'; '.join(extra)}" if extra else ""
    if result["same"] is None:
        return (f"cosine {result['score']:.4f}; no decision: model {result['model']} has no calibrated threshold, "
                f"pass --threshold T{more}")
    verdict = "same person" if result["same"] else "different people"
    rel = ">" if result["same"] else "<="
    return (f"{verdict}: cosine {result['score']:.4f} {rel} threshold {result['threshold']:.4f} "
            f"(model {result['model']}; threshold: {result['threshold_source']}){more}")


@cli.command
def main(argv: list[str]) -> int:
    """``python -m labkit verify PHOTO_A PHOTO_B [--model NAME|FILE] [--json] [--threshold T]``; exit status 0, or
    2 with one line on a usage error."""
    from labkit.evaluate.cli import load_model

    args = build_parser().parse_args(argv)
    if args.device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise cli.UsageError(f"--device {args.device!r} is not a device; use cpu, cuda or cuda:N")
    if args.threshold is not None and not np.isfinite(args.threshold):
        raise cli.UsageError(f"--threshold {args.threshold} is not a finite number; give a cosine, e.g. 0.3")
    from labkit.evaluate.crops import image_size

    for path in (args.photo_a, args.photo_b):  # before loading any model: the cheap checks (header only)
        if path.is_dir():
            raise cli.UsageError(f"{path} is a folder; give the path of a photo file")
        if not path.is_file():
            raise cli.UsageError(f"photo {path} not found; give the path of a photo file")
        try:
            image_size(path)
        except CorruptImageError as exc:
            raise cli.UsageError(f"{cli.one_line(exc)}; give a JPEG, PNG or other image file") from exc
    model = load_model(args.model, args.device)
    result = verify(args.photo_a, args.photo_b, model, args.threshold, args.device)
    print(json.dumps(result, indent=2) if args.json else sentence(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
