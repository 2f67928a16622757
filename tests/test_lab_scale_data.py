"""The ten-fold grid's training people (issue #23): LFW outside the test fold plus CelebA, read through the layout
table; no CelebA identity that is an LFW person (excluded_identities.tsv) trains in any split; train and test
people never overlap, also across the two data sets; the identity cap is seeded and nested; records of the first
grid keep their run ids."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.experiments import lab_scale as E
from labkit.experiments.lab_scale.data import excluded_identities, training_people


@pytest.fixture(scope="module")
def root():
    from labkit import config

    base = config.data_root()
    if not (base / "celeba_test_112x96").is_dir() or not (base / "lfw").is_dir():
        if config.require_data():
            pytest.fail(f"LABKIT_REQUIRE_DATA=1 and celeba_test_112x96/ or lfw/ is missing under {base}", pytrace=False)
        pytest.skip(f"CelebA or LFW not found under {base}; set LABKIT_DATA")
    return base


def test_celeba_is_found_through_the_layout_table(root):
    from labkit.data.layout import locate

    images = locate("celeba", root, kind="images")
    assert images == root / "celeba_test_112x96" / "celeba-112x96"
    assert len([p for p in images.iterdir() if p.is_dir()]) == 898
    assert len(excluded_identities(root)) == 40


@pytest.mark.parametrize("fold", range(10))
def test_no_excluded_identity_trains_and_train_test_people_are_disjoint(root, fold):
    dc = E.DataConfig(image_size=(28, 24), protocol="view2", test_fold=fold, extra=("celeba",))
    people = training_people(dc, root)
    banned = excluded_identities(root)
    celeba = {n.split("/", 1)[1] for n, (src, _) in people.items() if src == "celeba"}
    assert celeba and not celeba & set(banned)
    # 898 identities, 9 with a single face: 889 train (min_images = 2)
    assert len(celeba) == 889
    _, test = E.identity_split(root, 2, "view2", fold)
    lfw = {n for n, (src, _) in people.items() if src == "lfw"}
    assert lfw and not lfw & set(test)
    # the LFW people whose CelebA twins were removed may be test people; their twins must not train
    assert not {f"celeba/{c}" for c in banned} & set(people)
    # CelebA class names can never collide with an LFW name
    assert all(n.startswith("celeba/") for n in people if n not in lfw)


def test_identity_cap_is_seeded_and_nested(root):
    base = E.DataConfig(image_size=(28, 24), protocol="view2", test_fold=1, extra=("celeba",))
    full = training_people(base, root)
    kept = {n: set(training_people(E.DataConfig(**{**base.__dict__, "max_identities": n}), root)) for n in (300, 600, 1200)}
    assert [len(kept[n]) for n in (300, 600, 1200)] == [300, 600, 1200]
    assert kept[300] < kept[600] < kept[1200] < set(full)
    # both data sets are sampled, roughly in proportion (889 CelebA of ~2,400)
    frac = np.mean([n.startswith("celeba/") for n in kept[1200]])
    assert 0.3 < frac < 0.45
    other = set(training_people(E.DataConfig(**{**base.__dict__, "max_identities": 300, "identity_seed": 1}), root))
    assert other != kept[300]
    with pytest.raises(ValueError, match="max_identities=9999"):
        training_people(E.DataConfig(**{**base.__dict__, "max_identities": 9999}), root)


def test_bad_extra_set_fails_clearly():
    with pytest.raises(ValueError, match="extra training sets must be among celeba"):
        E.DataConfig(extra=("casia",))
    with pytest.raises(ValueError, match="max_identities"):
        E.DataConfig(max_identities=-1)


def test_first_grid_records_keep_their_run_ids():
    """The fields added for the ten-fold grid leave the keys of the shipped View 1 grid unchanged."""
    from labkit import config

    recs = E.load_records(config.shipped_dir() / "lab_scale" / "results.json")
    dc = E.DataConfig()
    assert dc.key() == E.DataConfig(extra=(), max_identities=0, identity_seed=0).key()
    assert E.DataConfig(extra=("celeba",)).key() != dc.key()
    assert len(E.distinct(recs)) == 67  # 64 networks + 3 check runs, as shipped
