"""The 8-identity, 2-D-feature toy experiment of the CosFace paper (Sec. 3.4, Fig. 4).

- :mod:`labkit.toy.data`     the 8 LFW identities, decoded once, downsampled, cached; split; balanced sampling
- :mod:`labkit.toy.model`    a small CNN ending in a bias-free 2-D feature layer
- :mod:`labkit.toy.train`    ``train_toy(ToyConfig(...), data) -> ToyResult`` (deterministic with a seed)
- :mod:`labkit.toy.metrics`  accuracy, angular spread, neighbour gaps, comparison with the Eq. 7 bound
- :mod:`labkit.toy.sweep`    the grid over (m, s) plus softmax, the shipped copy and its MANIFEST (``verify``)
- :mod:`labkit.toy.plots`    the Fig. 4 figure (plotly) and the numbers table
- :mod:`labkit.toy.widgets`  the notebook explorer (sliders over the shipped sweep, "train at this m")
- :mod:`labkit.toy.cli`      ``python -m labkit toy ...``
"""

from labkit.toy.data import IDENTITIES, ToyData, load_toy_data
from labkit.toy.train import ToyConfig, ToyResult, train_toy

__all__ = ["IDENTITIES", "ToyConfig", "ToyData", "ToyResult", "load_toy_data", "train_toy"]
