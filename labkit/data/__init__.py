"""Face data for the lab: one small module per data set, plus the primitives they share.

- ``labkit.data.images``   reading a face image, the paper's pixel normalisation, the 112x112 -> 112x96 crop
- ``labkit.data.folders``  identity-per-folder data sets (LFW, CASIA-WebFace, the small training set)
"""

from labkit.data.folders import IdentityFolderDataset, scan_identity_folders
from labkit.data.images import CorruptImageError, load_image, to_tensor

__all__ = ["CorruptImageError", "IdentityFolderDataset", "load_image", "scan_identity_folders", "to_tensor"]
