"""Pure functions behind the theory notebooks (01: softmax to cosine, 02: bounds on s and m).

Every figure of those notebooks and every slider callback is a function here: parameters in, a plotly
``go.Figure`` plus a readout (text and numbers) out, a :class:`CallbackResult`, so tests can call them with slider
values and check what was computed without a browser. ``build_*_explorer`` wire ipywidgets sliders to these
callbacks; the figure is redrawn inside an ``ipywidgets.Output`` on every change.

The exercises of both notebooks are checked by :func:`check_answer` against :data:`EXERCISES` (answers are variables of
each notebook's ``parameters`` cell, ``None`` until answered).

Modules, one topic each (equation numbers refer to the CosFace paper, Wang et al., CVPR 2018; Eqs. 8-16 are in its
supplementary part):

- :mod:`~labkit.theory.batch`: the hand-sized batch of notebook 01, Sec. 1 (Eqs. 1-4);
- :mod:`~labkit.theory.boundaries`: Fig. 2 as numbers, psi and the margin widths across the diagonal;
- :mod:`~labkit.theory.decision_figure`: Fig. 2 redrawn (Softmax, NSL, A-Softmax, LMCL in cosine space);
- :mod:`~labkit.theory.circle`: Fig. 3, LMCL's boundaries on the unit circle;
- :mod:`~labkit.theory.radial`: Sec. 3.3, the radial gradient and the norm trajectory without normalisation;
- :mod:`~labkit.theory.bound_figures`: notebook 02's figures of Eqs. 6-7 and the bounds explorer's callback;
- :mod:`~labkit.theory.explorers`: the ipywidgets explorers;
- :mod:`~labkit.theory.exercises`: the exercises and :func:`check_answer`;
- :mod:`~labkit.theory.result`: :class:`CallbackResult`.

Everything is importable from ``labkit.theory``.
"""

from labkit.palette import OKABE_ITO  # noqa: F401  (the lab's one palette, used by the notebooks as theory.OKABE_ITO)
from labkit.theory.batch import tiny_batch  # noqa: F401
from labkit.theory.bound_figures import (  # noqa: F401
    bounds_explorer_state,
    configuration_figure,
    margin_vs_classes,
    s_bound_figure,
    scale_margin_curves,
)
from labkit.theory.boundaries import asoftmax_small_angle_width, margin_width_across_diagonal, psi  # noqa: F401
from labkit.theory.circle import CLASS_COLOURS, circle_geometry_figure, lmcl_circle_boundaries  # noqa: F401
from labkit.theory.decision_figure import MARGIN_GREY, OVERLAP_FILL, decision_boundaries_figure  # noqa: F401
from labkit.theory.exercises import EXERCISES, NOT_ANSWERED, Exercise, check, check_answer  # noqa: F401
from labkit.theory.explorers import (  # noqa: F401
    build_bounds_explorer,
    build_circle_explorer,
    build_decision_explorer,
)
from labkit.theory.radial import lmcl_feature_gradient, norm_trajectory  # noqa: F401
from labkit.theory.result import CallbackResult  # noqa: F401
