"""ONNX export of the lab's networks, wrapper included: the exported graph takes the lab's aligned crops.

Every model of the lab is a :class:`labkit.zoo.FaceModel`: (B, 3, 112, 96) pixels normalised as
:func:`labkit.data.images.to_tensor` does, ``(v - 127.5) / 128``, in; (B, D) embeddings out. The export keeps the
whole wrapper: the area-averaging down to a lab-scale input size (28x24, 56x48) and any ``preprocess`` (the
reference MobileFaceNet's padding to 112x112 and ImageNet normalisation) become part of the ONNX graph, so an ONNX
runtime fed the same crops gives the same embeddings. The batch dimension is dynamic.

The test-time flip of the paper (Sec. 4.1: features of the image and of its mirror image, concatenated) is not in
the graph: run the model on both and concatenate, as :func:`labkit.evaluate.features.embed_batches` does.

Export uses PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``); the newer
``torch.export`` path needs the ``onnxscript`` package, which the lab does not install.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from labkit.zoo import CROP_SIZE, FaceModel

INPUT_NAME = "crops"
OUTPUT_NAME = "embedding"
OPSET = 17


def export_onnx(model: FaceModel, out: str | Path, batch: int = 2, opset: int = OPSET) -> Path:
    """Write ``model`` (eval mode, CPU) to ``out`` as ONNX with a dynamic batch size; returns ``out``.

    The graph's input ``crops`` is ``(batch, 3, 112, 96)`` float32, its output ``embedding`` ``(batch, D)``. The
    model card (name, description, threshold and its source) is stored in the file's metadata. Written to a
    temporary file, checked with :func:`onnx.checker.check_model`, then renamed.
    """
    import onnx

    if not isinstance(model, FaceModel):
        raise TypeError(f"export a labkit.zoo.FaceModel (the lab's crop convention), got {type(model).__name__}")
    out = Path(out)
    model = model.to("cpu").eval()
    dummy = torch.zeros(batch, 3, *CROP_SIZE)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated, not gone
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # FaceModel's shape check is a Python branch
            warnings.filterwarnings("ignore", message="Constant folding")  # the padding's Slice: folded or not, same
            torch.onnx.export(model, (dummy,), str(tmp), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        proto = onnx.load(str(tmp))
        meta = {"labkit.name": model.card.name, "labkit.description": model.card.description,
                "labkit.input": "(batch, 3, 112, 96) aligned crops, (pixel - 127.5) / 128, RGB",
                "labkit.threshold": "" if model.card.threshold is None else repr(model.card.threshold),
                "labkit.threshold_source": model.card.threshold_source}
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def onnx_session(path: str | Path):
    """An ONNX Runtime CPU session for ``path``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session, crops: torch.Tensor | np.ndarray) -> np.ndarray:
    """Embeddings of ``crops`` ((B, 3, 112, 96) ``to_tensor`` pixels) from an exported model's session."""
    x = crops.numpy() if isinstance(crops, torch.Tensor) else np.asarray(crops)
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def max_difference(model: FaceModel, path: str | Path, crops: torch.Tensor) -> float:
    """Largest absolute difference between the embeddings of ``crops`` from ``model`` in torch and from the ONNX
    file ``path`` under ONNX Runtime."""
    with torch.no_grad():
        ref = model.to("cpu").eval()(crops).numpy()
    return float(np.abs(run_onnx(onnx_session(path), crops) - ref).max())
