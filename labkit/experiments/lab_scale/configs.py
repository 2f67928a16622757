"""The recipes of the lab-scale grid: :class:`DataConfig` (which faces, what input size), :class:`ExperimentConfig`
(one training run), :func:`preset` (the grid of each mode) and :func:`suite` (the configurations of Fig. 5, Table 1
and Table 2). Notebook 07 section 1 ("The lab setting") prints them; every other module reads them."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

#: bump when the training or evaluation code changes what a cached run would return
RUN_VERSION = 5
#: cosine scale used for NSL/LMCL/ArcFace unless a config says otherwise
DEFAULT_S = 30.0
HEAD_NAMES = ("softmax", "nsl", "sphereface", "cosface", "arcface")
BACKBONES = ("cnn",)  # the HOG-descriptor MLP of the first version is gone
#: the CNN's conv widths: four conv-BN-PReLU blocks (max-pool after the first three), see :class:`labkit.models.SmallCNN`
CNN_CHANNELS = (16, 32, 64, 64)


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how they become network input (notebook 07 sections 1-2). Default: every View 1 training
    person (``peopleDevTrain.txt``) with at least 2 images, at most 40 images each (1,184 people, 5,728 images),
    area-downsampled to 28x24 RGB."""

    min_images: int = 2
    max_per_identity: int = 40
    image_size: tuple[int, int] = (28, 24)  # (height, width) the aligned 112x96 faces are area-downsampled to
    n_folds: int = 10

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ExperimentConfig:
    """One training run's recipe (the seed is separate). ``label`` names it in tables and plots."""

    head: str = "cosface"  # softmax | nsl | sphereface | cosface | arcface
    m: float = 0.35  # cosine margin (cosface), angular margin (arcface), integer m (sphereface); unused otherwise
    s: float = DEFAULT_S
    normalize_features: bool = True  # False: LMCL on |x| cos(theta) (Table 1, cosface only)
    backbone: str = "cnn"  # the small CNN on pixels (the only backbone)
    epochs: int = 5
    batch: int = 128
    lr: float | None = None  # None: the lab preset's Adam 3e-3
    weight_decay: float = 5e-4
    hidden: int = 256
    embedding_dim: int = 128
    label: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.head not in HEAD_NAMES:
            raise ValueError(f"unknown head {self.head!r}; valid names are {', '.join(HEAD_NAMES)}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; valid names are {', '.join(BACKBONES)}")
        if not (isinstance(self.m, (int, float)) and math.isfinite(self.m)) or self.m < 0:
            raise ValueError(f"the margin m must be a finite number >= 0, got {self.m!r}")
        if self.head == "sphereface" and (self.m < 1 or float(self.m) != int(self.m)):
            raise ValueError(f"A-Softmax (sphereface) needs an integer margin m >= 1 (the paper's 4), got {self.m!r}")
        if not self.normalize_features and self.head != "cosface":
            raise ValueError("normalize_features=False is the Table 1 variant of LMCL: use it with head='cosface'")
        if self.s <= 0:
            raise ValueError(f"the scale s must be > 0, got {self.s!r}")
        for name in ("epochs", "batch", "hidden", "embedding_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    @property
    def learning_rate(self) -> float:
        """``lr``, or the lab preset's default when it is None."""
        return float(self.lr) if self.lr is not None else 3e-3

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.head == "cosface":
            return f"LMCL m={self.m:g}" + ("" if self.normalize_features else ", no feature norm")
        return {"softmax": "Softmax", "nsl": "NSL", "sphereface": f"A-Softmax m={int(self.m)}"}.get(
            self.head, f"ArcFace m={self.m:g}")

    def key(self) -> dict[str, Any]:
        """The fields that change the result (``label`` does not)."""
        d = asdict(self)
        d.pop("label")
        return d


def preset(mode: str) -> dict[str, Any]:
    """The grid of each mode (notebook 07 set-up cell). ``fast``: one 2-epoch seed of NSL and LMCL, for CI (the
    notebook's fast mode otherwise reads the shipped result). ``full``: the shipped grid, m = 0, 0.15, 0.25, 0.35,
    0.45, Table 1's two rows and Table 2's four losses, 3 seeds, 16 epochs (704 Adam steps): 8 configurations x 3
    seeds = 24 runs, each about 40 s of one core (1-3 minutes of wall time on a 2-core CPU shared with other jobs);
    as two parallel ``--shard k/2`` processes the grid took about half an hour (the shipped MANIFEST.json has the
    figures). A 12-epoch grid was run first: several margin runs still gained training accuracy at its end. ``epochs`` is a list: every
    experiment is run at each training length in it."""
    if mode == "fast":
        return {"m_grid": [0.0, 0.35], "seeds": [0], "epochs": [2]}
    if mode == "full":
        return {"m_grid": [0.0, 0.15, 0.25, 0.35, 0.45], "seeds": [0, 1, 2], "epochs": [16]}
    raise ValueError(f"mode must be 'fast' or 'full', got {mode!r}")


def suite(m_grid: Iterable[float], epochs: int | Sequence[int], s: float = DEFAULT_S,
          margin: float = 0.35, backbone: str = "cnn") -> dict[str, list[ExperimentConfig]]:
    """The configurations of the three experiments (notebook 07 section 3), at each training length in ``epochs``
    (labels get an ", N epochs" suffix when there are several). A configuration shared by several experiments (LMCL
    m=0.35; NSL = LMCL m=0) is the same run: :func:`labkit.experiments.lab_scale.run_grid` trains it once."""
    lengths = [int(epochs)] if isinstance(epochs, int) else [int(e) for e in epochs]
    out: dict[str, list[ExperimentConfig]] = {"fig5": [], "table1": [], "table2": []}
    for ep in lengths:
        tag = f", {ep} epochs" if len(lengths) > 1 else ""
        out["fig5"] += [ExperimentConfig(head="cosface", m=float(m), s=s, epochs=ep, backbone=backbone,
                                         label=f"LMCL m={float(m):g}{tag}") for m in m_grid]
        out["table1"] += [
            ExperimentConfig(backbone=backbone, head="cosface", m=margin, s=s, epochs=ep,
                             label=f"LMCL, feature normalisation{tag}"),
            ExperimentConfig(backbone=backbone, head="cosface", m=margin, s=s, epochs=ep, normalize_features=False,
                             label=f"LMCL, no feature normalisation{tag}"),
        ]
        out["table2"] += [
            ExperimentConfig(backbone=backbone, head="softmax", epochs=ep, label=f"Softmax{tag}"),
            ExperimentConfig(backbone=backbone, head="cosface", m=0.0, s=s, epochs=ep, label=f"NSL{tag}"),
            ExperimentConfig(backbone=backbone, head="sphereface", m=4, epochs=ep, label=f"A-Softmax{tag}"),
            ExperimentConfig(backbone=backbone, head="cosface", m=margin, s=s, epochs=ep, label=f"LMCL{tag}"),
        ]
    return out


#: the shipped setting that ``tests/test_experiments.py`` re-trains and notebook 07's fast mode trains live: the
#: cheapest one (LMCL m = 0.35, 2 epochs = 88 steps), shipped with the full grid's seeds so that its seed spread is known
CHECK_CONFIG = ExperimentConfig(head="cosface", m=0.35, epochs=2, label="LMCL m=0.35, 2 epochs (re-training check)")
