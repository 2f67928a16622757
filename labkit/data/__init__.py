"""Face data for the lab: one small module per data set, plus the primitives they share.

- ``labkit.data.layout``    the one table of where each data set lives under the data root; ``locate``
- ``labkit.data.images``    reading a face image, the paper's pixel normalisation, the 112x112 -> 112x96 crop
- ``labkit.data.folders``   identity-per-folder data sets (LFW, CASIA-WebFace, the small training set)
- ``labkit.data.lfw``       LFW protocol files (pairs, people), folds (View 2, View 1 DevTest, the training probe)
- ``labkit.data.download``  verified, resumable download of LFW; install from a local copy
- ``labkit.data.casia``     CASIA-WebFace (RecordIO or folders) and where to put it
- ``labkit.data.recordio``  InsightFace ``train.rec``/``train.idx`` (MXNet RecordIO) without mxnet
- ``labkit.data.ytf``       YouTube Faces ``splits.txt`` and frame folders
- ``labkit.data.megaface``  MegaFace Challenge 1 devkit lists and noise lists
- ``labkit.data.synthetic`` deterministic face-shaped images at any size and class count
- ``labkit.data.align``     5-point similarity alignment to 112x96 (and the landmark-free fallback)

- ``labkit.data.cli``       ``python -m labkit data get|info|align``
"""

from labkit.data.align import align_face, read_landmarks
from labkit.data.casia import CASIAWebFace
from labkit.data.folders import IdentityFolderDataset, scan_identity_folders
from labkit.data.images import CorruptImageError, crop_arcface_to_sphereface, load_image, to_tensor
from labkit.data.layout import locate
from labkit.data.lfw import LFWPairs, Pair, ProtocolFormatError, lfw_paths, pair_paths, read_pairs, read_people
from labkit.data.recordio import RecordIODataset
from labkit.data.synthetic import SyntheticFaces
from labkit.data.ytf import VideoPair, read_ytf_splits

__all__ = [
    "CASIAWebFace",
    "CorruptImageError",
    "IdentityFolderDataset",
    "LFWPairs",
    "Pair",
    "ProtocolFormatError",
    "RecordIODataset",
    "SyntheticFaces",
    "VideoPair",
    "align_face",
    "crop_arcface_to_sphereface",
    "lfw_paths",
    "load_image",
    "locate",
    "pair_paths",
    "read_landmarks",
    "read_pairs",
    "read_people",
    "read_ytf_splits",
    "scan_identity_folders",
    "to_tensor",
]
