"""labkit: the library behind the CosFace lab notebooks.

Submodules, each with one purpose:

- ``labkit.losses``   the softmax / NSL / A-Softmax / LMCL (CosFace) / ArcFace heads (Eq. 1-5 of the paper)
- ``labkit.bounds``   the lower bound on s (Eq. 6) and the upper bounds on m (Eq. 7), executable
- ``labkit.theory``   pure figure and slider callbacks behind the theory notebooks 01-02
- ``labkit.data``     face data sets (LFW, CASIA-WebFace folders and RecordIO, YTF, MegaFace lists, synthetic),
                      5-point alignment, verified downloads, training loaders
- ``labkit.models``   SphereFace-style residual nets (sphere20/36/64) at 112x96 and a small CPU net
- ``labkit.train``    the trainer: SGD with the paper's schedule, resumable checkpoints, DDP via torchrun
- ``labkit.evaluate`` test-time flip features, LFW/YTF 10-fold verification, MegaFace-style identification
- ``labkit.experiments.toy``      the 8-identity, 2-D-feature experiment of Fig. 4
- ``labkit.experiments.lab_scale`` lab-scale Fig. 5 and Tables 1-2 (margin sweep, normalization, loss comparison)
- ``labkit.config``   notebook parameters, data root, devices and seeds
- ``labkit.notebooks`` notebook conventions: preparing copies for CI, stripping outputs
"""

__version__ = "0.1.0"
