"""LFW protocol parsing: self-made malformed files, and the real protocol files and images in the data root."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from labkit.data.images import load_image
from labkit.data.lfw import (
    LFWPairs,
    Pair,
    ProtocolFormatError,
    fold_indices,
    lfw_paths,
    missing_pair_images,
    pair_paths,
    protocol_path,
    read_pairs,
    read_people,
    read_people_folds,
)
from labkit.config import DataMissingError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_small_view2_file_parses_into_folds(tmp_path):
    text = "2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t5\nE\t1\tF\t1\n"
    pairs = read_pairs(_write(tmp_path, "pairs.txt", text))
    assert pairs == [
        Pair("A", 1, "A", 2, True, 0),
        Pair("B", 1, "C", 3, False, 0),
        Pair("D", 2, "D", 5, True, 1),
        Pair("E", 1, "F", 1, False, 1),
    ]
    assert [f.tolist() for f in fold_indices(pairs)] == [[0, 1], [2, 3]]
    assert pair_paths(pairs[:1], "/x") == [(Path("/x/A/A_0001.jpg"), Path("/x/A/A_0002.jpg"))]


@pytest.mark.parametrize(
    "text, line, needle",
    [
        ("1\t1\nA\t1\nB\t1\tC\t1\n", 2, "found 2 fields"),  # a 2-field line
        ("1\t1\nA\tx\t2\nB\t1\tC\t1\n", 2, "image index"),  # non-integer index
        ("1\t1\nB\t1\tC\t1\nA\t1\t2\n", 2, "expected a matched"),  # mismatched where matched expected
        ("1\t1\nA\t0\t2\nB\t1\tC\t1\n", 2, "start at 1"),
        ("ten\t300\n", 1, "number of folds"),
    ],
)
def test_malformed_pairs_line_names_file_and_line(tmp_path, text, line, needle):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(ProtocolFormatError) as err:
        read_pairs(path)
    assert f"{path}:{line}" in str(err.value)
    assert needle in str(err.value)


def test_truncated_pairs_file_is_reported(tmp_path):
    with pytest.raises(ProtocolFormatError, match="promises 2 fold"):
        read_pairs(_write(tmp_path, "p.txt", "2\t1\nA\t1\t2\nB\t1\tC\t3\n"))


def test_people_files_view1_tenfold_and_names(tmp_path):
    assert read_people(_write(tmp_path, "a.txt", "2\nA\t3\nB\t1\n")) == {"A": 3, "B": 1}
    assert read_people_folds(_write(tmp_path, "b.txt", "2\n1\nA\t3\n2\nB\t1\nC\t2\n")) == [{"A": 3}, {"B": 1, "C": 2}]
    assert read_people(_write(tmp_path, "c.txt", "A\t3\nB\t1\n")) == {"A": 3, "B": 1}
    with pytest.raises(ProtocolFormatError, match=r"c2.txt:3"):
        read_people(_write(tmp_path, "c2.txt", "2\nA\t3\nB\n"))


def test_missing_lfw_says_how_to_get_it(tmp_path):
    with pytest.raises(DataMissingError, match="labkit data get lfw"):
        lfw_paths(tmp_path, "deepfunneled")
    with pytest.raises(DataMissingError, match="pairs.txt"):
        protocol_path("pairs.txt", tmp_path)


# ---------------------------------------------------------------- real data


@pytest.mark.data
def test_real_view2_has_ten_contiguous_folds_of_600(data_dir):
    lfw = data_dir("lfw")
    pairs = read_pairs(lfw / "pairs.txt")
    assert len(pairs) == 6000
    for f, idx in enumerate(fold_indices(pairs)):
        assert idx.tolist() == list(range(600 * f, 600 * f + 600))
        same = np.array([pairs[i].same for i in idx])
        assert same[:300].all() and not same[300:].any()


@pytest.mark.parametrize("variant, folder", [("deepfunneled", "lfw"), ("aligned", "lfw_aligned_112x96")])
@pytest.mark.data
def test_all_6000_pairs_resolve_and_a_sample_decodes(data_dir, variant, folder):
    data_dir(folder)
    root = data_dir("lfw").parent
    pairs = read_pairs(protocol_path("pairs.txt", root))
    image_root = lfw_paths(root, variant)
    assert missing_pair_images(pairs, image_root) == []
    distinct = sorted({p for ab in pair_paths(pairs, image_root) for p in ab})
    assert len(distinct) == 7701
    # the 112x96 crops are cheap: decode all 7,701; the 250x250 funneled images: a fixed random sample of 500
    shape = (250, 250, 3) if variant == "deepfunneled" else (112, 96, 3)
    sample = random.Random(0).sample(distinct, 500) if variant == "deepfunneled" else distinct
    for p in sample:
        assert load_image(p).shape == shape


@pytest.mark.data
def test_real_view1_people_disjoint_and_pairs_inside(data_dir):
    lfw = data_dir("lfw")
    train, test = read_people(lfw / "peopleDevTrain.txt"), read_people(lfw / "peopleDevTest.txt")
    assert (len(train), len(test)) == (4038, 1711)
    assert not set(train) & set(test)
    assert sum(train.values()) + sum(test.values()) == 13233
    assert set(train) | set(test) == set(read_people(lfw / "lfw-names.txt"))
    for fname, people in (("pairsDevTrain.txt", train), ("pairsDevTest.txt", test)):
        pairs = read_pairs(lfw / fname)
        assert all(p.name1 in people and p.name2 in people for p in pairs)
        assert all(p.index1 <= people[p.name1] and p.index2 <= people[p.name2] for p in pairs)
    assert len(read_pairs(lfw / "pairsDevTrain.txt")) == 2200


@pytest.mark.data
def test_lfw_pairs_dataset_returns_paper_sized_tensors(data_dir):
    data_dir("lfw_aligned_112x96")
    ds = LFWPairs(data_dir("lfw").parent, view="devtest", variant="aligned")
    a, b, same = ds[0]
    assert len(ds) == 1000 and a.shape == b.shape == (3, 112, 96) and same is True
    assert float(a.min()) >= -1.0 and float(a.max()) < 1.0


@pytest.mark.data
def test_lfw_people_toy_subset_and_view1_split(data_dir):
    root = data_dir("lfw").parent
    from labkit.data.lfw import LFWPeople

    toy = LFWPeople(root, variant="aligned", min_images=60)
    assert len(toy.classes) == 8 and len(toy) == 530 + 236 + 144 + 121 + 109 + 77 + 71 + 60
    assert toy[0][0].shape == (3, 112, 96)
    test = LFWPeople(root, split="devtest", variant="deepfunneled")
    assert (len(test.classes), len(test)) == (1711, 3708)
