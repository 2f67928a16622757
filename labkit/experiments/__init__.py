"""What reproduces the paper's experiments, one module (or package) per experiment.

- :mod:`labkit.experiments.toy`        the 8-identity, 2-D-feature toy of Fig. 4 (notebook 03, the dashboard)
- :mod:`labkit.experiments.lab_scale`  Fig. 5 and Tables 1-2 on LFW people, on a CPU (notebook 07)

``python -m labkit.experiments --mode full --out data/shipped/lab_scale`` runs the lab-scale grid.
"""
