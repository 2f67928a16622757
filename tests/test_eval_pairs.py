"""``python -m labkit eval pairs``: any identity-folder set against a pairs file, ``--pairs auto``, and its errors.

The model is a small untrained network saved with :func:`labkit.zoo.save_face_model` (seeded): the tests compare
numbers between two routes to the same features, so what the network learned does not matter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit import zoo
from labkit.data.lfw import Pair, read_pairs
from labkit.evaluate import pairs as fp
from test_cli import _run, _usage_error  # the subprocess runner and one-line-error check of the CLI tests


def save_small_model(path: Path, seed: int = 0) -> Path:
    """A seeded, untrained SmallCNN at 28x24 with 16-d features, as a face-model file."""
    from labkit.models import SmallCNN

    torch.manual_seed(seed)
    kw = {"input_size": [28, 24], "channels": [8, 16, 16], "hidden": 32, "feat_dim": 16}
    net = SmallCNN(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()})
    card = zoo.ModelCard(name="tiny-test", description="untrained SmallCNN for tests", threshold=0.5,
                         threshold_source="set by the test")
    return zoo.save_face_model(path, net, "SmallCNN", kw, (28, 24), card)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return save_small_model(tmp_path_factory.mktemp("model") / "tiny.pt")


def _aligned_root(data_dir) -> Path:
    return data_dir("lfw_aligned_112x96") / "lfw-112x96"


# ------------------------------------------------------------------------------------------------ the index rule


def _touch_images(folder: Path, names: list[str], size=(96, 112)) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.new("RGB", size, (120, 90, 60)).save(folder / n)


def test_index_rule_lfw_names_and_numeric_stems(tmp_path):
    _touch_images(tmp_path / "Ann_Lee", ["Ann_Lee_0001.jpg", "Ann_Lee_0002.png"])
    _touch_images(tmp_path / "s1", ["1.pgm", "2.pgm", "10.pgm"])
    assert {i: p.name for i, p in fp.identity_index(tmp_path / "Ann_Lee").items()} == {1: "Ann_Lee_0001.jpg",
                                                                                      2: "Ann_Lee_0002.png"}
    assert sorted(fp.identity_index(tmp_path / "s1")) == [1, 2, 10]
    pairs = [Pair("s1", 1, "s1", 10, True, 0), Pair("Ann_Lee", 2, "s1", 2, False, 0)]
    got = fp.resolve_pairs(pairs, tmp_path)
    assert got == [(tmp_path / "s1" / "1.pgm", tmp_path / "s1" / "10.pgm"),
                   (tmp_path / "Ann_Lee" / "Ann_Lee_0002.png", tmp_path / "s1" / "2.pgm")]


def test_index_rule_rejects_other_names_and_duplicates(tmp_path):
    _touch_images(tmp_path / "x", ["portrait.jpg"])
    with pytest.raises(fp.PairsError, match="follows neither naming rule"):
        fp.identity_index(tmp_path / "x")
    _touch_images(tmp_path / "y", ["1.jpg", "01.png"])
    with pytest.raises(fp.PairsError, match="both are image 1"):
        fp.identity_index(tmp_path / "y")


def test_resolve_names_the_line_of_a_missing_identity_or_index(tmp_path):
    _touch_images(tmp_path / "s1", ["1.pgm", "2.pgm"])
    with pytest.raises(fp.PairsError, match=r"p\.txt:3: identity 'nobody'"):
        fp.resolve_pairs([Pair("s1", 1, "s1", 2, True, 0), Pair("nobody", 1, "s1", 2, False, 0)], tmp_path, "p.txt")
    with pytest.raises(fp.PairsError, match=r"p\.txt:2: image index 5 of s1 is out of range.*images 1\.\.2"):
        fp.resolve_pairs([Pair("s1", 1, "s1", 5, True, 0)], tmp_path, "p.txt")


# ------------------------------------------------------------------------------------------------ --pairs auto


def _small_set(tmp_path: Path, data_dir, people: int = 12, per: int = 4) -> Path:
    """The first ``people`` LFW identities with at least ``per`` images (first ``per`` each) plus 4 with one."""
    src = _aligned_root(data_dir)
    multi = [d for d in sorted(src.iterdir()) if len(list(d.iterdir())) >= per][:people]
    single = [d for d in sorted(src.iterdir()) if len(list(d.iterdir())) == 1][:4]
    root = tmp_path / "faces"
    for d in multi + single:
        (root / d.name).mkdir(parents=True)
        for f in sorted(d.iterdir())[:per]:
            shutil.copy(f, root / d.name / f.name)
    return root


def test_auto_pairs_are_person_disjoint_balanced_and_seeded(tmp_path):
    for k in range(9):  # 9 people with 3 images, 3 with 1: identity folders named by number (stem rule)
        _touch_images(tmp_path / f"p{k}", [f"{i}.png" for i in range(1, 4 if k < 6 else 2)])
    made = fp.auto_pairs(tmp_path, n_folds=3, pairs_per_fold=50, seed=4)
    where = fp.check_person_disjoint(made.pairs)
    assert set(where) == {f"p{k}" for k in range(9)}
    # each fold: 2 people with 3 images (3 matched pairs each) + 1 single -> 6 matched; mismatched 3*3 + 2*3*1 = 15
    assert made.per_fold == 6 and len(made.pairs) == 3 * 2 * 6
    for f in range(3):
        fold = [p for p in made.pairs if p.fold == f]
        assert sum(p.same for p in fold) == 6 == sum(not p.same for p in fold)
        assert len(set(fold)) == len(fold)  # no pair twice
        assert all((p.name1 == p.name2) == p.same for p in fold)
    assert fp.auto_pairs(tmp_path, n_folds=3, pairs_per_fold=50, seed=4).pairs == made.pairs
    assert fp.auto_pairs(tmp_path, n_folds=3, pairs_per_fold=50, seed=5).pairs != made.pairs
    # the written file parses back (LFW's parser) to the same pairs
    path = fp.write_pairs(made.pairs, tmp_path / "auto.txt")
    assert read_pairs(path) == made.pairs


def test_auto_pairs_says_when_the_folder_is_too_small(tmp_path):
    for k in range(3):
        _touch_images(tmp_path / f"p{k}", ["1.png", "2.png"])
    with pytest.raises(fp.PairsError, match="3 identities .*10 person-disjoint folds need at least 20"):
        fp.auto_pairs(tmp_path)


@pytest.mark.slow
def test_cli_pairs_auto_writes_disjoint_folds_and_reuses_them(tmp_path, data_dir, model_file):
    root = _small_set(tmp_path, data_dir)
    out = tmp_path / "res" / "mine.json"
    args = ["eval", "pairs", str(root), "--pairs", "auto", "--model", str(model_file), "--folds", "4", "--seed", "3",
            "--out", str(out)]
    first = _run(tmp_path, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    written = tmp_path / "res" / "mine.pairs_seed3.txt"
    assert f"wrote {written}" in first.stdout and "TAR at FAR 0.001" in first.stdout
    pairs = read_pairs(written)
    where = fp.check_person_disjoint(pairs)
    assert len(set(where.values())) == 4 and len(set(where)) == 16
    text = written.read_text()
    result = json.loads(out.read_text())
    assert 0 <= result["mean_accuracy"] <= 1 and result["n_folds"] == 4 and result["n_pairs"] == len(pairs)
    assert result["options"]["pairs_file"] == str(written) and result["options"]["seed"] == 3
    # the same seed again: the same pairs, the file re-used as it is, the same numbers
    second = _run(tmp_path, *args)
    assert second.returncode == 0, second.stderr
    assert f"re-used {written}" in second.stdout and written.read_text() == text
    assert json.loads(out.read_text())["fold_accuracies"] == result["fold_accuracies"]
    # and given back as a pairs file, it gives the same numbers
    again = _run(tmp_path, "eval", "pairs", str(root), "--pairs", str(written), "--model", str(model_file),
                 "--out", str(tmp_path / "given.json"))
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "given.json").read_text())["fold_accuracies"] == result["fold_accuracies"]
    # a file there with other pairs is never overwritten
    written.write_text(text.replace("\t1\t2\n", "\t2\t1\n", 1))
    _usage_error(_run(tmp_path, *args), "holds other pairs", "--pairs FILE")


# ------------------------------------------------------------------------------------------------ eval pairs == eval lfw


@pytest.mark.slow
def test_eval_pairs_on_lfw_equals_eval_lfw(tmp_path, data_dir, model_file):
    """Same pairs (the first 50 + 50 of View 2 folds 0 and 1), same model: `eval pairs` on the aligned LFW folder
    and `eval lfw` give the same fold accuracies and thresholds, bit for bit."""
    lfw = data_dir("lfw")
    aligned = data_dir("lfw_aligned_112x96")
    pairs = [p for p in read_pairs(lfw / "pairs.txt") if p.fold < 2]
    sub = [p for f in (0, 1) for same in (True, False) for p in [q for q in pairs if q.fold == f and q.same == same][:50]]
    root = tmp_path / "root"
    (root / "lfw").mkdir(parents=True)
    (root / "lfw_aligned_112x96").symlink_to(aligned)
    fp.write_pairs(sub, root / "lfw" / "pairs.txt")
    a = _run(tmp_path, "eval", "lfw", "--model", str(model_file), "--out", str(tmp_path / "lfw.json"), data_root=root)
    assert a.returncode == 0, a.stdout + a.stderr
    b = _run(tmp_path, "eval", "pairs", str(aligned / "lfw-112x96"), "--pairs", str(root / "lfw" / "pairs.txt"),
             "--no-detect", "--model", str(model_file), "--out", str(tmp_path / "pairs.json"))
    assert b.returncode == 0, b.stdout + b.stderr
    ra, rb = (json.loads((tmp_path / n).read_text()) for n in ("lfw.json", "pairs.json"))
    assert ra["n_pairs"] == rb["n_pairs"] == 200
    for key in ("mean_accuracy", "standard_error", "fold_accuracies", "fold_thresholds"):
        assert ra[key] == rb[key], key
    assert ra["roc"]["auc"] == rb["roc"]["auc"] and ra["roc"]["tar_at_far"] == rb["roc"]["tar_at_far"]
    # and in-process, the features of both routes are identical
    from labkit.evaluate import crops
    from labkit.evaluate.lfw import embed_lfw

    model = zoo.load_face_model(model_file)
    paths = fp.resolve_pairs(sub[:4], aligned / "lfw-112x96")
    imgs = fp.unique_paths(paths, aligned / "lfw-112x96")
    mine = crops.embed_aligned(model, imgs)
    theirs = embed_lfw(lambda ps: crops.embed_paths(model, ps), sub[:4], root, "aligned")
    ref = np.stack([theirs[str(p.relative_to(aligned / "lfw-112x96"))] for p in imgs])
    np.testing.assert_array_equal(mine, ref)


# ------------------------------------------------------------------------------------------------ bad input


def _pairs_file(path: Path, lines: list[str], header: str = "2\t1") -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.fixture
def crop_set(tmp_path) -> Path:
    """Four identities of aligned 112x96 crops named by number (uniform colours)."""
    for k in range(4):
        _touch_images(tmp_path / "set" / f"id{k}", ["1.png", "2.png"])
    return tmp_path / "set"


GOOD = ["id0\t1\t2", "id0\t1\tid1\t1", "id2\t1\t2", "id2\t2\tid3\t1"]


@pytest.mark.slow
def test_bad_pairs_and_images_are_one_line(tmp_path, crop_set, model_file):
    m = ["--model", str(model_file)]
    ok = _run(tmp_path, "eval", "pairs", str(crop_set), "--pairs", str(_pairs_file(tmp_path / "ok.txt", GOOD)), *m)
    assert ok.returncode == 0, ok.stderr
    bad = _pairs_file(tmp_path / "who.txt", GOOD[:3] + ["id2\t2\tnobody\t1"])
    _usage_error(_run(tmp_path, "eval", "pairs", str(crop_set), "--pairs", str(bad), *m),
                 f"{bad}:5", "identity 'nobody'")
    bad = _pairs_file(tmp_path / "range.txt", ["id0\t1\t9"] + GOOD[1:])
    _usage_error(_run(tmp_path, "eval", "pairs", str(crop_set), "--pairs", str(bad), *m),
                 f"{bad}:2", "image index 9 of id0 is out of range")
    _usage_error(_run(tmp_path, "eval", "pairs", str(crop_set), "--pairs", str(crop_set), *m), "is a folder")
    _usage_error(_run(tmp_path, "eval", "pairs", str(crop_set), "--pairs", "auto", "--model", "no-such-model"),
                 "no-such-model", "lab")
    (crop_set / "id1" / "1.png").write_bytes(b"this is not a picture")
    _usage_error(_run(tmp_path, "eval", "pairs", str(crop_set), "--pairs", str(tmp_path / "ok.txt"), *m),
                 "id1/1.png", "not an image")


@pytest.mark.slow
def test_truncated_and_unaligned_images_are_one_line(tmp_path, crop_set, model_file):
    from PIL import Image

    m = ["--model", str(model_file)]
    ok = _pairs_file(tmp_path / "ok.txt", GOOD)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (112, 96, 3), dtype=np.uint8)).save(crop_set / "id0" / "1.jpg", quality=95)
    (crop_set / "id0" / "1.png").unlink()
    data = (crop_set / "id0" / "1.jpg").read_bytes()
    (crop_set / "id0" / "1.jpg").write_bytes(data[: len(data) // 2])
    _usage_error(_run(tmp_path, "eval", "pairs", str(crop_set), "--pairs", str(ok), *m), "id0/1.jpg", "cannot decode")
    (crop_set / "id0" / "1.jpg").unlink()
    _touch_images(crop_set / "id0", ["1.png"], size=(250, 250))
    _usage_error(_run(tmp_path, "eval", "pairs", str(crop_set), "--pairs", str(ok), *m),
                 "not aligned 112x96", "250x250", "--detect")
