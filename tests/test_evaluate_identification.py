"""MegaFace-style identification: chunked search against a naive full-matrix argmax, and TAR at FAR brute force."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.evaluate.identification import distractor_search, identification, rank1_naive


def synthetic(seed=0, n_ids=12, per_id=4, n_distractors=2000, dim=16, spread=0.9):
    """Identities as random centres with noisy members; distractors uniform on the sphere. ``spread`` tunes how hard
    the task is so that rank-1 falls as distractors are added (neither 0 nor 1)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    probes = np.repeat(centres, per_id, axis=0) + spread * rng.normal(size=(n_ids * per_id, dim)) / np.sqrt(dim)
    labels = np.repeat(np.arange(n_ids), per_id)
    distractors = rng.normal(size=(n_distractors, dim)).astype(np.float32)
    return probes.astype(np.float32), labels, distractors


@pytest.mark.parametrize("gallery", ["each", "first"])
def test_rank1_matches_naive_full_matrix_argmax(gallery):
    probes, labels, dis = synthetic()
    counts = [1, 10, 100, 2000]
    res = identification(probes, labels, dis, counts=counts, far=None, gallery=gallery, chunk_size=37)
    naive = [rank1_naive(probes, labels, dis, n, gallery=gallery) for n in counts]
    assert res.rank1 == naive
    assert res.rank1[0] > res.rank1[-1]  # distractors make it harder: the test is not trivially all-correct
    assert 0.0 < res.rank1[-1] < 1.0
    per_id = 4
    assert res.n_trials == 12 * (per_id * (per_id - 1) if gallery == "each" else per_id - 1)


def test_chunked_search_equals_unchunked():
    probes, _, dis = synthetic(seed=3, n_distractors=1500)
    counts = [7, 100, 1500]
    full, top_full = distractor_search(probes, dis, counts, chunk_size=10**9, impostor_topk=25)
    for chunk in (1, 13, 256):
        part, top_part = distractor_search(probes, dis, counts, chunk_size=chunk, impostor_topk=25)
        np.testing.assert_allclose(part, full, rtol=0, atol=1e-6)
        np.testing.assert_allclose(top_part, top_full, rtol=0, atol=1e-6)
    # against plain numpy on the whole matrix
    p = probes / np.linalg.norm(probes, axis=1, keepdims=True)
    d = dis / np.linalg.norm(dis, axis=1, keepdims=True)
    sims = p @ d.T
    for c, n in enumerate(counts):
        np.testing.assert_allclose(full[c], sims[:, :n].max(axis=1), atol=1e-5)
    np.testing.assert_allclose(top_full, np.sort(sims.ravel())[::-1][:25], atol=1e-5)


def test_faiss_backend_agrees_with_torch():
    pytest.importorskip("faiss")
    probes, labels, dis = synthetic(seed=4)
    a = identification(probes, labels, dis, counts=[10, 500, 2000], far=1e-3, chunk_size=300)
    b = identification(probes, labels, dis, counts=[10, 500, 2000], far=1e-3, chunk_size=300, backend="faiss")
    assert a.rank1 == b.rank1
    assert a.threshold == pytest.approx(b.threshold, abs=1e-5)
    assert a.tar_at_far == b.tar_at_far


def test_tar_at_far_matches_brute_force():
    probes, labels, dis = synthetic(seed=1, n_ids=10, per_id=5, n_distractors=3000, spread=0.7)
    far = 1e-3
    res = identification(probes, labels, dis, counts=[3000], far=far, chunk_size=500)
    p = probes / np.linalg.norm(probes, axis=1, keepdims=True)
    d = dis / np.linalg.norm(dis, axis=1, keepdims=True)
    impostor = np.sort((p @ d.T).ravel())[::-1]
    k = int(np.floor(far * impostor.size))  # allowed false accepts
    thr = impostor[k]
    assert res.threshold == pytest.approx(thr, abs=1e-6)
    assert int((impostor > res.threshold).sum()) <= k
    i, j = np.triu_indices(len(labels), 1)
    g = labels[i] == labels[j]
    genuine = np.sum(p[i[g]] * p[j[g]], axis=1)
    assert res.n_genuine == 10 * 10  # C(5, 2) per identity
    assert res.tar_at_far == pytest.approx(float(np.mean(genuine > thr)))
    assert 0.0 < res.tar_at_far < 1.0


def test_bad_input():
    probes, labels, dis = synthetic(n_distractors=50)
    with pytest.raises(ValueError, match="only 50"):
        identification(probes, labels, dis, counts=[100])
    with pytest.raises(ValueError, match="ascending"):
        identification(probes, labels, dis, counts=[20, 10])
    with pytest.raises(ValueError, match="two or more"):
        identification(probes[:3], np.arange(3), dis, counts=[10])
    with pytest.raises(ValueError, match="-d"):
        identification(probes[:, :8], labels, dis, counts=[10])
