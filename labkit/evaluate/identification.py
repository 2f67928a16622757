"""MegaFace-style identification and verification with distractors (MegaFace Challenge 1/2 protocol, as used for the
paper's Tables 1, 2, 4 and 5).

Identification (rank-1 rate): the probe set holds several images per identity (FaceScrub in MegaFace). For each
identity, one of its images is placed in the gallery together with ``N`` distractors (faces of nobody in the probe
set) and each *other* image of that identity is a probe. The trial succeeds when the probe's most similar gallery
face is its own identity's image, i.e. ``cos(probe, mate) > max_d cos(probe, d)`` (a tie counts as a failure).
With ``gallery="each"`` (the MegaFace devkit) every image of the identity takes its turn as the gallery mate; with
``gallery="first"`` only the first one does. The rank-1 rate is the fraction of successful trials, reported as ``N``
grows (10, 100, ..., 10^6); the first ``N`` distractors are used for each ``N``.

Verification (TAR at FAR, 1e-6 in the paper): genuine pairs are all pairs of probe images of the same identity;
impostor pairs are every probe image against every distractor. The threshold ``t`` is the ``(k+1)``-th highest
impostor score with ``k = floor(FAR * n_impostor)``, so at most ``k`` impostors score above it (decision: accept
when ``score > t``); TAR is the fraction of genuine pairs above ``t``.

The search over distractors runs in chunks with bounded memory: per chunk one ``(P, chunk)`` similarity block
(torch matmul), kept as a running maximum per probe plus a running global top-``(k+1)`` of impostor scores. Memory
beyond the inputs is ``O(P * chunk + k)``, so 10^6 x 512-d distractors (2 GB as float32, or a numpy memmap) are
searched for 1,000 probes in well under 24 GiB. ``backend="faiss"`` uses ``faiss.IndexFlatIP`` instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

DEFAULT_COUNTS: tuple[int, ...] = (10, 100, 1_000, 10_000, 100_000, 1_000_000)
BACKENDS = ("torch", "faiss")


def _normalize_t(x: torch.Tensor) -> torch.Tensor:
    n = x.norm(dim=1, keepdim=True)
    if (n == 0).any():
        raise ValueError("a feature row is all zeros: cosine similarity is undefined")
    return x / n


def _chunk_tensor(distractors: Any, start: int, stop: int, device: str) -> torch.Tensor:
    block = distractors[start:stop]
    t = block if isinstance(block, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))
    return _normalize_t(t.to(device=device, dtype=torch.float32))


def _topk_size(far: float | None, n_probe_images: int, n_distractors: int) -> int:
    if far is None:
        return 0
    if not 0 < far < 1:
        raise ValueError(f"far must lie in (0, 1), got {far}")
    return int(math.floor(far * n_probe_images * n_distractors)) + 1


def distractor_search(
    probes: Any,
    distractors: Any,
    counts: tuple[int, ...] | list[int],
    chunk_size: int = 65_536,
    impostor_topk: int = 0,
    device: str = "cpu",
    backend: str = "torch",
) -> tuple[np.ndarray, np.ndarray]:
    """For each ``N`` in ``counts`` (ascending), each probe's highest cosine against the first ``N`` distractors.

    Returns ``(max_scores, top_impostors)``: ``max_scores[c, p]`` for ``counts[c]``; ``top_impostors`` the
    ``impostor_topk`` highest probe-vs-distractor scores over all probes and the first ``max(counts)`` distractors
    (descending). ``distractors`` may be a numpy array, a memmap or a tensor; it is read ``chunk_size`` rows at a time.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    counts = [int(c) for c in counts]
    if not counts or sorted(counts) != counts or counts[0] < 1:
        raise ValueError(f"counts must be ascending positive integers, got {counts}")
    if counts[-1] > len(distractors):
        raise ValueError(f"asked for {counts[-1]} distractors but only {len(distractors)} are given")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    p = torch.as_tensor(np.asarray(probes, dtype=np.float32)) if not isinstance(probes, torch.Tensor) else probes.float()
    p = _normalize_t(p.to(device))
    if p.shape[1] != distractors.shape[1]:
        raise ValueError(f"probe features are {p.shape[1]}-d but distractors are {distractors.shape[1]}-d")
    if backend == "faiss":
        return _faiss_search(p.cpu().numpy(), distractors, counts, chunk_size, impostor_topk)
    best = torch.full((p.shape[0],), -math.inf, device=device)
    top = torch.empty(0, device=device)
    out = np.empty((len(counts), p.shape[0]), dtype=np.float32)
    start = 0
    for c, stop_at in enumerate(counts):
        while start < stop_at:
            stop = min(start + chunk_size, stop_at)
            sims = p @ _chunk_tensor(distractors, start, stop, device).T  # (P, chunk)
            best = torch.maximum(best, sims.max(dim=1).values)
            if impostor_topk:
                top = _merge_top(top, sims, impostor_topk)
            start = stop
        out[c] = best.cpu().numpy()
    return out, top.cpu().numpy().astype(np.float64)


def _merge_top(top: torch.Tensor, sims: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` highest values of ``top`` and ``sims`` together, without sorting all of ``sims``.

    A lower bound ``floor`` on the k-th highest value is found cheaply first, and only values ``>= floor`` are
    sorted: the current k-th kept value when ``k`` are kept, and the k-th highest of the maxima of ``k`` disjoint
    column blocks of ``sims`` (those maxima are ``k`` distinct entries, so the k-th highest entry is at least as
    large as the k-th highest of them).
    """
    floor = top[-1] if top.numel() >= k else torch.tensor(-math.inf, device=sims.device)
    rows, cols = sims.shape
    blocks = -(-k // rows)  # ceil(k / rows) blocks per row give >= k block maxima
    if cols >= blocks:
        width = cols // blocks
        maxima = sims[:, : blocks * width].reshape(rows, blocks, width).amax(dim=2).reshape(-1)
        floor = torch.maximum(floor, maxima.topk(k).values[-1])
    cand = torch.cat([top, sims[sims >= floor]])
    return cand.topk(min(k, cand.numel())).values


def _faiss_search(
    p: np.ndarray, distractors: Any, counts: list[int], chunk_size: int, impostor_topk: int
) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatIP(p.shape[1])
    out = np.empty((len(counts), p.shape[0]), dtype=np.float32)
    start = 0
    for c, stop_at in enumerate(counts):
        while start < stop_at:
            stop = min(start + chunk_size, stop_at)
            index.add(_chunk_tensor(distractors, start, stop, "cpu").numpy())
            start = stop
        out[c] = index.search(p, 1)[0][:, 0]
    top = np.empty(0)
    if impostor_topk:
        d, _ = index.search(p, min(impostor_topk, index.ntotal))
        top = np.sort(d.reshape(-1))[::-1][:impostor_topk].astype(np.float64)
    return out, top


def _trials(labels: np.ndarray, gallery: str) -> tuple[np.ndarray, np.ndarray]:
    """(probe index, mate index) of every identification trial."""
    if gallery not in ("each", "first"):
        raise ValueError(f"gallery must be 'each' (MegaFace devkit) or 'first', got {gallery!r}")
    probe_idx, mate_idx = [], []
    for ident in np.unique(labels):
        members = np.flatnonzero(labels == ident)
        if members.size < 2:
            continue
        mates = members if gallery == "each" else members[:1]
        for m in mates:
            others = members[members != m]
            probe_idx.append(others)
            mate_idx.append(np.full(others.size, m))
    if not probe_idx:
        raise ValueError("no identity has two or more probe images: nothing to identify")
    return np.concatenate(probe_idx), np.concatenate(mate_idx)


@dataclass
class IdentificationResult:
    """Rank-1 identification rate per distractor count, and TAR at FAR over probe pairs vs distractors."""

    distractor_counts: list[int]
    rank1: list[float]
    n_identities: int
    n_probe_images: int
    n_trials: int
    far: float | None
    tar_at_far: float | None
    threshold: float | None
    n_genuine: int
    n_impostor: int
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **{"indent": 2, **kwargs})


def identification(
    probe_features: Any,
    probe_labels: Any,
    distractors: Any,
    counts: tuple[int, ...] | list[int] | None = None,
    far: float | None = 1e-6,
    gallery: str = "each",
    chunk_size: int = 65_536,
    device: str = "cpu",
    backend: str = "torch",
    options: dict[str, Any] | None = None,
) -> IdentificationResult:
    """The MegaFace-style protocol (module docstring) on features: rank-1 per ``N`` in ``counts`` (default: the
    powers of ten up to the number of distractors) and TAR at ``far`` against all ``max(counts)`` distractors."""
    feats = np.asarray(probe_features, dtype=np.float32)
    labels = np.asarray(probe_labels)
    if feats.ndim != 2 or labels.shape != (feats.shape[0],):
        raise ValueError(f"probe_features must be (P, D) with one label each; got {feats.shape} and {labels.shape}")
    n_d = len(distractors)
    if counts is None:
        counts = [c for c in DEFAULT_COUNTS if c <= n_d] or [n_d]
    counts = [int(c) for c in counts]
    probe_idx, mate_idx = _trials(labels, gallery)
    k = _topk_size(far, feats.shape[0], counts[-1])
    best, top = distractor_search(feats, distractors, counts, chunk_size, k, device, backend)
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    mate_scores = np.sum(unit[probe_idx] * unit[mate_idx], axis=1)
    rank1 = [float(np.mean(mate_scores > best[c][probe_idx])) for c in range(len(counts))]
    tar = thr = None
    i, j = np.triu_indices(feats.shape[0], k=1)
    genuine = labels[i] == labels[j]
    gen_scores = np.sum(unit[i[genuine]] * unit[j[genuine]], axis=1)
    if far is not None:
        thr = float(top[-1])  # the k-th highest impostor score, k = floor(far * n_impostor) + 1
        tar = float(np.mean(gen_scores > thr)) if gen_scores.size else float("nan")
    opts = {
        "score": "cosine",
        "gallery": gallery,
        "rank1_rule": "mate score > max distractor score (ties fail)",
        "tar_rule": "threshold = (floor(far * n_impostor) + 1)-th highest impostor score; accept if score > threshold",
        "distractor_order": "first N distractors for each N",
        "backend": backend,
        **(options or {}),
    }
    return IdentificationResult(
        distractor_counts=counts, rank1=rank1, n_identities=int(np.unique(labels[probe_idx]).size),
        n_probe_images=int(feats.shape[0]), n_trials=int(probe_idx.size), far=far, tar_at_far=tar, threshold=thr,
        n_genuine=int(gen_scores.size), n_impostor=int(feats.shape[0]) * counts[-1], options=opts,
    )


def rank1_naive(probe_features: Any, probe_labels: Any, distractors: Any, n: int, gallery: str = "each") -> float:
    """Reference rank-1 with the full similarity matrix and an explicit argmax per trial (for tests/benchmarks).

    Each trial's gallery is the ``n`` first distractors followed by the mate; the trial succeeds when ``argmax``
    (first maximum) lands on the mate, i.e. the mate strictly beats every distractor.
    """
    f = np.asarray(probe_features, dtype=np.float32)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    d = np.asarray(distractors[:n], dtype=np.float32)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    full = f @ d.T  # (P, n): the whole matrix in memory
    probe_idx, mate_idx = _trials(np.asarray(probe_labels), gallery)
    hits = 0
    for p, m in zip(probe_idx, mate_idx):
        row = np.append(full[p], f[p] @ f[m])
        hits += int(np.argmax(row) == n)
    return hits / probe_idx.size
