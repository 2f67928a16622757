"""Evaluation protocols of the paper (Sec. 4.1 "Testing", Sec. 4.4): test-time features with the horizontal flip,
cosine scores, LFW and YTF 10-fold verification, and MegaFace-style identification with distractors.

- ``labkit.evaluate.features``       image + flip features (``"concat"`` as in the paper, ``"sum"``, ``"none"``)
- ``labkit.evaluate.verification``   the k-fold threshold protocol and ROC/AUC/EER/TAR@FAR (numpy; tested vs sklearn)
- ``labkit.evaluate.lfw``            LFW View 2: 6,000 pairs in 10 folds
- ``labkit.evaluate.ytf``            YTF: 5,000 video pairs in 10 splits, video feature = mean of frames
- ``labkit.evaluate.identification`` MegaFace-style rank-1 vs distractor count, TAR at FAR 1e-6, chunked search
- ``labkit.evaluate.analysis``       fold tables, per-pair thresholds and errors, the raw-pixel baseline, a
                                     probe/distractor split of a small face set (notebook 06)
- ``labkit.evaluate.cli``            ``python -m labkit eval {lfw,ytf,megaface}``
"""

from labkit.evaluate.features import FLIP_MODES, combine_flip, cosine_pairs, embed_batches, embed_paths, l2_normalize
from labkit.evaluate.identification import IdentificationResult, distractor_search, identification, rank1_naive
from labkit.evaluate.verification import (
    RocSummary,
    VerificationResult,
    best_threshold,
    kfold_verification,
    roc_summary,
    threshold_candidates,
)

__all__ = [
    "FLIP_MODES",
    "IdentificationResult",
    "RocSummary",
    "VerificationResult",
    "best_threshold",
    "combine_flip",
    "cosine_pairs",
    "distractor_search",
    "embed_batches",
    "embed_paths",
    "identification",
    "kfold_verification",
    "l2_normalize",
    "rank1_naive",
    "roc_summary",
    "threshold_candidates",
]
