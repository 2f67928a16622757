"""The 8-identity, 2-D-feature toy experiment of the CosFace paper (Sec. 3.4, Fig. 4).

- :mod:`labkit.experiments.toy.data`     the 8 LFW identities, decoded once, downsampled, cached; split; balanced sampling
- :mod:`labkit.experiments.toy.model`    the class weights started evenly on the circle (network: labkit.models.SmallCNN)
- :mod:`labkit.experiments.toy.train`    ``train_toy(ToyConfig(...), data) -> ToyResult`` (deterministic with a seed)
- :mod:`labkit.experiments.toy.metrics`  accuracy, angular spread, neighbour gaps, comparison with the Eq. 7 bound
- :mod:`labkit.experiments.toy.sweep`    the grid over (m, s) plus softmax, the shipped copy and its MANIFEST (``verify``)
- :mod:`labkit.experiments.toy.plots`    the Fig. 4 figure (plotly) and the numbers table
- :mod:`labkit.experiments.toy.widgets`  the notebook explorer (sliders over the shipped sweep, "train at this m")
- :mod:`labkit.experiments.toy.cli`      ``python -m labkit toy ...``
"""

from labkit.experiments.toy.data import IDENTITIES, ToyData, load_toy_data
from labkit.experiments.toy.train import ToyConfig, ToyResult, train_toy

__all__ = ["IDENTITIES", "ToyConfig", "ToyData", "ToyResult", "load_toy_data", "train_toy"]
