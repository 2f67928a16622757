"""The recipes of the lab-scale grid: :class:`DataConfig` (which faces, what input size, which split),
:class:`ExperimentConfig` (one training run), :func:`grid_for` (the grid of each mode), :func:`suite` (the
configurations of Fig. 5, Table 1 and Table 2) and :func:`jobs` (every run of a grid, with its split and seed).
Notebook 07 section 1 ("The lab setting") prints them; every other module reads them."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

#: bump when the training or evaluation code changes what a cached run would return
RUN_VERSION = 6
#: cosine scale used for NSL/LMCL/ArcFace unless a config says otherwise
DEFAULT_S = 30.0
PROTOCOLS = ("view1", "view2")
HEAD_NAMES = ("softmax", "nsl", "sphereface", "cosface", "arcface")
BACKBONES = ("cnn",)  # the HOG-descriptor MLP of the first version is gone
#: the CNN's conv widths: four conv-BN-PReLU blocks (max-pool after the first three), see :class:`labkit.models.SmallCNN`
CNN_CHANNELS = (16, 32, 64, 64)


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how they become network input (notebook 07 sections 1-2).

    ``protocol="view1"`` (default): every View 1 training person (``peopleDevTrain.txt``) with at least 2 images, at
    most 40 images each (1,184 people, 5,728 images); test on the 1,000 DevTest pairs.
    ``protocol="view2"``: test on the 600 pairs of fold ``test_fold`` of ``pairs.txt`` (View 2), train on every LFW
    person with at least 2 images who appears in none of that fold's pairs (about 1,510 people, 7,300 images; the
    ten folds share nobody, so a model of fold k never sees a person of its own test pairs).
    Images are the aligned 112x96 faces area-downsampled to ``image_size`` (height, width) RGB. ``n_folds`` is
    the number of cross-validation folds the test pairs are cut into for the threshold.
    ``extra=("celeba",)`` adds the CelebA identities of the layout table's ``celeba`` entry as training people (898
    identities, 889 with >= 2 faces; the 40 that are LFW people are not in that folder, and the loader refuses any
    that excluded_identities.tsv lists); test pairs stay LFW's. ``max_identities`` keeps only that many training
    people, the first of one permutation seeded by ``identity_seed``, so smaller samples are nested in larger ones
    (the ten-fold grid's identities figure)."""

    min_images: int = 2
    max_per_identity: int = 40
    image_size: tuple[int, int] = (56, 48)  # (height, width) the aligned 112x96 faces are area-downsampled to
    n_folds: int = 10
    protocol: str = "view1"  # "view1" (DevTrain / DevTest) or "view2" (pairs.txt, one test fold)
    test_fold: int = 0  # the View 2 fold whose 600 pairs are the test set (0-9); unused for view1
    extra: tuple[str, ...] = ()  # extra training people from these data sets of the layout table, e.g. ("celeba",)
    max_identities: int = 0  # keep this many training people (0: all), a seeded nested sample (identity_seed)
    identity_seed: int = 0  # the seed of that sample: for one seed, the people kept at 300 are among those at 600

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", tuple(str(e) for e in self.extra))
        unknown = [e for e in self.extra if e not in EXTRA_SETS]
        if unknown:
            raise ValueError(f"extra training sets must be among {', '.join(EXTRA_SETS)}, got {unknown}")
        if int(self.max_identities) < 0:
            raise ValueError(f"max_identities is a number of people (0: all), got {self.max_identities!r}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if not 0 <= int(self.test_fold) < 10:
            raise ValueError(f"test_fold must be a View 2 fold 0-9, got {self.test_fold!r}")
        h, w = self.image_size
        if not (8 <= h <= 112 and 8 <= w <= 96):
            raise ValueError(f"image_size must be (height, width) within 8..112 x 8..96, got {self.image_size!r}")

    @property
    def split(self) -> str:
        """The name of the train/test split, the key runs are paired on: "View 1" or "View 2 fold k"."""
        return "View 1" if self.protocol == "view1" else f"View 2 fold {self.test_fold}"

    def key(self) -> str:
        """A hash of the fields; the fields added for the ten-fold grid count only when they differ from their
        defaults, so the earlier grid's runs keep their keys."""
        d = asdict(self)
        for name, default in _LATER_FIELDS.items():
            if d[name] == default:
                d.pop(name)
        d["extra"] = list(d.get("extra", []))
        if not d["extra"]:
            d.pop("extra")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


#: data sets whose people can join the training people (:attr:`DataConfig.extra`), each a layout table name
EXTRA_SETS = ("celeba",)
#: DataConfig fields added after the first grid shipped, with their defaults (left out of :meth:`DataConfig.key`)
_LATER_FIELDS = {"max_identities": 0, "identity_seed": 0}


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
    margin_warmup: float | None = None  # fraction of the steps trained with the margin off; None: 1/3 for LMCL
    # without feature normalisation (the paper starts it from softmax), 0 otherwise
    label: str = ""
    steps: int = 0  # optimiser steps; 0: ``epochs`` passes over the training faces (a fixed count keeps runs on
    # fewer people trained as long as the full run: the identities figure)

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
        if int(self.steps) < 0:
            raise ValueError(f"steps must be >= 0 (0: set by epochs), got {self.steps!r}")
        if self.margin_warmup is not None and not 0 <= self.margin_warmup < 1:
            raise ValueError(f"margin_warmup is a fraction of the steps in [0, 1), got {self.margin_warmup!r}")
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

    @property
    def margin_off_fraction(self) -> float:
        """The fraction of the steps trained with the margin off (see ``margin_warmup``)."""
        if self.margin_warmup is not None:
            return float(self.margin_warmup)
        return 1.0 / 3.0 if self.head == "cosface" and not self.normalize_features else 0.0

    def key(self) -> dict[str, Any]:
        """The fields that change the result (``label`` does not; ``margin_warmup`` only when set)."""
        d = asdict(self)
        d.pop("label")
        if d["margin_warmup"] is None:
            d.pop("margin_warmup")
        if not d["steps"]:
            d.pop("steps")
        return d


def grid_for(mode: str) -> dict[str, Any]:
    """The grid of each mode (notebook 07 set-up cell, ``python -m labkit.experiments``).

    ``full`` (the shipped grid): 56x48 input, 16 epochs; Fig. 5 (LMCL at m = 0, 0.15, 0.25, 0.35, 0.45) on View 1
    with seeds 0-2; Table 1's two rows and Table 2's four losses on View 2 folds 0-4 (train on everybody outside
    the fold, test on its 600 pairs: 3,000 test pairs in all, three times View 1's), seed 0 on each fold. That is
    15 + 25 = 40 distinct runs, 2-3 CPU-minutes each; as two ``--shard k/2`` processes on a 2-core CPU about an
    hour (MANIFEST.json has the measured figures). All ten folds (``--folds 0 1 ... 9``) would double the View 2
    part and pass the 90-minute budget. Plus the design checks (:func:`design_checks`) on View 1, seeds 0-2: 21
    runs at 28x24 of half a CPU-minute to a minute, and A-Softmax at 56x48 (3 runs; LMCL there is Fig. 5's run). ``fast``: one 2-epoch seed of NSL and LMCL on View 1, for CI."""
    if mode == "fast":
        return {"m_grid": [0.0, 0.35], "seeds": [0], "epochs": [2], "folds": [], "fold_seeds": [0],
                "design_checks": False}
    if mode == "full":
        return {"m_grid": [0.0, 0.15, 0.25, 0.35, 0.45], "seeds": [0, 1, 2], "epochs": [16], "folds": [0, 1, 2, 3, 4],
                "fold_seeds": [0], "design_checks": True}
    raise ValueError(f"mode must be 'fast' or 'full', got {mode!r}")


def suite(m_grid: Iterable[float], epochs: int | Sequence[int], s: float = DEFAULT_S,
          margin: float = 0.35, backbone: str = "cnn") -> dict[str, list[ExperimentConfig]]:
    """The configurations of the three experiments (notebook 07 section 3), at each training length in ``epochs``
    (labels get an ", N epochs" suffix when there are several). A configuration shared by several experiments (LMCL
    m=0.35; NSL = LMCL m=0) is the same run on the same split: :func:`jobs` lists it once."""
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


#: the input size of most design checks: a quarter of the main grid's pixels, so that they cost little
DESIGN_CHECK_SIZE = (28, 24)


def design_checks(epochs: int = 16, s: float = DEFAULT_S, margin: float = 0.35,
                  main_size: tuple[int, int] = (56, 48)) -> list[tuple[ExperimentConfig, tuple[int, int]]]:
    """Does a design choice decide LMCL against A-Softmax (notebook 07 section 8)? ``(config, input size)`` pairs,
    all on View 1: LMCL and A-Softmax as in Table 2 at :data:`DESIGN_CHECK_SIZE`, then LMCL with one choice changed:
    the scale s (16 and 64 around the grid's 30; Eq. 6's lower bound for about 1,200 classes is near 14 at
    m = 0.35), a margin switched on only halfway (A-Softmax's lambda annealing is such a curriculum), both losses
    trained twice as long, and both at the main grid's input size ``main_size`` (the LMCL run there is Fig. 5's
    m = 0.35 run)."""
    small, tag = DESIGN_CHECK_SIZE, f"{main_size[0]}x{main_size[1]} input"
    return [
        (ExperimentConfig(head="cosface", m=margin, s=s, epochs=epochs, label="LMCL"), small),
        (ExperimentConfig(head="sphereface", m=4, epochs=epochs, label="A-Softmax"), small),
        (ExperimentConfig(head="cosface", m=margin, s=16.0, epochs=epochs, label="LMCL, s = 16"), small),
        (ExperimentConfig(head="cosface", m=margin, s=64.0, epochs=epochs, label="LMCL, s = 64"), small),
        (ExperimentConfig(head="cosface", m=margin, s=s, epochs=epochs, margin_warmup=0.5,
                          label="LMCL, margin off for the first half"), small),
        (ExperimentConfig(head="cosface", m=margin, s=s, epochs=2 * epochs, label=f"LMCL, {2 * epochs} epochs"), small),
        (ExperimentConfig(head="sphereface", m=4, epochs=2 * epochs, label=f"A-Softmax, {2 * epochs} epochs"), small),
        (ExperimentConfig(head="cosface", m=margin, s=s, epochs=epochs, label=f"LMCL, {tag}"), main_size),
        (ExperimentConfig(head="sphereface", m=4, epochs=epochs, label=f"A-Softmax, {tag}"), main_size),
    ]


def run_identity(cfg: ExperimentConfig, data: DataConfig, seed: int) -> dict[str, Any]:
    """What decides the network a run trains: the recipe (:meth:`ExperimentConfig.key`), the faces and split
    (:meth:`DataConfig.key`) and the seed. The one identity behind :meth:`Job.run_key`, the run cache's file names
    and :func:`labkit.experiments.lab_scale.run_id` of a record."""
    return {"cfg": cfg.key(), "seed": int(seed), "data": data.key()}


@dataclass(frozen=True)
class Job:
    """One run of a grid: which experiment it serves, its recipe, its train/test split and its seed."""

    experiment: str
    config: ExperimentConfig
    data: DataConfig
    seed: int

    def run_key(self) -> str:
        """Identical for every job that trains the same network (label and experiment aside)."""
        return json.dumps(run_identity(self.config, self.data, self.seed), sort_keys=True)


def jobs(grid: dict[str, Any], image_size: tuple[int, int] | None = None) -> list[Job]:
    """Every (experiment, config, split, seed) of a grid from :func:`grid_for`: Fig. 5 on View 1 with
    ``grid["seeds"]``; Tables 1 and 2 on the View 2 folds ``grid["folds"]`` with ``grid["fold_seeds"]``, or on View 1
    with ``grid["seeds"]`` when ``folds`` is empty. Seed-major / fold-major, so a grid cut short holds whole
    replicates."""
    size = tuple(image_size or DataConfig().image_size)
    configs = suite(grid["m_grid"], grid["epochs"])
    view1 = DataConfig(image_size=size)
    out = [Job("fig5", c, view1, int(sd)) for sd in grid["seeds"] for c in configs["fig5"]]
    if grid.get("folds"):
        splits = [(DataConfig(image_size=size, protocol="view2", test_fold=int(k)), int(sd))
                  for k in grid["folds"] for sd in grid.get("fold_seeds", [0])]
    else:
        splits = [(view1, int(sd)) for sd in grid["seeds"]]
    for dc, sd in splits:
        out += [Job(name, c, dc, sd) for name in ("table1", "table2") for c in configs[name]]
    if grid.get("design_checks"):
        ep = int(grid["epochs"][0]) if not isinstance(grid["epochs"], int) else int(grid["epochs"])
        out += [Job("design", c, DataConfig(image_size=sz), int(sd)) for sd in grid["seeds"]
                for c, sz in design_checks(ep, main_size=size)]
    return out


def distinct_runs(all_jobs: Sequence[Job]) -> list[Job]:
    """The jobs that train something new, in order (the first job of each :meth:`Job.run_key`)."""
    seen: set[str] = set()
    out = []
    for j in all_jobs:
        if j.run_key() not in seen:
            seen.add(j.run_key())
            out.append(j)
    return out


#: the shipped setting that ``tests/test_experiments.py`` re-trains and notebook 07's fast mode trains live: the
#: cheapest one (LMCL m = 0.35, 2 epochs = 88 steps), shipped with the full grid's seeds so that its seed spread is known
CHECK_CONFIG = ExperimentConfig(head="cosface", m=0.35, epochs=2, label="LMCL m=0.35, 2 epochs (re-training check)")
