"""``python -m labkit verify PHOTO_A PHOTO_B``: the verdict on two shipped photos, checked against the pipeline run
in-process, and every bad input as one line with exit status 2 (real subprocesses, as in test_cli.py).

The model is a seeded untrained network saved with :func:`labkit.zoo.save_face_model` (its card carries a
threshold): what is tested is the wiring (detection, alignment, flip-concatenated features, cosine, threshold and
its source), not how well an untrained network tells people apart.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.evaluate import photos
from test_cli import _run, _usage_error
from test_eval_pairs import save_small_model

pytestmark = pytest.mark.slow

SHIPPED = {p.name: p for p in photos.shipped_photos()}
A, B = SHIPPED["Kim_Clijsters_0001.jpg"], SHIPPED["Hugo_Chavez_0001.jpg"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return save_small_model(tmp_path_factory.mktemp("model") / "tiny.pt")


def test_json_verdict_is_the_pipeline_run_by_hand(tmp_path, model_file):
    from labkit import faces, zoo
    from labkit.data.images import to_tensor

    proc = _run(tmp_path, "verify", str(A), str(B), "--model", str(model_file), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads(proc.stdout)
    # by hand: align each photo's largest face, embed crop and mirror image, concatenate, cosine
    model = zoo.load_face_model(model_file)
    feats = []
    for path in (A, B):
        crop = to_tensor(faces.align_photo(path).crop)[None]
        with torch.no_grad():
            feats.append(torch.cat([model(crop), model(torch.flip(crop, dims=[3]))], dim=1)[0].numpy())
    cos = float(np.dot(feats[0], feats[1]) / (np.linalg.norm(feats[0]) * np.linalg.norm(feats[1])))
    assert got["score"] == pytest.approx(cos, abs=1e-5)
    assert got["threshold"] == 0.5 and got["threshold_source"] == "set by the test" and got["model"] == "tiny-test"
    assert got["same"] is (got["score"] > 0.5)
    assert [p["path"] for p in got["photos"]] == [str(A), str(B)]
    assert all(p["faces_found"] >= 1 and len(p["face_used"]["landmarks"]) == 5 for p in got["photos"])
    # --threshold overrides the card; the sentence says the decision, the numbers and where the threshold is from
    t = got["score"] + 0.01
    line = _run(tmp_path, "verify", str(A), str(B), "--model", str(model_file), "--threshold", f"{t}").stdout
    assert line.startswith(f"different people: cosine {got['score']:.4f} <= threshold {t:.4f}")
    assert "given with --threshold" in line and len(line.strip().splitlines()) == 1


def test_bad_inputs_are_one_line(tmp_path, model_file):
    m = ["--model", str(model_file)]
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all")
    _usage_error(_run(tmp_path, "verify", str(text), str(B), *m), "notes.jpg", "cannot decode")
    data = A.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    _usage_error(_run(tmp_path, "verify", str(A), str(cut), *m), "cut.jpg")
    blank = tmp_path / "wall.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    _usage_error(_run(tmp_path, "verify", str(blank), str(B), *m), "no face found in", "wall.png")
    _usage_error(_run(tmp_path, "verify", str(tmp_path), str(B), *m), "is a folder")
    _usage_error(_run(tmp_path, "verify", str(A), str(tmp_path / "absent.jpg"), *m), "absent.jpg", "not found")
    line = _usage_error(_run(tmp_path, "verify", str(A), str(B), "--model", "no-such-model"), "no-such-model")
    assert "lab" in line  # the valid names are listed
