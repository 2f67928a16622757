"""``python -m labkit faces detect`` and ``data align`` without a landmark file, run for real in a subprocess (as
tests/test_cli.py does): the JSON and text output, and one ``error:`` line with exit status 2 for each bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from labkit.data.align import read_landmarks
from tests.test_cli import _run, _usage_error


@pytest.fixture(scope="module")
def photo(request):
    from tests.conftest import _locate

    return _locate("lfw_original_sample") / "lfw" / "Colin_Powell" / "Colin_Powell_0001.jpg"


def test_detect_json_and_text(tmp_path, photo):
    wall = tmp_path / "wall.png"
    Image.new("RGB", (200, 150), (128, 120, 110)).save(wall)
    proc = _run(tmp_path, "faces", "detect", str(photo), str(wall), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["photo"] for d in lines] == [str(photo), str(wall)]
    faces = lines[0]["faces"]
    assert len(faces) >= 1 and lines[1]["faces"] == []  # no face is not an error
    f = faces[0]
    assert set(f) == {"box", "score", "landmarks"} and len(f["box"]) == 4 and 0.9 < f["score"] <= 1.0
    pts = np.array(f["landmarks"])
    assert pts.shape == (5, 2)
    assert pts[0, 0] < pts[1, 0] and pts[2, 1] < pts[3, 1]  # left eye left of the right eye, nose above the mouth
    proc = _run(tmp_path, "faces", "detect", str(photo), str(wall))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith(f"{photo}: {len(faces)} face") and "score" in out[0]
    assert out[1] == f"{wall}: 0 faces"


def test_detect_bad_input_is_one_line(tmp_path, photo):
    (tmp_path / "notes.jpg").write_text("not an image")
    data = photo.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    _usage_error(_run(tmp_path, "faces", "detect", str(tmp_path / "notes.jpg")), "notes.jpg", "cannot decode")
    _usage_error(_run(tmp_path, "faces", "detect", str(photo), str(tmp_path / "cut.jpg")), "cut.jpg")
    _usage_error(_run(tmp_path, "faces", "detect", str(tmp_path)), str(tmp_path), "folder")
    _usage_error(_run(tmp_path, "faces", "detect", str(tmp_path / "gone.jpg")), "gone.jpg", "not found")
    _usage_error(_run(tmp_path, "faces"), "faces")


def test_data_align_detects_landmarks_itself(tmp_path, photo):
    src = tmp_path / "src" / "Colin_Powell"
    src.mkdir(parents=True)
    shutil.copy(photo, src / photo.name)
    Image.new("RGB", (250, 250), (128, 120, 110)).save(src / "wall.jpg")
    dst = tmp_path / "dst"
    proc = _run(tmp_path, "data", "-q", "align", str(tmp_path / "src"), str(dst))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no face in 1" in proc.stdout and "Colin_Powell/wall.jpg" in proc.stdout
    table = read_landmarks(dst / "landmarks.tsv")
    assert list(table) == [f"Colin_Powell/{photo.name}"]
    ref = read_landmarks(photo.parents[2].parent / "lfw_aligned_112x96" / "lfw_landmark.txt")
    assert np.linalg.norm(table[f"Colin_Powell/{photo.name}"] - ref[f"Colin_Powell/{photo.name}"], axis=1).mean() < 4
    assert Image.open(dst / "Colin_Powell" / photo.name).size == (96, 112)
    assert (dst / "Colin_Powell" / "wall.jpg").is_file()  # the centre-crop fallback
