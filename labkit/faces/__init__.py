"""Faces in any photo: MTCNN detection of the face and its 5 landmarks, then the paper's alignment (Sec. 4.1).

``detect`` (:mod:`labkit.faces.detect`) runs the three-stage cascade of :mod:`labkit.faces.mtcnn` on an RGB array;
:mod:`labkit.faces.photo` loads photos (EXIF, image modes) and aligns the largest face to the 112x96 crop.
"""

from labkit.faces.detect import Face, detect, nms
from labkit.faces.mtcnn import WeightsMissingError, load_nets
from labkit.faces.photo import AlignedPhoto, NoFaceError, align_photo, crop_or_center, find_faces, load_photo

__all__ = ["AlignedPhoto", "Face", "NoFaceError", "WeightsMissingError", "align_photo", "crop_or_center", "detect",
           "find_faces", "load_nets", "load_photo", "nms"]
