"""LFW and YTF protocol plumbing on the real protocol files, YTF parsing errors and frame folders, test-time flip
features, and the ``python -m labkit eval`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.data.lfw import ProtocolFormatError
from labkit.evaluate import cli
from labkit.evaluate.features import combine_flip, cosine_pairs, embed_batches, embed_paths
from labkit.evaluate.lfw import evaluate_lfw, load_lfw_pairs, unique_images
from labkit.evaluate.ytf import evaluate_ytf, read_ytf_splits, unique_videos, video_feature, video_frames

# ---------------------------------------------------------------- LFW on the real pairs.txt


def test_lfw_pairs_resolve_into_ten_folds_of_600(data_dir):
    root = data_dir("lfw")
    pairs = load_lfw_pairs(root.parent)
    assert len(pairs) == 6000
    for k in range(10):
        block = pairs[600 * k : 600 * (k + 1)]
        assert {p.fold for p in block} == {k}
        assert all(p.same for p in block[:300]) and not any(p.same for p in block[300:])
    images = unique_images(pairs)
    for folder in (root / "lfw-deepfunneled", data_dir("lfw_aligned_112x96") / "lfw-112x96"):
        missing = [r for r in images if not (folder / r).is_file()]
        assert missing == [], f"{len(missing)} pair images missing under {folder}"


def test_lfw_folds_follow_the_file_blocks(data_dir):
    pairs = load_lfw_pairs(data_dir("lfw").parent)
    labels = np.array([p.same for p in pairs])
    # scores perfect everywhere except fold 3 (file lines 1802..2401), where every pair is scored the wrong way
    scores = np.where(labels, 1.0, -1.0)
    scores[1800:2400] *= -1
    res = evaluate_lfw(pairs=pairs, scores=scores)
    assert res.n_folds == 10
    assert res.fold_accuracies[3] == 0.0
    assert res.fold_accuracies[:3] + res.fold_accuracies[4:] == [1.0] * 9


# ---------------------------------------------------------------- YTF


def test_ytf_real_splits(data_dir):
    pairs = read_ytf_splits(data_dir("ytf_protocol") / "splits.txt")
    assert len(pairs) == 5000
    for s in range(10):
        block = [p for p in pairs if p.fold == s]
        assert len(block) == 500
        assert all(p.same for p in block[:250]) and not any(p.same for p in block[250:])
    assert pairs[0].videos == ("Sadie_Frost/1", "Sadie_Frost/5")
    assert len(unique_videos(pairs)) == 3226


@pytest.mark.parametrize(
    "bad, message",
    [
        ("1, 3, A/1, A/2", "5 comma-separated"),
        ("1, x, A/1, A/2, 1", "integers"),
        ("1, 3, A/1, A/2, 2", "0 or 1"),
        ("1, 3, A1, A/2, 1", "Person_Name/<number>"),
        ("1, 3, A/1, B/2, 1", "people differ"),
    ],
)
def test_ytf_malformed_line_names_file_and_line(tmp_path, bad, message):
    f = tmp_path / "splits.txt"
    f.write_text(f"split number, pair number in split, first name, second name, is same:\n1, 1, A/1, A/2, 1\n{bad}\n")
    with pytest.raises(ProtocolFormatError, match=message) as info:
        read_ytf_splits(f)
    assert f"{f}:3:" in str(info.value)


def _jpeg(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 6, 3), value, np.uint8)).save(path)


def test_ytf_frame_folders_and_video_means(tmp_path):
    root = tmp_path / "frame_images_DB"
    for i in (3, 1, 2):
        _jpeg(root / "Ann_Lee" / "0" / f"0.{i}.jpg", 10 * i)
    (root / "Ann_Lee" / "0" / "notes.txt").write_text("not a frame")
    frames = video_frames(root, "Ann_Lee", 0)
    assert [p.name for p in frames] == ["0.1.jpg", "0.2.jpg", "0.3.jpg"]
    with pytest.raises(FileNotFoundError, match="<Person>/<video#>"):
        video_frames(root, "Ann_Lee", 9)
    f = np.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(video_feature(f, normalize_frames=False), [1.5, 3.0])
    np.testing.assert_allclose(video_feature(f), [0.3, 0.9])  # (0.6, 0.8) and (0, 1) averaged


def test_ytf_evaluation_uses_splits_as_folds(data_dir):
    pairs = read_ytf_splits(data_dir("ytf_protocol") / "splits.txt")
    rng = np.random.default_rng(0)
    feats = {v: rng.normal(size=8) for v in unique_videos(pairs)}
    res = evaluate_ytf(feats, pairs)
    assert res.n_pairs == 5000 and res.n_folds == 10
    assert res.options["folds"] == [str(s) for s in range(10)]
    assert 0.4 < res.mean_accuracy < 0.6  # random features: chance level
    with pytest.raises(KeyError, match="no feature"):
        evaluate_ytf({}, pairs)


# ---------------------------------------------------------------- features


class FirstRow(torch.nn.Module):
    """Embedding = the first pixel row of channel 0: its mirror is the row reversed, so the flip is visible."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, :]


def test_flip_modes():
    x = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)
    row, mirrored = x[:, 0, 0, :], x[:, 0, 0, :].flip(1)
    np.testing.assert_array_equal(embed_batches(FirstRow(), x, "concat", batch_size=1), torch.cat([row, mirrored], 1))
    np.testing.assert_array_equal(embed_batches(FirstRow(), x, "sum"), row + mirrored)
    np.testing.assert_array_equal(embed_batches(FirstRow(), x, "none"), row)
    with pytest.raises(ValueError, match="concat"):
        embed_batches(FirstRow(), x, "mean")
    with pytest.raises(ValueError, match="flipped"):
        combine_flip(np.ones((2, 3)), None, "concat")


def test_embed_paths_reads_normalised_images(tmp_path):
    p = tmp_path / "a.png"
    img = np.zeros((4, 5, 3), np.uint8)
    img[0, 0, 0] = 255
    Image.fromarray(img).save(p)
    f = embed_paths(FirstRow(), [p], flip="concat")
    # (x - 127.5) / 128: 255 -> 0.99609375, 0 -> -0.99609375; the flip moves the bright pixel to the end
    expected_row = np.array([0.99609375] + [-0.99609375] * 4)
    np.testing.assert_allclose(f[0], np.r_[expected_row, expected_row[::-1]])


def test_cosine_pairs():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[0.0, 2.0], [3.0, 3.0]])
    np.testing.assert_allclose(cosine_pairs(a, b), [0.0, 1.0])
    with pytest.raises(ValueError, match="all zeros"):
        cosine_pairs(np.zeros((1, 2)), a[:1])


# ---------------------------------------------------------------- command line


def test_cli_lfw_from_scores_writes_json(data_dir, tmp_path):
    root = data_dir("lfw").parent
    pairs = load_lfw_pairs(root)
    labels = np.array([p.same for p in pairs])
    np.savez(tmp_path / "s.npz", scores=np.where(labels, 0.7, 0.2) + np.random.default_rng(0).normal(0, 0.2, 6000))
    out = tmp_path / "lfw.json"
    assert cli.main(["lfw", "--features", str(tmp_path / "s.npz"), "--data-root", str(root), "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["n_pairs"] == 6000 and len(d["fold_accuracies"]) == 10
    assert d["options"]["features_file"].endswith("s.npz")


def test_cli_megaface_from_features(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 3)
    probes = np.repeat(rng.normal(size=(5, 8)), 3, axis=0) + 0.1 * rng.normal(size=(15, 8))
    np.savez(tmp_path / "mf.npz", probe_features=probes, probe_labels=labels, distractors=rng.normal(size=(1000, 8)))
    out = tmp_path / "mf.json"
    rc = cli.main(["megaface", "--features", str(tmp_path / "mf.npz"), "--counts", "10,1000", "--far", "1e-3",
                   "--out", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["distractor_counts"] == [10, 1000] and d["n_trials"] == 5 * 3 * 2
    assert "rank-1 with" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys):
    # usage errors: status 2 and one "error:" line (tests/test_cli.py runs the real commands)
    np.savez(tmp_path / "s.npz", scores=np.zeros(6000))
    assert cli.main(["lfw", "--features", str(tmp_path / "s.npz"), "--data-root", str(tmp_path)]) == 2
    assert "pairs.txt not found" in capsys.readouterr().err  # no data under this root: says where it looked
    assert cli.main(["megaface", "--features", str(tmp_path / "nope.npz")]) == 2
    assert "nope.npz not found" in capsys.readouterr().err
    assert cli.main(["megaface", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "--probe-root" in capsys.readouterr().err
    args = ["--probe-root", str(tmp_path), "--distractor-root", str(tmp_path)]
    assert cli.main(["megaface", "--checkpoint", str(tmp_path / "none.pt"), *args]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    assert cli.main(["megaface", "--checkpoint", str(tmp_path / "junk.pt"), *args]) == 2
    err = capsys.readouterr().err
    assert "is not a readable training checkpoint" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        cli.main(["lfw"])  # neither --checkpoint nor --features


def test_cli_megaface_from_checkpoint_and_image_folders(tmp_path):
    from labkit.models import make_model

    torch.manual_seed(0)
    model = make_model("lab_cnn")
    ckpt = tmp_path / "last.pt"
    from labkit import checkpoint

    # the trainer's format (labkit.train): backbone weights under "model", TrainConfig as a dict, RNG states
    checkpoint.save({"model": model.state_dict(), "config": {"arch": "lab_cnn", "embedding_dim": 0},
                     "rng": checkpoint.rng_state(), "iteration": 2}, ckpt)
    rng = np.random.default_rng(0)
    for ident in ("Ann", "Bob", "Cy"):
        base = rng.integers(0, 256, (112, 96, 3))
        for k in range(2):
            noisy = np.clip(base + rng.integers(-10, 10, base.shape), 0, 255).astype(np.uint8)
            (tmp_path / "probes" / ident).mkdir(parents=True, exist_ok=True)
            Image.fromarray(noisy).save(tmp_path / "probes" / ident / f"{k}.png")
    for k in range(12):
        (tmp_path / "dis" / str(k % 3)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (112, 96, 3)).astype(np.uint8)).save(tmp_path / "dis" / str(k % 3) / f"{k}.png")
    out = tmp_path / "mf.json"
    rc = cli.main(["megaface", "--checkpoint", str(ckpt), "--probe-root", str(tmp_path / "probes"),
                   "--distractor-root", str(tmp_path / "dis"), "--counts", "3,12", "--far", "0.01", "--out", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["n_probe_images"] == 6 and d["n_impostor"] == 6 * 12 and d["options"]["flip"] == "concat"
    # same face + small noise vs random images: even an untrained net ranks the mate first
    assert d["rank1"][-1] == 1.0


def test_cli_ytf_from_video_features(data_dir, tmp_path):

    splits = data_dir("ytf_protocol") / "splits.txt"
    pairs = read_ytf_splits(splits)
    videos = unique_videos(pairs)
    rng = np.random.default_rng(1)
    person = {v.split("/")[0] for v in videos}
    centre = {p: rng.normal(size=16) for p in sorted(person)}
    feats = np.stack([centre[v.split("/")[0]] + 0.5 * rng.normal(size=16) for v in videos])
    np.savez(tmp_path / "ytf.npz", videos=np.array(videos), features=feats)
    out = tmp_path / "ytf.json"
    assert cli.main(["ytf", "--features", str(tmp_path / "ytf.npz"), "--splits", str(splits), "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["n_pairs"] == 5000 and d["n_folds"] == 10
    assert d["mean_accuracy"] > 0.9  # same-person videos share a centre: clearly separable
