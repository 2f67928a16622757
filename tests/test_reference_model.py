"""The reference model (labkit.reference, labkit.models.MobileFaceNet): the lab's own MobileFaceNet loads the
published state dict strictly, agrees with the published ONNX file under ONNX Runtime on real LFW crops, reproduces
the measured LFW View 2 accuracy through the lab's protocol code, and its calibrated threshold is recomputed here.
Install and bad-input paths go through the real commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit import models, reference, zoo
from labkit.config import REPO_ROOT

# A few View 2 images of different people, by relative path under the aligned crops
SAMPLE = ["Aaron_Peirsol/Aaron_Peirsol_0001.jpg", "Aaron_Peirsol/Aaron_Peirsol_0002.jpg",
          "George_W_Bush/George_W_Bush_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg",
          "Colin_Powell/Colin_Powell_0001.jpg", "Gloria_Macapagal_Arroyo/Gloria_Macapagal_Arroyo_0001.jpg"]
MEASURED_ACCURACY = 0.9933  # ONNX Runtime, LFW View 2, flip-concatenated, cosine (shared models/ README)


def _cli(*args: str, root: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if root is not None:
        env["LABKIT_DATA"] = str(root)
    return subprocess.run([sys.executable, "-m", "labkit", *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=env)


def test_registered_without_reading_weights(monkeypatch):
    """Importing labkit.reference registers the names; nothing is read until the loader runs."""
    monkeypatch.setenv("LABKIT_DATA", "/nonexistent/labkit-no-data")
    names = zoo.names()
    assert any(k.startswith("reference") and "mobilefacenet" in k for k in names)
    with pytest.raises(FileNotFoundError, match="data get mobilefacenet"):  # DataMissingError, at load time only
        zoo.load_face_model("mobilefacenet")


def test_preprocess_matches_an_independent_numpy_version():
    """ArcFaceInput on to_tensor pixels == pad 8 black columns each side, /255, ImageNet mean/std, done in numpy."""
    from labkit.data.images import to_tensor

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(112, 96, 3), dtype=np.uint8)
    padded = np.zeros((112, 112, 3), np.float64)
    padded[:, 8:104] = img
    expect = ((padded / 255 - np.array(models.IMAGENET_MEAN)) / np.array(models.IMAGENET_STD)).transpose(2, 0, 1)
    got = models.ArcFaceInput()(to_tensor(img)[None])[0].double().numpy()
    assert got.shape == (3, 112, 112)
    np.testing.assert_allclose(got, expect, rtol=0, atol=2e-6)


def test_architecture_counts():
    net = models.MobileFaceNet()
    assert sum(p.numel() for p in net.parameters()) == 999_936
    assert net(torch.zeros(2, 3, 112, 112)).shape == (2, 128)
    assert set(net.state_dict()) == set(models.MobileFaceNet(crops=True).state_dict())  # the adapter adds nothing


@pytest.mark.data
def test_state_dict_loads_strictly(reference_model_dir):
    state = torch.load(reference_model_dir / reference.WEIGHTS, map_location="cpu", weights_only=True)
    assert len(state) == 307
    models.MobileFaceNet().load_state_dict(state, strict=True)
    model = zoo.load_face_model("reference")
    assert model.card.name == "reference" and "NOT the CosFace paper's" in model.card.description
    assert model.card.threshold == reference.THRESHOLD and "6,000 pairs of LFW View 2" in model.card.threshold_source


@pytest.mark.data
def test_torch_matches_the_published_onnx_on_lfw_crops(reference_model_dir, data_dir):
    """The published ONNX takes 112x112 ImageNet-normalised input at batch 1; feed it the crops padded in numpy and
    compare with the lab's FaceModel on the plain crops."""
    from labkit.data.images import load_image, to_tensor
    from labkit.export import onnx_session, run_onnx

    folder = data_dir("lfw_aligned_112x96") / "lfw-112x96"
    model = zoo.load_face_model("reference")
    session = onnx_session(reference_model_dir / reference.ONNX)
    worst = 0.0
    for rel in SAMPLE:
        img = load_image(folder / rel)
        padded = np.zeros((112, 112, 3), np.float32)
        padded[:, 8:104] = img
        x = ((padded / 255 - np.float32(models.IMAGENET_MEAN)) / np.float32(models.IMAGENET_STD)).transpose(2, 0, 1)
        ref = run_onnx(session, x[None])
        with torch.no_grad():
            got = model(to_tensor(img)[None]).numpy()
        worst = max(worst, float(np.abs(got - ref).max()))
    assert worst <= 1e-4


@pytest.fixture(scope="module")
def view2(reference_model_dir):
    """Scores of the 6,000 View 2 pairs: flip-concatenated features of the 7,701 images (cached by model + data)."""
    from labkit import config
    from labkit.data import layout
    from labkit.evaluate.compare import cached_features
    from labkit.evaluate.lfw import load_lfw_pairs, lfw_pair_scores, unique_images

    images = layout.find("lfw_aligned", None, "images")
    if images is None or layout.find("lfw", None, "protocol") is None:
        msg = f"LFW View 2 and the aligned crops are not in the data root {config.data_root()} (CI: ../shared/data)"
        pytest.fail("LABKIT_REQUIRE_DATA=1 and " + msg, pytrace=False) if config.require_data() else pytest.skip(msg)
    pairs = load_lfw_pairs()
    rels = unique_images(pairs)
    feats = cached_features(zoo.load_face_model("reference"), images, rels)
    return pairs, lfw_pair_scores(dict(zip(rels, feats)), pairs)


@pytest.mark.data
@pytest.mark.slow
def test_lfw_view2_accuracy(view2):
    from labkit.evaluate.lfw import evaluate_lfw

    pairs, scores = view2
    res = evaluate_lfw(scores=scores, pairs=pairs)
    assert res.n_pairs == 6000 and res.n_folds == 10
    assert abs(res.mean_accuracy - MEASURED_ACCURACY) <= 0.001 and res.mean_accuracy >= 0.992
    assert res.roc.far_below_resolution == ["0.0001"]  # 3,000 mismatched pairs: FAR 1e-4 is below 1/3000


@pytest.mark.data
@pytest.mark.slow
def test_calibrated_threshold_is_recomputed(view2):
    from labkit.evaluate.calibrate import calibrate

    pairs, scores = view2
    threshold, source = calibrate(scores, [p.same for p in pairs], "LFW View 2")
    assert threshold == pytest.approx(reference.THRESHOLD, abs=1e-4)
    assert source.startswith(f"best accuracy ({100 * reference.THRESHOLD_ACCURACY:.2f} %) on the 6,000 pairs")


def test_data_get_installs_from_a_folder_and_verifies(tmp_path, reference_model_dir):
    root = tmp_path / "root"
    run = _cli("data", "-q", "get", "mobilefacenet", "--from", str(reference_model_dir), "--root", str(root))
    assert run.returncode == 0, run.stderr
    dest = root / "models" / "mobilefacenet"
    assert {p.name for p in dest.iterdir()} >= {*reference.SHA256, "MANIFEST.sha256"}
    assert reference.model_dir(root) == dest.resolve()
    assert reference.load_reference(root).card.name == "reference"


def test_data_get_refuses_a_corrupt_source(tmp_path, reference_model_dir):
    src = tmp_path / "src"
    shutil.copytree(reference_model_dir, src)
    with open(src / reference.WEIGHTS, "r+b") as f:
        f.truncate(100_000)
    run = _cli("data", "-q", "get", "mobilefacenet", "--from", str(src), "--root", str(tmp_path / "root"))
    assert run.returncode == 1 and "checksum mismatch for mobilefacenet.pt" in run.stderr
    assert not (tmp_path / "root" / "models" / "mobilefacenet" / reference.WEIGHTS).exists()


def test_corrupt_installed_weights_are_one_line_naming_the_file(tmp_path):
    """A truncated weight file in the data root: the loader (through a real command) names it and says how to
    reinstall, exit status 2, no traceback."""
    folder = tmp_path / "models" / "mobilefacenet"
    folder.mkdir(parents=True)
    (folder / reference.WEIGHTS).write_bytes(b"PK\x03\x04 truncated")
    run = _cli("export", "onnx", "--model", "reference", "--out", str(tmp_path / "x.onnx"), root=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    line = run.stderr.strip()
    assert len(line.splitlines()) == 1
    assert str(folder / reference.WEIGHTS) in line and "corrupt or truncated" in line
    assert "data get mobilefacenet" in line
