"""Lab-scale reproductions of the CosFace paper's loss experiments: Fig. 5 (verification accuracy vs the margin m),
Table 1 (LMCL with and without feature normalisation) and Table 2 (Softmax, NSL, A-Softmax, LMCL on the same data
and network). Notebook 07 is the front end: ``from labkit.experiments import lab_scale as E``.

The lab setting, and how it differs from the paper's (Sec. 4.1-4.3):

- Two identity-disjoint splits of LFW (:class:`DataConfig`). Fig. 5 uses View 1: every training person
  (``peopleDevTrain.txt``) with at least 2 images, at most 40 each (1,184 people, 5,728 images), tested on the 1,000
  DevTest pairs, whose people (``peopleDevTest.txt``) share nobody with them. Tables 1 and 2 use View 2: for fold k
  of ``pairs.txt`` (0-4 in the shipped grid), train on every LFW person with at least 2 images outside that fold's
  pairs (about 1,510 people, 7,300 images) and test on its 600 pairs. The paper trains on CASIA-WebFace (10,575
  people, ~494K images) and reports all 6,000 View 2 pairs.
- Test pairs are cut into 10 folds (matched and mismatched pairs each in file order) and scored with the lab's one
  10-fold routine, :func:`labkit.evaluate.kfold_verification`; features are image and mirror-image embeddings
  concatenated, compared by cosine (as the paper tests).
- Network: :class:`labkit.models.SmallCNN` on pixels, the aligned 112x96 faces area-downsampled to ``image_size``
  (56x48) RGB, (x - 127.5) / 128; four conv3x3-BN-PReLU blocks (:data:`CNN_CHANNELS`), FC(256)-PReLU-BN and a
  bias-free linear 128-d embedding. The paper: a 64-layer residual CNN on 112x96 pixels, 512-d embedding.
- Optimisation: the engine's ``lab`` preset (:mod:`labkit.presets`): Adam (lr 3e-3, weight decay 5e-4), linear
  warm-up over the first 10 % of the steps then cosine decay, batch 128, random horizontal flips, 16 epochs.
  s = 30 (paper 64).
- Diagnostics (every epoch, from :func:`labkit.engine.fit`): training accuracy, the loss with and without the margin
  term, the mean feature norm |x| before normalisation, the mean angle to the class weight, and the test-pair
  verification accuracy; :func:`converged` states the lab's convergence rule.
- A-Softmax: m = 4, its lambda annealing compressed so that lambda reaches its floor (5) halfway through the run.
- LMCL without feature normalisation (Table 1): unit class weights, raw features (logits |x| cos(theta)); as in the
  paper it starts from the softmax loss (the first third of the iterations with m = 0).
- :func:`design_checks`: LMCL with s = 16 / 64, with the margin off for the first half, and both LMCL and A-Softmax
  trained twice as long, at 28x24 on View 1, and both at 56x48 on View 1; each LMCL run paired with A-Softmax
  (does a design choice decide Table 2?).

Statistics: each run gives a 10-fold mean accuracy; :func:`summarize` reports the mean over runs (seeds, or View 2
folds) with its s.e. over them (and over run x fold accuracies); :func:`paired_difference` compares two settings
on the same split and seed (:func:`unit`).

The ten-fold grid (issue #23): every View 2 fold, LFW + CelebA training people (:attr:`DataConfig.extra`), a
nested cap on the number of training people (:attr:`DataConfig.max_identities`), pooled TAR at FAR = 1e-3 and
rank-1 identification per run; :mod:`.grid` (jobs, shipping each record as it finishes, resuming),
:mod:`.tenfold` (its tables and the identities figure), :mod:`.schedule_check` (does 24 epochs instead of 16 change
a comparison?), :func:`tenfold_verdicts`. :mod:`.export` writes any run as
a face-model file (``python -m labkit.experiments --save-model FILE``), the shipped ``--model lab`` among them.

Modules: :mod:`.configs` (recipes, grid), :mod:`.data` (faces), :mod:`.training` (one run, the cached grid,
convergence), :mod:`.stats` (summaries, paired differences, tables), :mod:`.verdicts` (computed
statements), :mod:`.plots`, :mod:`.cli`
(``python -m labkit.experiments --mode full --out data/shipped/lab_scale``). The live thread count of a run is
``labkit.experiments.lab_scale.training.CPU_THREADS``.
"""

from labkit.experiments.lab_scale.configs import (BACKBONES, CHECK_CONFIG, CNN_CHANNELS, DEFAULT_S, HEAD_NAMES, RUN_VERSION,
                                                  DataConfig, ExperimentConfig, Job, PROTOCOLS, distinct_runs,
                                                  grid_for, jobs, suite, design_checks,
                                                  DESIGN_CHECK_SIZE)
from labkit.experiments.lab_scale.data import LabData, devtest_pairs, identity_split, load_lab_data, test_pairs
from labkit.experiments.lab_scale.training import (CPU_THREADS, build_backbone, convergence_checks, converged,
                                                   evaluate_run, head_for, run_grid, run_one, train_run)
from labkit.experiments.lab_scale.stats import (convergence_summary, distinct, run_id, unit, units_phrase, convergence_table, describe_difference, diagnostics_table,
                                                difference_table, load_records, markdown_table, paired_difference,
                                                save_records, summarize)
from labkit.experiments.lab_scale.verdicts import (design_verdict, loss_reading, margin_pairs, margin_verdict, norm_verdict,
                                                   ranking_verdict, tenfold_verdicts)
from labkit.experiments.lab_scale.plots import plot_bars, plot_diagnostics, plot_identities, plot_margin_curve
from labkit.experiments.lab_scale.stats import paired_over_folds, pooled_tar, pooled_tar_difference
from labkit.experiments.lab_scale import grid, schedule_check, tenfold
from labkit.experiments.lab_scale.export import save_run_model, train_and_save
from labkit.experiments.lab_scale.cli import effective_grid, main, run_jobs, run_suite
from labkit.experiments.published import PAPER

__all__ = [
    "PAPER", "CHECK_CONFIG", "DataConfig", "ExperimentConfig", "LabData", "BACKBONES", "CNN_CHANNELS", "DEFAULT_S", "HEAD_NAMES",
    "RUN_VERSION", "CPU_THREADS", "build_backbone", "head_for", "converged", "convergence_checks", "grid_for", "suite", "jobs", "Job",
    "PROTOCOLS", "design_checks", "DESIGN_CHECK_SIZE", "distinct_runs", "effective_grid", "run_jobs", "test_pairs", "unit", "units_phrase", "run_id", "distinct", "convergence_summary",
    "load_lab_data", "identity_split", "devtest_pairs", "train_run", "evaluate_run", "run_one", "run_grid",
    "run_suite", "summarize", "paired_difference", "describe_difference", "difference_table", "convergence_table",
    "diagnostics_table", "save_records", "load_records", "markdown_table", "plot_margin_curve", "plot_bars",
    "plot_diagnostics", "plot_identities", "main", "margin_pairs", "tenfold_verdicts", "paired_over_folds", "pooled_tar",
    "pooled_tar_difference", "grid", "schedule_check", "tenfold", "save_run_model", "train_and_save", "margin_verdict", "design_verdict", "norm_verdict", "ranking_verdict", "loss_reading",
]
