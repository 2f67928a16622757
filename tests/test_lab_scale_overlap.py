"""labkit.evaluate.overlap (issue #23): identities of two face sets whose mean embeddings have a cosine above a
threshold. Closed forms on a linear model; on real faces with the reference model: the two halves of one LFW
person's images are found as one person (the check's recall) and nobody else is; and none of the 898 CelebA
identities left in the shared folder is one of the 40 LFW people whose CelebA twins excluded_identities.tsv removed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labkit.evaluate.overlap import (Overlap, faces_by_identity, identity_means, overlapping_identities,
                                     overlaps_from_means)


class Linear(torch.nn.Module):
    """f(x) = the first two pixels: features known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x.flatten(1)[:, :2]


def _faces(*rows: tuple[float, float]) -> torch.Tensor:
    x = torch.zeros(len(rows), 1, 1, 2)
    for i, r in enumerate(rows):
        x[i, 0, 0] = torch.tensor(r)
    return x


def test_identity_means_normalise_each_face_then_average():
    # faces (3, 0) and (0, 1): unit features (1, 0) and (0, 1), mean direction (1, 1) / sqrt(2)
    names, mu = identity_means(Linear(), {"a": _faces((3.0, 0.0), (0.0, 1.0))}, flip="none")
    assert names == ["a"]
    np.testing.assert_allclose(mu[0], [2 ** -0.5, 2 ** -0.5], atol=1e-12)


def test_pairs_above_the_threshold_are_found_highest_first():
    a = {"a1": _faces((1.0, 0.0)), "a2": _faces((0.0, 1.0))}
    b = {"b1": _faces((1.0, 0.1)), "b2": _faces((1.0, 1.0)), "b3": _faces((-1.0, 0.0))}
    found = overlapping_identities(Linear(), a, b, threshold=0.5)
    # cosines: a1-b1 = 1/sqrt(1.01) = 0.995, a1-b2 = a2-b2 = 0.707, a2-b1 = 0.0995, a*-b3 <= 0
    assert [(o.a, o.b) for o in found][0] == ("a1", "b1")
    assert {(o.a, o.b) for o in found} == {("a1", "b1"), ("a1", "b2"), ("a2", "b2")}
    assert found[0].cosine == pytest.approx(1 / np.sqrt(1.01))
    assert overlapping_identities(Linear(), a, b, threshold=0.8) == [Overlap("a1", "b1", pytest.approx(0.995037))]


def test_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="no face"):
        identity_means(Linear(), {"a": _faces()[:0]})
    with pytest.raises(ValueError, match="different sizes"):
        overlaps_from_means(["a"], np.ones((1, 2)), ["b"], np.ones((1, 3)))


@pytest.fixture(scope="module")
def reference(request):
    from labkit import config, zoo

    base = config.data_root()
    try:
        model = zoo.load_face_model("reference")
    except Exception as exc:  # weights not installed under the data root
        if config.require_data():
            pytest.fail(f"LABKIT_REQUIRE_DATA=1 and the reference model cannot be loaded: {exc}", pytrace=False)
        pytest.skip(f"reference model not available: {exc}")
    if not (base / "celeba_test_112x96").is_dir():
        if config.require_data():
            pytest.fail(f"LABKIT_REQUIRE_DATA=1 and celeba_test_112x96/ is missing under {base}", pytrace=False)
        pytest.skip(f"celeba_test_112x96 not found under {base}")
    return model


def _lfw(base):
    return base / "lfw_aligned_112x96" / "lfw-112x96"


def test_two_halves_of_one_person_are_found_and_nobody_else(reference):
    """Recall of the check at the README's t = 0.5: 24 LFW people with >= 4 images, each split into two halves of
    two images that form two 'identity sets'."""
    from labkit import config
    from labkit.data.lfw import protocol_path, read_people

    people = sorted(n for n, c in read_people(protocol_path("lfw-names.txt", config.data_root())).items() if c >= 4)
    chosen = people[:: len(people) // 24][:24]
    faces = faces_by_identity(_lfw(config.data_root()), chosen, max_per_identity=4)
    first = {n: f[:2] for n, f in faces.items()}
    second = {n: f[2:4] for n, f in faces.items()}
    found = overlapping_identities(reference, first, second, threshold=0.5)
    same = {o.a for o in found if o.a == o.b}
    assert len(same) / len(chosen) >= 0.95, (len(same), sorted(set(chosen) - same))
    assert not [o for o in found if o.a != o.b]


def test_no_celeba_identity_left_is_an_excluded_lfw_person(reference):
    """excluded_identities.tsv removed the CelebA twins of 40 LFW people (cosine > 0.5 with the reference model).
    The folder no longer holds their faces, so the test cannot find them again; it checks the other direction: no
    CelebA identity that is left (first face of each of the 898) matches any of those 40 LFW people above 0.5."""
    from labkit import config
    from labkit.experiments.lab_scale.data import excluded_identities

    base = config.data_root()
    banned = excluded_identities(base)
    lfw = faces_by_identity(_lfw(base), sorted(set(banned.values())), max_per_identity=4)
    assert len(lfw) == len(set(banned.values()))
    celeba = faces_by_identity(base / "celeba_test_112x96" / "celeba-112x96", max_per_identity=1)
    assert len(celeba) == 898 and not set(celeba) & set(banned)
    found = overlapping_identities(reference, celeba, lfw, threshold=0.5)
    assert found == [], found[:5]
