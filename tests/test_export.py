"""ONNX export (labkit.export, ``python -m labkit export onnx``): every network of the lab, wrapper included, run
under ONNX Runtime against torch on the lab's 112x96 crops, at a batch size other than the one exported with."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from labkit import export, models, zoo
from labkit.config import REPO_ROOT

TOL = 1e-4


def _crops(n: int, seed: int = 0) -> torch.Tensor:
    """Random crops in the range of to_tensor pixels, [-127.5/128, 127.5/128]."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, *zoo.CROP_SIZE, generator=g) * 255 - 127.5) / 128


def _face_model(arch: str) -> zoo.FaceModel:
    torch.manual_seed(0)
    card = zoo.ModelCard(name=arch, description=f"random-init {arch}")
    if arch == "SmallCNN":  # the lab-scale network: 28x24 input, 128-d, area-averaged from the crops by the wrapper
        net = models.SmallCNN(input_size=(28, 24), channels=(32, 64, 128, 128), hidden=256, feat_dim=128)
        return zoo.FaceModel(net, card, input_size=(28, 24)).eval()
    if arch == "mobilefacenet":
        return zoo.FaceModel(models.MobileFaceNet(), card, preprocess=models.ArcFaceInput()).eval()
    return zoo.FaceModel(models.make_model(arch), card).eval()


@pytest.mark.parametrize("arch", ["lab_cnn", "SmallCNN", "sphere20", "sphere36", "sphere64", "mobilefacenet"])
def test_export_matches_torch_with_dynamic_batch(arch, tmp_path):
    model = _face_model(arch)
    path = export.export_onnx(model, tmp_path / f"{arch}.onnx", batch=2)
    session = export.onnx_session(path)
    assert session.get_inputs()[0].shape[1:] == [3, 112, 96]
    assert isinstance(session.get_inputs()[0].shape[0], str)  # the batch axis is symbolic
    for n in (1, 3):  # neither is the exported batch size
        x = _crops(n, seed=n)
        with torch.no_grad():
            ref = model(x).numpy()
        got = export.run_onnx(session, x)
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= TOL, arch


def test_metadata_carries_the_card(tmp_path):
    import onnx

    model = _face_model("lab_cnn")
    model.card.threshold, model.card.threshold_source = 0.25, "best accuracy on some pairs"
    proto = onnx.load(str(export.export_onnx(model, tmp_path / "m.onnx")))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["labkit.name"] == "lab_cnn" and meta["labkit.threshold"] == "0.25"
    assert meta["labkit.threshold_source"] == "best accuracy on some pairs"


def test_face_model_file_round_trip_exports(tmp_path):
    """A face-model file of a MobileFaceNet (``EXTRA_CONSTRUCTORS``) rebuilds a network taking crops, exports through
    ``--checkpoint``, and agrees with the FaceModel it was saved from."""
    model = _face_model("mobilefacenet")
    with torch.no_grad():  # give the batch norms non-trivial statistics
        for mod in model.network.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    file = zoo.save_face_model(tmp_path / "mfn.pt", model.network, "mobilefacenet", {}, (112, 96), model.card)
    out = tmp_path / "mfn.onnx"
    run = subprocess.run([sys.executable, "-m", "labkit", "export", "onnx", "--checkpoint", str(file), "--out",
                          str(out)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr
    assert "max |diff|" in run.stdout
    x = _crops(2)
    with torch.no_grad():
        ref = model(x).numpy()
    assert np.abs(export.run_onnx(export.onnx_session(out), x) - ref).max() <= TOL


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "labkit", "export", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env={**os.environ, **(env or {})})


def test_unknown_model_is_one_line_listing_the_names(tmp_path):
    run = _cli("onnx", "--model", "no_such_model", "--out", str(tmp_path / "x.onnx"))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert "no_such_model" in lines[0] and "reference" in lines[0]
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("args, says", [
    (["onnx", "--model", "reference"], "--out"),
    (["onnx", "--model", "reference", "--checkpoint", "a.pt", "--out", "x.onnx"], "not allowed with"),
    (["onnx", "--model", "reference", "--out", "x.txt"], "should end in .onnx"),
    (["onnx", "--checkpoint", "/nonexistent/last.pt", "--out", "x.onnx"], "is not a file"),
])
def test_bad_command_lines(args, says):
    run = _cli(*args)
    assert run.returncode == 2 and says in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
