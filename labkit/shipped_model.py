"""The shipped lab model, ``--model lab``: one lab-scale LMCL run (Eq. 4, m = 0.35, s = 30;
:mod:`labkit.experiments.lab_scale`) saved as a face-model file in ``data/shipped/lab_model/lab_model.pt``, with
its card (threshold calibrated on the LFW View 2 fold the run never saw, Sec. 4.1 "Testing": cosine of the
flip-concatenated features) and ``MANIFEST.json`` (command, data, test fold, accuracy, sha256).

Importing this module registers the name with :func:`labkit.zoo.register` (:data:`labkit.zoo.BUILTIN_MODULES`
lists it). Re-make the file with the command in its manifest (``python -m labkit.experiments --save-model ...``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labkit import config, zoo

NAME = "lab"


def model_dir() -> Path:
    """``data/shipped/lab_model`` of this checkout."""
    return config.shipped_dir() / "lab_model"


def model_path() -> Path:
    """The shipped face-model file."""
    return model_dir() / "lab_model.pt"


def manifest() -> dict[str, Any]:
    """The shipped model's ``MANIFEST.json`` (how it was made, its test fold and accuracy, sha256 of the file)."""
    return json.loads((model_dir() / "MANIFEST.json").read_text())


def load() -> zoo.FaceModel:
    """The shipped lab model as a :class:`labkit.zoo.FaceModel` (112x96 crops in, 128-d embeddings out)."""
    path = model_path()
    if not path.is_file():
        raise zoo.UnknownModelError(f"the shipped lab model {path} is missing: restore data/shipped/lab_model from git "
                                    "or re-make it with the command in its MANIFEST.json")
    return zoo.load_model_file(path)


zoo.register(NAME, load, "the shipped lab-scale LMCL model (SmallCNN, 128-d), threshold calibrated on an LFW View 2 "
                         "fold it never saw (data/shipped/lab_model)")
