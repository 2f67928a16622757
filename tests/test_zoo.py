"""labkit.zoo: a face-model file round-trips; FaceModel area-averages 112x96 crops to the network's input size;
a name or path that is no model gets one clear error."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from labkit import zoo
from labkit.models import SmallCNN


def _small(input_size=(28, 24)) -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(input_size, (8, 8, 8, 8), hidden=16, feat_dim=8).eval()


def test_face_model_file_round_trips(tmp_path):
    net = _small()
    card = zoo.ModelCard("tiny", "a test network", threshold=0.31, threshold_source="made up", info={"fold": 0})
    path = zoo.save_face_model(tmp_path / "m.pt", net, "SmallCNN",
                               {"input_size": [28, 24], "channels": [8, 8, 8, 8], "hidden": 16, "feat_dim": 8},
                               (28, 24), card)
    model = zoo.load_face_model(path)
    assert model.card == card
    x = torch.randn(3, 3, 112, 96)
    expected = net(F.avg_pool2d(x, 4))  # 112x96 -> 28x24: 4x4 area averages
    torch.testing.assert_close(model(x), expected)


def test_face_model_takes_only_lab_crops():
    model = zoo.FaceModel(_small((56, 48)), zoo.ModelCard("m"), (56, 48)).eval()
    with pytest.raises(ValueError, match="112x96"):
        model(torch.randn(1, 3, 56, 48))
    with pytest.raises(ValueError, match="whole factor"):
        zoo.FaceModel(_small(), zoo.ModelCard("m"), (30, 24))


def test_unknown_model_names_the_valid_ones(tmp_path):
    with pytest.raises(zoo.UnknownModelError, match="names no model"):
        zoo.load_face_model("no-such-model")
    with pytest.raises(zoo.UnknownModelError, match="is a folder"):
        zoo.load_face_model(tmp_path)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a model file"):
        zoo.load_face_model(bad)


def test_a_registered_name_loads_through_its_loader():
    zoo.register("test-tiny", lambda: zoo.FaceModel(_small(), zoo.ModelCard("test-tiny"), (28, 24)),
                 "a tiny network for this test", aliases=("tt",))
    try:
        assert zoo.load_face_model("tt").name == "test-tiny"
        assert "test-tiny (tt)" in zoo.names()
    finally:
        zoo._REGISTRY.pop("test-tiny")
        zoo._ALIASES.pop("tt")
