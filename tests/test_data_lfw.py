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
    assign_folds,
    balanced_subset,
    devtest_pairs,
    fold_indices,
    lfw_paths,
    missing_pair_images,
    pair_paths,
    probe_pairs,
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


# ---------------------------------------------------------------- folds: one implementation


def _pairs(n_same: int, n_diff: int, fold: int = 0) -> list[Pair]:
    return ([Pair(f"S{i}", 1, f"S{i}", 2, True, fold) for i in range(n_same)]
            + [Pair(f"A{i}", 1, f"B{i}", 1, False, fold) for i in range(n_diff)])


def test_assign_folds_splits_each_label_evenly_in_file_order():
    pairs = _pairs(20, 20)
    out = assign_folds(pairs, 4)
    assert [(p.name1, p.name2) for p in out] == [(p.name1, p.name2) for p in pairs]  # same order, same pairs
    assert [p.fold for p in out[:20]] == [i * 4 // 20 for i in range(20)] == [p.fold for p in out[20:]]
    assert all(sum(p.fold == f and p.same == s for p in out) == 5 for f in range(4) for s in (True, False))
    # interleaved labels: each label is cut on its own order
    mixed = [p for pair in zip(pairs[:20], pairs[20:]) for p in pair]
    folds = [p.fold for p in assign_folds(mixed, 4)]
    assert folds[0::2] == folds[1::2] == [i * 4 // 20 for i in range(20)]
    # uneven halves: folds differ by at most one pair per label
    uneven = assign_folds(_pairs(7, 9), 3)
    assert sorted(sum(p.fold == f and p.same for p in uneven) for f in range(3)) == [2, 2, 3]


def test_assign_folds_refuses_folds_without_both_labels():
    with pytest.raises(ValueError, match="3 mismatched pairs cannot fill 4 folds"):
        assign_folds(_pairs(8, 3), 4)
    with pytest.raises(ValueError, match="at least 1"):
        assign_folds(_pairs(2, 2), 0)


def test_balanced_subset_takes_the_first_of_each_fold_and_label():
    pairs = _pairs(10, 10, fold=0) + _pairs(10, 10, fold=1)
    sub = balanced_subset(pairs, 8)  # 2 folds x 2 labels -> 2 each
    assert len(sub) == 8 and sub == pairs[0:2] + pairs[10:12] + pairs[20:22] + pairs[30:32]
    assert balanced_subset(pairs, 0) == pairs
    assert len(balanced_subset(pairs, 1)) == 4  # at least one per (fold, label)


def test_probe_pairs_excludes_training_identities_and_counts_them(tmp_path):
    text = "2\t2\nAnn\t1\t2\nBob\t1\t2\nAnn\t1\tCid\t1\nDee\t1\tEve\t1\n" \
           "Bob_Two\t1\t2\nCid\t1\t2\nDee\t1\tFay\t1\nGus\t1\tHal\t1\n"
    (tmp_path / "lfw").mkdir()
    (tmp_path / "lfw" / "pairs.txt").write_text(text)
    sel = probe_pairs(exclude_names=["Ann", "Bob Two", "Zed"], root=tmp_path)
    assert (sel.n_view2, sel.n_excluded, sel.n_subsampled_out) == (8, 3, 0)
    assert sel.excluded_names == ("Ann", "Bob_Two")  # spaces read as underscores; Zed is in no pair
    assert all("Ann" not in (p.name1, p.name2) for p in sel.pairs) and len(sel) == 5
    small = probe_pairs(max_pairs=4, exclude_names=["Ann"], root=tmp_path)
    assert (small.n_excluded, len(small), small.n_subsampled_out) == (2, 4, 2)
    assert {(p.fold, p.same) for p in small.pairs} == {(0, True), (0, False), (1, True), (1, False)}
    assert "4 of 8" in small.summary()


@pytest.mark.data
def test_real_devtest_folds_and_training_probe(data_dir):
    root = data_dir("lfw").parent
    pairs = devtest_pairs(root)
    assert len(pairs) == 1000
    for f in range(10):
        assert sum(p.fold == f and p.same for p in pairs) == 50 == sum(p.fold == f and not p.same for p in pairs)
    assert [p.fold for p in pairs[:500]] == [i // 50 for i in range(500)]
    assert [(p.name1, p.index1, p.name2, p.index2) for p in pairs] == [
        (p.name1, p.index1, p.name2, p.index2) for p in read_pairs(protocol_path("pairsDevTest.txt", root))]
    full = probe_pairs(root=root)
    assert (len(full), full.n_excluded) == (6000, 0) and full.pairs == read_pairs(protocol_path("pairs.txt", root))
    bush = probe_pairs(max_pairs=200, exclude_names=["George W Bush"], root=root)
    involving = sum("George_W_Bush" in (p.name1, p.name2) for p in full.pairs)
    assert bush.n_excluded == involving > 0 and len(bush) == 200
    assert all(sum(p.fold == f and p.same == s for p in bush.pairs) == 10 for f in range(10) for s in (True, False))
