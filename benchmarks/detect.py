"""Photo -> aligned 112x96 crop on ONE CPU core: MTCNN detection (labkit.faces) plus the 5-point alignment.

    python benchmarks/detect.py [--repeat 5]

Times :func:`labkit.faces.align_photo` (detection + alignment) on the 40 original LFW photos (250x250) and on
2000x1500 photos made from them (upscaled 4x on a canvas), best of ``--repeat`` runs per photo, median over photos.
Baselines measured in the same run: decoding the photo's JPEG, and P-Net alone over the pyramid that the search
uses. Also the time per stage (pyramid + P-Net, R-Net, O-Net, alignment) of the 250x250 search, to show where the
time goes. Needs the data root's ``lfw_original_sample`` (``LABKIT_DATA``).
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labkit import config  # noqa: E402
from labkit.data.align import align_face  # noqa: E402
from labkit.faces import align_photo, load_photo  # noqa: E402
from labkit.faces import photo as P  # noqa: E402

D = importlib.import_module("labkit.faces.detect")


def best_ms(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def big_photo(img: np.ndarray) -> bytes:
    canvas = np.full((1500, 2000, 3), 90, np.uint8)
    canvas[300:1300, 700:1700] = np.asarray(Image.fromarray(img).resize((1000, 1000), Image.BICUBIC))
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def stages(img: np.ndarray, repeat: int) -> dict[str, float]:
    px = D.as_pixels(img)
    min_face = max(P.MIN_FACE, min(img.shape[:2]) * P.MIN_FACE_FRACTION)
    pnet = D.load_nets()[0]
    with torch.inference_mode():
        b1 = D._stage1(px, min_face, D.THRESHOLDS[0], D.PYRAMID_FACTOR)
        b2 = D._stage2(px, b1, D.THRESHOLDS[1])
        faces = D._stage3(px, b2, D.THRESHOLDS[2])
        h, w = img.shape[:2]

        def pnet_only():
            for s in D.pyramid_scales(h, w, min_face):
                level = torch.nn.functional.interpolate(px[None], size=(int(np.ceil(h * s)), int(np.ceil(w * s))),
                                                        mode="bilinear", antialias=True)
                pnet(D.normalise(level).contiguous(memory_format=torch.channels_last))

        return {"pyramid + P-Net + NMS": best_ms(lambda: D._stage1(px, min_face, 0.6, D.PYRAMID_FACTOR), repeat),
                "P-Net alone": best_ms(pnet_only, repeat),
                f"R-Net ({len(b1)} boxes)": best_ms(lambda: D._stage2(px, b1, 0.7), repeat),
                f"O-Net ({len(b2)} boxes)": best_ms(lambda: D._stage3(px, b2, 0.7), repeat),
                "alignment": best_ms(lambda: align_face(img, faces[0].landmarks), repeat),
                "levels": len(D.pyramid_scales(h, w, min_face))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--photos", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(1)
    folder = config.data_root() / "lfw_original_sample" / "lfw"
    files = sorted(folder.rglob("*.jpg"))[: args.photos]
    if not files:
        sys.exit(f"error: no photos under {folder}; set LABKIT_DATA to the data root holding lfw_original_sample")
    blobs = [f.read_bytes() for f in files]

    def decode(blob: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(blob)) as im:
            return np.asarray(im.convert("RGB"))

    align_photo(decode(blobs[0]))  # load the weights, warm up
    for label, data in (("250x250", blobs), ("2000x1500", [big_photo(decode(b)) for b in blobs[:10]])):
        dec = np.median([best_ms(lambda b=b: decode(b), args.repeat) for b in data])
        full = np.median([best_ms(lambda b=b: align_photo(decode(b)), args.repeat) for b in data])
        print(f"{label}: decode + detect + align {full:.1f} ms per photo; decode alone {dec:.1f} ms "
              f"(detect + align = {(full - dec) / dec:.1f}x decoding), {len(data)} photos, one thread")
    img = decode(blobs[0])
    st = stages(img, args.repeat)
    pnet = st["P-Net alone"]
    print(f"250x250 stages ({st.pop('levels')} pyramid levels, min face "
          f"{max(P.MIN_FACE, 250 * P.MIN_FACE_FRACTION):.0f} px):")
    for name, ms in st.items():
        print(f"  {name:24s} {ms:6.1f} ms  ({ms / pnet:.2f}x P-Net alone)")


if __name__ == "__main__":
    main()
