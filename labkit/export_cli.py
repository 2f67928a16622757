"""``python -m labkit export onnx``: write a lab model to ONNX, taking the lab's 112x96 crops, dynamic batch.

    python -m labkit export onnx --model reference --out mobilefacenet_crops.onnx      # a registered model
    python -m labkit export onnx --checkpoint runs/s20/last.pt --out sphere20.onnx     # a `labkit train` run
    python -m labkit export onnx --model my_model.pt --out my_model.onnx               # a face-model file

After writing, the file is run under ONNX Runtime on a batch of random crops and compared with torch; the largest
embedding difference is printed. The graph holds the network only: the paper's test-time flip (Sec. 4.1) is
applied by the caller (embed the image and its mirror image, concatenate). See :mod:`labkit.export`.

A bad option, an unknown model or a corrupt weight file ends with one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labkit import cli


def _load(args: argparse.Namespace):
    from labkit import zoo

    if args.checkpoint is not None:
        path = Path(args.checkpoint)
        if not path.is_file():
            raise cli.UsageError(f"--checkpoint {path} is not a file; give a `python -m labkit train` checkpoint "
                                 "(OUT/last.pt) or a face-model file")
        return zoo.load_model_file(path)
    return zoo.load_face_model(args.model)


def _onnx(args: argparse.Namespace) -> int:
    import torch

    from labkit import export

    out = Path(args.out)
    if out.suffix != ".onnx":
        raise cli.UsageError(f"--out {out} should end in .onnx; give a file name such as model.onnx")
    if out.is_dir():
        raise cli.UsageError(f"--out {out} is a folder; give a file name such as {out}/model.onnx")
    if not out.parent.is_dir():
        raise cli.UsageError(f"the folder of --out, {out.parent}, does not exist; create it or pick another path")
    model = _load(args)
    export.export_onnx(model, out, opset=args.opset)
    crops = torch.randn(3, 3, *export.CROP_SIZE, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    diff = export.max_difference(model, out, crops)
    print(f"wrote {out} ({out.stat().st_size:,} bytes): {model.name}, input (batch, 3, 112, 96) crops, "
          f"output (batch, {model(crops[:1]).shape[1]}); ONNX Runtime vs torch on 3 random crops: max |diff| "
          f"{diff:.2e}")
    return 0


@cli.command
def main(argv: list[str]) -> int:
    """Entry point of ``python -m labkit export``; returns the exit status (2 with one line on a usage error)."""
    parser = cli.ArgumentParser(prog="python -m labkit export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="fmt", required=True, metavar="{onnx}")
    o = sub.add_parser("onnx", help="export to ONNX (dynamic batch, the lab's 112x96 crops in)")
    src = o.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", default=None, help="a `python -m labkit train` checkpoint or a face-model file")
    src.add_argument("--model", default=None, help="a registered model name (`reference`, `lab`, ...) or a "
                                                   "face-model file")
    o.add_argument("--out", required=True, help="the ONNX file to write (FILE.onnx)")
    o.add_argument("--opset", type=cli.positive_int, default=17, help="ONNX opset (default 17)")
    o.set_defaults(func=_onnx)
    args = parser.parse_args(argv)
    import torch

    with torch.no_grad(), cli.usage_errors():  # UnknownModelError, a checksum or format error: all ValueError
        return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
