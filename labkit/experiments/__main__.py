"""``python -m labkit.experiments``: the lab-scale Fig. 5 / Tables 1-2 grid (see :mod:`labkit.experiments.lab_scale`)."""

import sys

from labkit.experiments.lab_scale import main

sys.exit(main())
