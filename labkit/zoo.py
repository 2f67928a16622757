"""Models you can point at: ``--model NAME|FILE`` for ``verify``, ``eval pairs``, ``eval lfw`` and the notebooks.

Every model the lab can embed with becomes a :class:`FaceModel`: an ``nn.Module`` that takes the lab's aligned
112x96 crops normalised as :func:`labkit.data.images.to_tensor` does ((x - 127.5) / 128, shape (B, 3, 112, 96))
and returns embeddings. Whatever a network needs beyond that (a smaller input size, other pixel statistics, padding
to another layout) lives inside the wrapper, so :func:`labkit.evaluate.features.embed_batches` and ``embed_paths``
treat every model alike (the paper's test-time flip included).

A model is named by

- a registered name (:func:`register`; :func:`names` lists them), for instance the shipped lab-scale model;
- or a file: a *face-model file* written by :func:`save_face_model` (format ``labkit-face-model/1``: the network's
  constructor name and arguments, its input size, its weights and its card), or a checkpoint of
  ``python -m labkit train`` (``config["arch"]`` + ``model`` weights, 112x96 input).

Files are read with ``torch.load(..., weights_only=True)`` only.

A model's *card* (:class:`ModelCard`) carries what a user needs beside the weights: a one-line description, the
verification threshold calibrated for it and where that threshold comes from (which pairs), so that ``verify`` can
say so on its output line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

FORMAT = "labkit-face-model/1"
CROP_SIZE = (112, 96)  # (height, width) of the lab's aligned crops: every FaceModel takes these


@dataclass
class ModelCard:
    """What is known about a model beside its weights.

    ``threshold`` is the cosine above which two faces are called the same person (``None``: not calibrated);
    ``threshold_source`` says on which pairs it was chosen (e.g. "best accuracy on the 600 pairs of LFW View 2 fold 0,
    which the model never saw"). ``info`` holds anything else worth keeping (training command, data, accuracy).
    """

    name: str
    description: str = ""
    threshold: float | None = None
    threshold_source: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class FaceModel(nn.Module):
    """A network behind the lab's crop convention: (B, 3, 112, 96) ``to_tensor`` pixels -> (B, D) embeddings.

    ``input_size`` is the (height, width) the network itself was trained at. Crops are area-averaged down to it
    when it is an integer fraction of 112x96 (28x24, 56x48: the lab-scale runs); ``preprocess`` (an ``nn.Module``,
    optional) then maps the lab's pixels to whatever the network expects.
    """

    def __init__(self, network: nn.Module, card: ModelCard, input_size: tuple[int, int] = CROP_SIZE,
                 preprocess: nn.Module | None = None) -> None:
        super().__init__()
        h, w = int(input_size[0]), int(input_size[1])
        if CROP_SIZE[0] % h or CROP_SIZE[1] % w or CROP_SIZE[0] // h != CROP_SIZE[1] // w:
            raise ValueError(f"input size {h}x{w} is not 112x96 divided by a whole factor (e.g. 56x48, 28x24)")
        self.network = network
        self.card = card
        self.input_size = (h, w)
        self.preprocess = preprocess

    @property
    def name(self) -> str:
        return self.card.name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != CROP_SIZE:
            raise ValueError(f"a FaceModel takes aligned {CROP_SIZE[0]}x{CROP_SIZE[1]} crops, got "
                             f"{x.shape[-2]}x{x.shape[-1]}")
        factor = CROP_SIZE[0] // self.input_size[0]
        if factor > 1:
            x = F.avg_pool2d(x, factor)
        if self.preprocess is not None:
            x = self.preprocess(x)
        return self.network(x)


# ---- registered names --------------------------------------------------------------------------------------------

Loader = Callable[[], FaceModel]
_REGISTRY: dict[str, tuple[Loader, str]] = {}
_ALIASES: dict[str, str] = {}


def register(name: str, loader: Loader, help_: str, aliases: tuple[str, ...] = ()) -> None:
    """Make ``--model name`` (and each alias) load ``loader()``; ``help_`` is the one line :func:`names` shows."""
    _REGISTRY[name] = (loader, help_)
    for alias in aliases:
        _ALIASES[alias] = name


def names() -> dict[str, str]:
    """Registered model names -> their one-line help (aliases shown in parentheses)."""
    _load_builtin_names()
    out = {}
    for name, (_, help_) in _REGISTRY.items():
        al = [a for a, n in _ALIASES.items() if n == name]
        out[name + (f" ({', '.join(al)})" if al else "")] = help_
    return out


def _load_builtin_names() -> None:
    """Import the modules that register the lab's named models (kept lazy: they may read files)."""
    import importlib

    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a module that has not been written yet registers nothing
            if exc.name != module:
                raise


#: modules whose import registers named models (each calls :func:`register`)
BUILTIN_MODULES: tuple[str, ...] = ("labkit.shipped_model", "labkit.reference")


class UnknownModelError(ValueError):
    """``--model`` names neither a registered model nor a readable model file."""


def load_face_model(spec: str | Path, device: str | torch.device = "cpu") -> FaceModel:
    """The model ``spec`` names: a registered name or alias, else a face-model file or a training checkpoint.

    Raises :class:`UnknownModelError` (one line, listing the valid names) when ``spec`` is neither, and
    ``ValueError`` naming the file when a file exists but is not a model the lab can rebuild.
    """
    _load_builtin_names()
    key = _ALIASES.get(str(spec), str(spec))
    if key in _REGISTRY:
        return _REGISTRY[key][0]().to(device).eval()
    path = Path(spec)
    if path.is_dir():
        raise UnknownModelError(f"--model {spec} is a folder; give a model file (.pt) or one of the names "
                                f"{', '.join(names())}")
    if not path.is_file():
        raise UnknownModelError(f"--model {spec!r} names no model: not one of {', '.join(names())}, and no such file")
    return load_model_file(path).to(device).eval()


# ---- files -------------------------------------------------------------------------------------------------------

def _constructors() -> dict[str, Callable[..., nn.Module]]:
    """Network constructors a face-model file may name (``arch`` -> callable(**arch_kwargs))."""
    from labkit import models

    out: dict[str, Callable[..., nn.Module]] = {
        "SmallCNN": lambda **kw: models.SmallCNN(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()})}
    for arch in models.ARCHS:
        out[arch] = lambda arch=arch, **kw: models.make_model(arch, kw.get("embedding_dim"))
    out.update(getattr(models, "EXTRA_CONSTRUCTORS", {}))
    return out


def save_face_model(path: str | Path, network: nn.Module, arch: str, arch_kwargs: dict[str, Any],
                    input_size: tuple[int, int], card: ModelCard) -> Path:
    """Write a face-model file (``labkit-face-model/1``): everything :func:`load_model_file` needs to rebuild the
    network, plain tensors and built-in types only, so it loads with ``weights_only=True``. Atomic (tmp + rename)."""
    from labkit import checkpoint

    if arch not in _constructors():
        raise ValueError(f"unknown arch {arch!r} for a face-model file; known: {', '.join(_constructors())}")
    state = {"format": FORMAT, "arch": arch, "arch_kwargs": dict(arch_kwargs), "input_size": list(input_size),
             "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()}, "card": asdict(card)}
    return checkpoint.save(state, path)


def load_model_file(path: str | Path) -> FaceModel:
    """Rebuild the model in a face-model file, or the network of a ``python -m labkit train`` checkpoint."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        raise ValueError(f"{path} is not a model file the lab can read ({type(exc).__name__}); give a face-model "
                         "file, a `labkit train` checkpoint, or a registered name") from exc
    if isinstance(state, dict) and state.get("format") == FORMAT:
        ctor = _constructors().get(state["arch"])
        if ctor is None:
            raise ValueError(f"{path}: unknown network {state['arch']!r}")
        network = ctor(**state["arch_kwargs"])
        try:
            network.load_state_dict(state["state_dict"])
        except RuntimeError as exc:
            raise ValueError(f"{path}: its weights do not fit a {state['arch']} network") from exc
        card = ModelCard(**state["card"])
        return FaceModel(network, card, tuple(state["input_size"]))
    if isinstance(state, dict) and isinstance(state.get("config"), dict) and "model" in state:
        from labkit.evaluate.cli import load_network

        network = load_network(path)
        card = ModelCard(name=path.name, description=f"`labkit train` checkpoint ({state['config'].get('arch')})",
                         threshold=None, threshold_source="not calibrated: run `eval lfw` and pass --threshold")
        return FaceModel(network, card)
    raise ValueError(f"{path} is neither a face-model file nor a `labkit train` checkpoint")
