"""labkit: the library behind the CosFace lab notebooks.

Submodules, each with one purpose:

- ``labkit.losses``   the softmax / NSL / A-Softmax / LMCL (CosFace) / ArcFace heads (Eq. 1-5 of the paper)
- ``labkit.bounds``   the lower bound on s (Eq. 6) and the upper bounds on m (Eq. 7), executable
- ``labkit.theory``   pure figure and slider callbacks behind the theory notebooks 01-02
- ``labkit.config``   notebook parameters, data root, devices and seeds
- ``labkit.notebooks`` notebook conventions: preparing copies for CI, stripping outputs
"""

__version__ = "0.1.0"
