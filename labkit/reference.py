"""The lab's reference model: a pretrained MobileFaceNet, registered as ``--model reference`` (alias ``mobilefacenet``).

What it is: MobileFaceNet (Chen et al., 2018; about 1.0 M parameters, 112x112 input, 128-d embedding), trained by a
third party with the additive angular margin loss (ArcFace) on a cleaned MS-Celeb-1M (3.8 M faces of 85 K people);
Apache-2.0, from ``foamliu/MobileFaceNet`` at a pinned commit (:data:`ORIGIN_COMMIT`). What it is NOT: the CosFace
paper's network (the 64-layer SphereFace CNN), loss (LMCL) or training data (CASIA-WebFace). It stands beside the
paper's Tables 3-5 as a margin-trained model of the same class and scale, measured with the lab's own protocols
(Sec. 4.1 "Testing": image and mirror image concatenated, cosine score; LFW View 2 10-fold,
:mod:`labkit.evaluate.lfw`).

Files live in the data root under ``models/mobilefacenet/`` (:mod:`labkit.data.layout`, entry ``mobilefacenet``;
the lab's shared folder keeps them beside the data root, ``../models/mobilefacenet``), installed by
``python -m labkit data get mobilefacenet [--from DIR]`` (:func:`install`), each checked against :data:`SHA256`.

Importing this module only registers the names (:func:`labkit.zoo.register`); the weights are read, and their
checksum verified, when the loader runs (:func:`load_reference`). The network itself is
:class:`labkit.models.MobileFaceNet`, with :class:`labkit.models.ArcFaceInput` as the ``preprocess`` of its
:class:`labkit.zoo.FaceModel`, so callers feed it the lab's 112x96 crops like any other lab network.
"""

from __future__ import annotations

from pathlib import Path

import torch

from labkit import zoo

NAME = "reference"
ALIASES = ("mobilefacenet",)
WEIGHTS = "mobilefacenet.pt"
ONNX = "MobileFaceNet.onnx"
LICENSE = "LICENSE"
#: sha256 of each installed file (the MANIFEST.sha256 that ships with the lab's shared copy)
SHA256: dict[str, str] = {
    WEIGHTS: "90a00ba1d8b0b688af3deb731ed53dca582e6106805d1bc3cfdef55f570493f4",
    ONNX: "b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507",
    LICENSE: "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
}
ORIGIN_REPO = "foamliu/MobileFaceNet"
ORIGIN_COMMIT = "a6cc9032a659b615f477833e1a70b5e7931bcccc"
#: public origin of each file (GitHub raw, at the pinned commit)
URLS: dict[str, str] = {
    WEIGHTS: f"https://github.com/{ORIGIN_REPO}/raw/{ORIGIN_COMMIT}/weights/mobilefacenet.pt",
    ONNX: f"https://github.com/{ORIGIN_REPO}/raw/{ORIGIN_COMMIT}/weights/MobileFaceNet.onnx",
    LICENSE: f"https://github.com/{ORIGIN_REPO}/raw/{ORIGIN_COMMIT}/LICENSE",
}
INSTALL_HINT = ("reinstall it with `python -m labkit data get mobilefacenet` (downloads and verifies), or "
                "`python -m labkit data get mobilefacenet --from DIR` from a good copy (the lab's shared "
                "models/mobilefacenet)")

DESCRIPTION = (
    "Reference model: a pretrained MobileFaceNet (1.0 M parameters, 128-d embedding) trained by a third party with "
    "the ArcFace loss on a cleaned MS-Celeb-1M (foamliu/MobileFaceNet, Apache-2.0). NOT the CosFace paper's network "
    "(64-layer CNN), loss (LMCL) or training data (CASIA-WebFace); its training people may overlap LFW's."
)

#: The verification threshold on the cosine of flip-concatenated features (Sec. 4.1): the best-accuracy threshold
#: (:func:`labkit.evaluate.calibrate.calibrate`: exhaustive over midpoints, "same" if score > threshold) on all 6,000
#: pairs of LFW View 2 (``pairs.txt``; the 112x96 aligned crops of ``lfw_aligned_112x96``), the 7,701 images embedded
#: by this module's FaceModel on the CPU (torch 2.13), image and mirror image concatenated, cosine scores. Computed
#: with ``labkit.evaluate.compare.cached_features`` + ``labkit.evaluate.lfw.lfw_pair_scores`` + ``calibrate``;
#: ``tests/test_reference_model.py`` recomputes it. The model was not trained on LFW, but its training set (MS-Celeb-1M)
#: may hold some LFW people: the threshold is a calibration on LFW, not a held-out estimate.
THRESHOLD = 0.2733370065689087
THRESHOLD_ACCURACY = 0.9935  # the accuracy on those 6,000 pairs at THRESHOLD (one threshold, not the 10-fold figure)
THRESHOLD_SOURCE = (f"best accuracy ({100 * THRESHOLD_ACCURACY:.2f} %) on the 6,000 pairs of LFW View 2 (all ten "
                    "folds of pairs.txt), flip-concatenated features, cosine")


class ReferenceWeightsError(ValueError):
    """An installed reference-model file whose checksum does not match (corrupt, truncated or another version)."""


def model_dir(root: str | Path | None = None) -> Path:
    """The folder holding the installed files (data root layout ``mobilefacenet``); raises
    :class:`labkit.config.DataMissingError` with the install command when it is not there."""
    from labkit.data import layout

    return layout.locate("mobilefacenet", root).resolve()


def verify_file(path: str | Path) -> Path:
    """``path`` if its sha256 is the published one for its name, else :class:`ReferenceWeightsError` naming the file
    and saying how to reinstall it."""
    from labkit.data.download import file_digest

    path = Path(path)
    if not path.is_file():
        raise ReferenceWeightsError(f"{path} is missing; {INSTALL_HINT}")
    expected = SHA256[path.name]
    actual = file_digest(path, "sha256")
    if actual != expected:
        size = path.stat().st_size
        raise ReferenceWeightsError(
            f"{path} is corrupt or truncated ({size:,} bytes, sha256 {actual[:12]}..., expected {expected[:12]}...); "
            f"{INSTALL_HINT}")
    return path


def weights_path(root: str | Path | None = None) -> Path:
    """The verified state-dict file."""
    return verify_file(model_dir(root) / WEIGHTS)


def onnx_path(root: str | Path | None = None) -> Path:
    """The verified ONNX file as published (batch fixed at 1, 112x112 ImageNet-normalised input)."""
    return verify_file(model_dir(root) / ONNX)


def card() -> zoo.ModelCard:
    """The reference model's card: what it is and is not, and its calibrated threshold with where it comes from."""
    return zoo.ModelCard(
        name=NAME, description=DESCRIPTION, threshold=THRESHOLD, threshold_source=THRESHOLD_SOURCE,
        info={"origin": f"github.com/{ORIGIN_REPO} @ {ORIGIN_COMMIT}", "license": "Apache-2.0",
              "architecture": "MobileFaceNet (labkit.models.MobileFaceNet)", "loss": "ArcFace (additive angular)",
              "training_data": "cleaned MS-Celeb-1M (3,804,846 faces, 85,164 people), per the origin's README",
              "input": "112x96 lab crops padded to 112x112 with black, /255, ImageNet mean/std (ArcFaceInput)",
              "embedding": "128-d, not normalised"})


def load_reference(root: str | Path | None = None) -> zoo.FaceModel:
    """The reference FaceModel: checksum-verified weights loaded strictly with ``weights_only=True``."""
    from labkit.models import ArcFaceInput, MobileFaceNet

    path = weights_path(root)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # cannot happen for a file with the published checksum, but say so if it does
        raise ReferenceWeightsError(f"{path} cannot be read ({type(exc).__name__}); {INSTALL_HINT}") from exc
    network = MobileFaceNet()
    network.load_state_dict(state, strict=True)
    return zoo.FaceModel(network, card(), preprocess=ArcFaceInput()).eval()


def install(root: str | Path | None = None, source: str | Path | None = None, progress: bool = True) -> Path:
    """Install the reference model into ``<root>/models/mobilefacenet`` and return that folder.

    ``source``: a local folder holding ``mobilefacenet.pt``, ``MobileFaceNet.onnx`` and ``LICENSE`` (copied, or
    hard-linked when possible); otherwise each file is downloaded from :data:`URLS`. Both paths go through
    :mod:`labkit.data.download` (verify against :data:`SHA256`, then rename; downloads resume). A ``MANIFEST.sha256``
    is written beside the files (``sha256sum -c`` checks it).
    """
    from labkit import config
    from labkit.data import download, layout

    dest = layout.canonical("mobilefacenet", Path(root) if root else config.data_root())
    dest.mkdir(parents=True, exist_ok=True)
    for name, digest in SHA256.items():
        if source is not None:
            download.install_local(Path(source) / name, dest / name, f"sha256:{digest}", link=True)
        else:
            download.download(URLS[name], dest / name, f"sha256:{digest}", progress=progress)
    manifest = "".join(f"{digest}  {name}\n" for name, digest in SHA256.items())
    (dest / "MANIFEST.sha256").write_text(manifest)
    return dest


zoo.register(NAME, load_reference, "pretrained MobileFaceNet (ArcFace, MS-Celeb-1M; not the paper's model), "
             "`python -m labkit data get mobilefacenet`", aliases=ALIASES)
