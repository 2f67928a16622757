"""The shipped lab model, ``--model lab`` (issue #23): the file matches its manifest, loads by name with
weights_only, takes the lab's 112x96 crops, and reproduces the accuracy and threshold its card states on the View 2
fold it was tested on (600 pairs of people it never saw)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from labkit import shipped_model, zoo


def test_file_matches_manifest_and_is_small():
    man = shipped_model.manifest()
    path = shipped_model.model_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == man["sha256"]
    assert path.stat().st_size == man["bytes"] < 5_000_000
    assert man["current"]["data"]["protocol"] == "view2" and "never saw" in man["current"]["threshold_source"]


def test_loads_by_name_and_embeds_crops():
    model = zoo.load_face_model("lab")
    man = shipped_model.manifest()
    assert "lab" in zoo.names()
    assert model.card.threshold == pytest.approx(man["current"]["threshold"])
    assert tuple(model.input_size) == tuple(man["current"]["input_size"])
    with torch.no_grad():
        f = model(torch.zeros(2, 3, 112, 96))
    assert f.shape == (2, 128)
    with pytest.raises(ValueError, match="112x96"):
        model(torch.zeros(1, 3, 56, 48))


def test_reproduces_its_card_on_its_test_fold(data_dir):
    from labkit.data.lfw import view2_fold_pairs
    from labkit.evaluate import cosine_pairs, kfold_verification
    from labkit.evaluate.features import embed_paths

    root = data_dir("lfw").parent
    model = zoo.load_face_model("lab")
    cur = shipped_model.manifest()["current"]
    pairs = view2_fold_pairs(cur["data"]["test_fold"], root)
    folder = root / "lfw_aligned_112x96" / "lfw-112x96"
    rel = sorted({r for p in pairs for r in p.relpaths()})
    feats = embed_paths(model, [folder / r for r in rel])
    row = {r: i for i, r in enumerate(rel)}
    a, b = zip(*(p.relpaths() for p in pairs))
    scores = cosine_pairs(feats[[row[x] for x in a]], feats[[row[x] for x in b]])
    same = np.array([p.same for p in pairs])
    res = kfold_verification(scores, same, np.array([p.fold for p in pairs]))
    # the card was computed the same way (112x96 crops through the FaceModel): it is reproduced exactly
    assert res.mean_accuracy == pytest.approx(cur["accuracy_10fold"], abs=1e-5)
    assert np.mean((scores > cur["threshold"]) == same) == pytest.approx(cur["accuracy_at_threshold"], abs=1e-5)
    # the threshold is the best one on these pairs: no other cut does better
    best = max(np.mean((scores > t) == same) for t in scores)
    assert np.mean((scores > cur["threshold"]) == same) >= best - 1e-12


@pytest.mark.parametrize("argv, match", [
    (["--save-model", "x.pt", "--model-size", "50x40"], "--model-size 50x40"),
    (["--save-model", "x.pt", "--model-extra", "casia"], "extra training sets must be among celeba"),
    (["--ten-folds"], "--ten-folds needs --out"),
])
def test_cli_usage_errors_are_one_line_and_exit_2(argv, match, capsys):
    from labkit.experiments.lab_scale.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err and "Traceback" not in err
