"""The notebook-09 helpers of :mod:`labkit.evaluate.photos`: the shipped photos, the similarity matrix and its
decisions (against a loop written here), the upload reader and the drawing."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from labkit import config
from labkit.evaluate import photos


def test_shipped_photos_match_their_manifest_and_stay_small():
    folder = config.shipped_dir() / "photos"
    listed = dict(reversed(line.split()) for line in (folder / "MANIFEST.sha256").read_text().splitlines())
    files = photos.shipped_photos()
    assert [p.name for p in files] == sorted(listed) and 4 <= len(files) <= 6
    for p in files:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == listed[p.name], p.name
    assert sum(p.stat().st_size for p in folder.iterdir()) < 200_000
    people = {p.name.rsplit("_", 1)[0] for p in files}
    assert all(sum(p.name.startswith(who + "_") for p in files) == 2 for who in people)


def test_similarity_matrix_is_the_cosine_of_every_pair():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(5, 8)) * rng.uniform(0.1, 10, size=(5, 1))
    s = photos.similarity_matrix(f)
    for i in range(5):
        for j in range(5):
            ref = sum(a * b for a, b in zip(f[i], f[j])) / (np.sqrt(sum(a * a for a in f[i])) *
                                                            np.sqrt(sum(b * b for b in f[j])))
            assert s[i, j] == pytest.approx(ref, abs=1e-12)
    assert np.array_equal(s, s.T) and np.allclose(np.diag(s), 1.0)
    same = photos.decisions(s, 0.2)
    assert np.array_equal(same, s > 0.2)
    with pytest.raises(ValueError, match="row 1 is all zeros"):
        photos.similarity_matrix(np.array([[1.0, 0.0], [0.0, 0.0]]))


def _fake(name: str, face: bool = True) -> photos.PhotoFace:
    from labkit.faces.detect import Face

    img = np.full((120, 100, 3), 90, np.uint8)
    crop = np.zeros((112, 96, 3), np.uint8)
    f = Face(box=np.array([20.0, 30.0, 80.0, 100.0]), score=0.99,
             landmarks=np.array([[35, 55], [65, 55], [50, 70], [38, 85], [62, 85]], float)) if face else None
    return photos.PhotoFace(name, img, crop, f, 1 if face else 0)


def test_pair_lines_say_each_decision():
    ps = [_fake("a.jpg"), _fake("b.jpg"), _fake("c.jpg")]
    s = np.array([[1, 0.5, 0.1], [0.5, 1, 0.3], [0.1, 0.3, 1]])
    assert photos.pair_lines(ps, s, 0.3) == ["a.jpg vs b.jpg: cosine 0.500 -> same",
                                             "a.jpg vs c.jpg: cosine 0.100 -> different",
                                             "b.jpg vs c.jpg: cosine 0.300 -> different"]


def test_photo_figure_draws_the_box_the_five_points_and_the_crop():
    fig = photos.photo_figure(_fake("a.jpg"))
    kinds = [t.type for t in fig.data]
    assert kinds.count("image") == 2 and kinds.count("scatter") == 5
    pts = [(t.x[0], t.y[0]) for t in fig.data if t.type == "scatter"]
    assert pts == [(35, 55), (65, 55), (50, 70), (38, 85), (62, 85)]
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.y0, rect.x1, rect.y1) == (20, 30, 80, 100)
    nothing = photos.photo_figure(_fake("b.jpg", face=False))
    assert [t.type for t in nothing.data] == ["image", "image"] and not nothing.layout.shapes
    assert "no face" in nothing.layout.annotations[1].text


def test_similarity_figure_labels_every_cell():
    ps = [_fake("a.jpg"), _fake("b.jpg")]
    fig = photos.similarity_figure(ps, np.array([[1.0, 0.25], [0.25, 1.0]]), 0.3)
    assert fig.data[0].text[0][1] == "0.25<br>diff" and fig.data[0].text[0][0] == "1.00<br>same"


def test_uploaded_files_reads_both_widget_layouts():
    v8 = ({"name": "x.jpg", "content": memoryview(b"abc")},)
    v7 = {"y.png": {"metadata": {"name": "y.png"}, "content": b"de"}}
    assert photos.uploaded_files(v8) == [("x.jpg", b"abc")]
    assert photos.uploaded_files(v7) == [("y.png", b"de")]


def test_person_of_and_decision_summary_count_by_hand():
    assert photos.person_of("Kim_Clijsters_0002.jpg") == "Kim_Clijsters" and photos.person_of("me.jpg") is None
    ps = [_fake("A_B_0001.jpg"), _fake("A_B_0002.jpg"), _fake("C_0001.jpg"), _fake("upload.png")]
    s = np.array([[1, 0.6, 0.4, 0.9], [0.6, 1, 0.1, 0.9], [0.4, 0.1, 1, 0.9], [0.9, 0.9, 0.9, 1]])
    got = photos.decision_summary(ps, s, 0.3)
    # known pairs: (A1, A2) same 0.6 -> right; (A1, C) diff 0.4 -> wrong; (A2, C) diff 0.1 -> right
    assert got == {"pairs": 3, "correct": 2, "same_pairs": 1, "different_pairs": 2, "mean_same": 0.6,
                   "mean_different": pytest.approx(0.25)}


def test_untrained_model_takes_the_lab_crops():
    import torch

    model = photos.untrained_model(0)
    f = photos.embed_photos(model, [_fake("a.jpg"), _fake("b.jpg")])
    assert f.shape == (2, 256) and np.isfinite(f).all()  # 128-d, flip-concatenated
    again = photos.embed_photos(photos.untrained_model(0), [_fake("a.jpg")])
    np.testing.assert_allclose(f[:1], again, rtol=1e-5, atol=1e-6)  # seeded: the same network (batch of 1 vs 2)
    assert model.card.threshold == 0.0
    assert torch.is_grad_enabled()


def test_shipped_photos_show_people_the_lab_model_never_trained_on(data_dir):
    """The shipped lab model trained on everybody outside LFW View 2 fold 0; every person of the shipped photos is
    in that fold's pairs, so notebook 09 and `verify` show it strangers (the README of data/shipped/photos says so)."""
    from labkit import zoo
    from labkit.data.lfw import pair_people, read_pairs

    pairs_file = data_dir("lfw") / "pairs.txt"
    fold0 = pair_people([p for p in read_pairs(pairs_file) if p.fold == 0])
    people = sorted({photos.person_of(p.name) for p in photos.shipped_photos()})
    assert len(people) == 3 and set(people) <= fold0, f"not in View 2 fold 0: {sorted(set(people) - fold0)}"
    lab = zoo.load_face_model("lab")
    assert lab.card.info["test_split"] == "View 2 fold 0"
    line = photos.training_overlap(lab, people, root=data_dir("lfw").parent)
    assert "0 of 3 people here were in its training data" in line, line
