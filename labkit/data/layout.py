"""Where every data set lives under the data root: one table, read by every loader, command and notebook.

Each entry of :data:`DATASETS` is a :class:`DataSet`: what it is, where it comes from, the instructions printed
when it is missing, and its :class:`Layout` s, the relative paths under the data root that are accepted (the
folder names the official archives unpack to). A data set may have several parts (LFW: the protocol files and
three image variants; YTF: the protocol and the frames), told apart by ``kind``; a part may be accepted at
several places (CASIA-WebFace: as identity folders or as InsightFace RecordIO, inside ``casia_webface/`` or
directly under the root).

Lookup rule (:func:`candidates`): for a layout ``a/b/c`` and a root ``R`` the places tried are ``R/a/b/c``,
``R/b/c`` and ``R/c`` (so ``R`` may be the data root or a folder inside it), then ``R`` itself when it is named
``c`` or when the layout has a ``marker``. A place counts when it exists and, if the layout names a ``marker``
(a file or folder that must be inside, e.g. ``train.rec``), when the marker is there too.

    >>> locate("lfw", kind="deepfunneled")          # doctest: +SKIP
    PosixPath('/data/lfw/lfw-deepfunneled')
    >>> print(instructions("casia"))                # doctest: +SKIP

Used in notebook 04, section 1 ("What is in the data root?"), by :mod:`labkit.data.lfw`, :mod:`labkit.data.ytf`,
:mod:`labkit.data.casia`, :mod:`labkit.data.download` and ``python -m labkit data get``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit import config

#: A folder present in every complete LFW image variant (and in the original sample). It tells an LFW image
#: folder apart from the protocol folder, which the original archive's folder name (``lfw``) collides with.
LFW_MARKER = "George_W_Bush"


@dataclass(frozen=True)
class Layout:
    """One accepted place of one part of a data set.

    ``path``: relative to the data root, ``/``-separated. ``kind``: which part this is (``"protocol"``,
    ``"deepfunneled"``, ``"recordio"`` ...). ``marker``: a file or folder that must exist inside for the place to
    count (empty: existing is enough). ``file``: the layout names a file, not a folder. ``archive``: the official
    archive that unpacks to this folder, when there is one. ``files``: the files expected inside (for listings).
    """

    path: str
    kind: str
    marker: str = ""
    file: bool = False
    archive: str = ""
    files: tuple[str, ...] = ()

    def accepts(self, place: Path) -> bool:
        """True when ``place`` holds this part (exists as a file/folder, and holds the marker if there is one)."""
        if self.file:
            return place.is_file()
        return place.is_dir() and (not self.marker or (place / self.marker).exists())


@dataclass(frozen=True)
class DataSet:
    """One data set of the lab: ``name`` (the key of :data:`DATASETS`), ``what`` it is, its accepted
    ``layouts`` (the first of each kind is where it should go), ``source`` (where it comes from) and the
    ``how_to_get`` text printed when it is missing. In that text ``{root}`` is the data root and ``{<kind>}`` the
    full path where that part should go (see :func:`instructions`). ``aliases``: other names accepted by
    :func:`locate`."""

    name: str
    what: str
    layouts: tuple[Layout, ...]
    source: str
    how_to_get: str
    aliases: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        """The parts of the data set, in table order, each once."""
        return tuple(dict.fromkeys(lay.kind for lay in self.layouts))

    def layouts_of(self, kind: str | None = None) -> tuple[Layout, ...]:
        """The layouts of one part (all layouts when ``kind`` is None)."""
        if kind is None:
            return self.layouts
        out = tuple(lay for lay in self.layouts if lay.kind == kind)
        if not out:
            raise ValueError(f"data set {self.name!r} has no part {kind!r}; its parts are {list(self.kinds)}")
        return out


LFW_PROTOCOL_FILES = ("pairs.txt", "pairsDevTrain.txt", "pairsDevTest.txt", "peopleDevTrain.txt", "peopleDevTest.txt",
                      "lfw-names.txt")

DATASETS: dict[str, DataSet] = {
    d.name: d
    for d in (
        DataSet(
            name="lfw",
            what="LFW (Labeled Faces in the Wild): 13,233 images of 5,749 people, 250x250, and its protocol files",
            layouts=(
                Layout("lfw", "protocol", marker="pairs.txt", files=LFW_PROTOCOL_FILES),
                Layout("lfw/lfw-deepfunneled", "deepfunneled", marker=LFW_MARKER, archive="lfw-deepfunneled.tgz"),
                Layout("lfw/lfw", "original", marker=LFW_MARKER, archive="lfw.tgz"),
                Layout("lfw/lfw_funneled", "funneled", marker=LFW_MARKER, archive="lfw-funneled.tgz"),
            ),
            source="http://vis-www.cs.umass.edu/lfw/",
            how_to_get=(
                "LFW is downloaded and checksum-verified by labkit:\n"
                "  python -m labkit data get lfw                      deep-funneled images -> {deepfunneled}\n"
                "                                                     and the protocol files -> {protocol}/\n"
                "  python -m labkit data get lfw --variant original   original images -> {original}\n"
                "  python -m labkit data get lfw --variant funneled   funneled images -> {funneled}\n"
                "  python -m labkit data get lfw --from FOLDER        install from a local copy of the official files\n"
                "  (official site http://vis-www.cs.umass.edu/lfw/)"
            ),
        ),
        DataSet(
            name="lfw_aligned",
            what="LFW aligned to 112x96 with the SphereFace/CosFace 5-point template (all 13,233 images)",
            layouts=(
                Layout("lfw_aligned_112x96/lfw-112x96", "images", marker=LFW_MARKER),
                Layout("lfw_aligned_112x96/lfw_landmark.txt", "landmarks", file=True),
            ),
            source="derived from the original LFW images and SphereFace's lfw_landmark.txt "
                   "(github.com/clcarwin/sphereface_pytorch data/lfw_landmark.txt)",
            how_to_get=(
                "The aligned crops are made from the original LFW images and SphereFace's landmarks:\n"
                "  python -m labkit data get lfw --variant original\n"
                "  python -m labkit data align {root}/lfw/lfw {images} --landmarks {landmarks} --size 112x96\n"
                "  (landmarks: github.com/clcarwin/sphereface_pytorch data/lfw_landmark.txt, put at {landmarks};\n"
                "   the lab's shared data already holds both)"
            ),
        ),
        DataSet(
            name="lfw_original_photos",
            what="40 original (unfunneled) LFW photographs, five of each of the 8 people with >= 60 images",
            layouts=(Layout("lfw_original_sample/lfw", "images", marker=LFW_MARKER),),
            source="a subset of lfw.tgz (http://vis-www.cs.umass.edu/lfw/lfw.tgz)",
            how_to_get=(
                "The 40 original photographs ship with the lab's shared data at {images}.\n"
                "  Any copy of the original LFW images works as well: `python -m labkit data get lfw --variant "
                "original`\n  puts all 13,233 at {root}/lfw/lfw."
            ),
        ),
        DataSet(
            name="casia",
            what="CASIA-WebFace, the paper's training set: 0.49M images of 10,575 people",
            layouts=(
                Layout("casia_webface/CASIA-WebFace", "folders"),
                Layout("casia_webface/faces_webface_112x112", "recordio", marker="train.rec"),
                Layout("CASIA-WebFace", "folders"),
                Layout("faces_webface_112x112", "recordio", marker="train.rec"),
            ),
            source="licence form at the CASIA site; InsightFace dataset zoo "
                   "(https://github.com/deepinsight/insightface/tree/master/recognition/_datasets_)",
            how_to_get=(
                "CASIA-WebFace cannot be downloaded automatically (licence form; Baidu-pan / Google-drive mirrors).\n"
                "  Option A, InsightFace packed copy (112x112, ArcFace-aligned, ~10K ids, ~0.5M images): get\n"
                "    `faces_webface_112x112.zip` from the InsightFace dataset zoo\n"
                "    (https://github.com/deepinsight/insightface/tree/master/recognition/_datasets_), unzip it and "
                "put\n"
                "    train.rec and train.idx at   {recordio}/train.rec (and .idx).\n"
                "    Read it with labkit.data.recordio.RecordIODataset(path, crop='arcface_to_sphereface') (112x96).\n"
                "  Option B, raw or 112x96-aligned images in one folder per identity (CASIA-WebFace/0000045/001.jpg):\n"
                "    put them at   {folders}/<identity>/<image>.jpg\n"
                "    (align raw images with `python -m labkit data align SRC DST --landmarks FILE --size 112x96`).\n"
                "  Then `python -m labkit data info {root}/casia_webface/...` reports class and image counts."
            ),
        ),
        DataSet(
            name="celeba",
            what="CelebA test split aligned to 112x96: 898 identities, 15,518 faces (extra training people for the "
                 "lab-scale grid; 40 identities that are LFW people left out, listed in excluded_identities.tsv)",
            layouts=(
                Layout("celeba_test_112x96/celeba-112x96", "images"),
                Layout("celeba_test_112x96/excluded_identities.tsv", "excluded", file=True),
            ),
            source="CelebA (Liu et al., ICCV 2015), test partition; aligned for the lab (see its README.md)",
            how_to_get=(
                "The aligned CelebA faces ship with the lab's shared data: put them at {images}/<identity>/<n>.jpg\n"
                "  with the exclusion list at {excluded} (or set LABKIT_DATA to the shared data folder)."
            ),
        ),
        DataSet(
            name="glint_sample",
            aliases=("small",),
            what="Glint360K celebrity sample: 24 identities, 712 ArcFace-aligned 112x112 faces (a small training set)",
            layouts=(Layout("glint360k_celebrity_sample/celebrity_images", "images"),),
            source="Glint360K, distributed by the InsightFace project (deepinsight/insightface "
                   "recognition/partial_fc/README.md), for non-commercial research only",
            how_to_get=(
                "The Glint360K sample ships with the lab's shared data: put it at {images}/<Identity>/<n>.png\n"
                "  (or set LABKIT_DATA to the shared data folder)."
            ),
        ),
        DataSet(
            name="ytf",
            what="YouTube Faces: 3,425 videos of 1,595 people; splits.txt lists 5,000 video pairs in 10 splits",
            layouts=(
                Layout("ytf_protocol/splits.txt", "protocol", file=True),
                Layout("ytf/splits.txt", "protocol", file=True),
                Layout("ytf/frame_images_DB", "frames"),
                Layout("ytf/aligned_images_DB", "aligned_frames"),
            ),
            source="https://www.cs.tau.ac.il/~wolf/ytfaces/",
            how_to_get=(
                "YouTube Faces frames cannot be downloaded automatically (request form at "
                "https://www.cs.tau.ac.il/~wolf/ytfaces/).\n"
                "  Put the protocol at  {protocol} (already in the lab's shared data)\n"
                "  and the frames at    {frames}/<Person_Name>/<video#>/<n>.<frame>.jpg\n"
                "  or the aligned ones  {aligned_frames}/<Person_Name>/<video#>/aligned_detect_<video#>.<frame>.jpg"
            ),
        ),
        DataSet(
            name="megaface",
            what="MegaFace Challenge 1: 1M distractors, FaceScrub probes (106,863 images of 530 people), devkit lists",
            layouts=(
                Layout("megaface/devkit/templatelists", "templatelists"),
                Layout("megaface/facescrub_images", "probes"),
                Layout("megaface/megaface_images", "distractors"),
                Layout("megaface/facescrub_noises.txt", "probe_noise", file=True),
                Layout("megaface/megaface_noises.txt", "distractor_noise", file=True),
            ),
            source="http://megaface.cs.washington.edu/ (offline); InsightFace megaface evaluation "
                   "(deepinsight/insightface recognition/_evaluation_/megaface)",
            how_to_get=(
                "MegaFace Challenge 1 needs a signed agreement (http://megaface.cs.washington.edu/, now offline; "
                "mirrors via\n"
                "  the InsightFace megaface evaluation, deepinsight/insightface recognition/_evaluation_/megaface).\n"
                "  Put the devkit template lists at  {templatelists}/\n"
                "    (facescrub_features_list.json, megaface_features_list.json_<N>_1 for N in "
                "10,100,1000,10000,100000,1000000)\n"
                "  the noise lists at                 {probe_noise}, {distractor_noise}\n"
                "  the FaceScrub probe images at      {probes}/<Name>/<image>\n"
                "  and the distractor images at       {distractors}/<path as in the JSON lists>"
            ),
        ),
        DataSet(
            name="mobilefacenet",
            aliases=("reference",),
            what="the reference model: a pretrained MobileFaceNet (ArcFace loss, cleaned MS-Celeb-1M; not the "
                 "paper's network, loss or data), state dict + ONNX + licence",
            layouts=(
                Layout("models/mobilefacenet", "weights", marker="mobilefacenet.pt"),
                # the lab's shared folder keeps models beside the data root (shared/data, shared/models)
                Layout("../models/mobilefacenet", "weights", marker="mobilefacenet.pt"),
            ),
            source="github.com/foamliu/MobileFaceNet at commit a6cc9032a659b615f477833e1a70b5e7931bcccc "
                   "(weights/mobilefacenet.pt, weights/MobileFaceNet.onnx; Apache-2.0)",
            how_to_get=(
                "The reference model is downloaded and checksum-verified by labkit:\n"
                "  python -m labkit data get mobilefacenet              -> {weights}/\n"
                "  python -m labkit data get mobilefacenet --from DIR   install from a local copy (e.g. the lab's "
                "shared models/mobilefacenet)"
            ),
        ),
    )
}


def dataset(name: str) -> DataSet:
    """The table entry of ``name`` (or of one of its aliases, e.g. ``"small"``)."""
    if name in DATASETS:
        return DATASETS[name]
    for d in DATASETS.values():
        if name in d.aliases:
            return d
    known = sorted([*DATASETS, *(a for d in DATASETS.values() for a in d.aliases)])
    raise ValueError(f"unknown data set {name!r}; the layout table knows {known}")


def _base(root: str | Path | None) -> Path:
    return Path(root).expanduser() if root else config.data_root()


def relpath(name: str, kind: str | None = None) -> str:
    """Where a part should go, relative to the data root (the first layout of that kind)."""
    return dataset(name).layouts_of(kind)[0].path


def canonical(name: str, root: str | Path | None = None, kind: str | None = None) -> Path:
    """Where a part should go under ``root`` (default :func:`labkit.config.data_root`), whether or not it is there."""
    return _base(root) / relpath(name, kind)


def _places(lay: Layout, base: Path) -> list[Path]:
    parts = Path(lay.path).parts
    out = [base.joinpath(*parts[k:]) for k in range(len(parts))]
    if base.name == parts[-1] or lay.marker:
        out.append(base)
    return out


def candidates(name: str, root: str | Path | None = None, kind: str | None = None) -> list[Path]:
    """Every place tried for a data set (or one part of it), in order (module docstring: lookup rule)."""
    base = _base(root)
    seen: dict[Path, None] = {}
    for lay in dataset(name).layouts_of(kind):
        for place in _places(lay, base):
            seen.setdefault(place, None)
    return list(seen)


def find(name: str, root: str | Path | None = None, kind: str | None = None) -> Path | None:
    """The first accepted place of a data set (or of one part of it) under ``root``, or None."""
    base = _base(root)
    for lay in dataset(name).layouts_of(kind):
        for place in _places(lay, base):
            if lay.accepts(place):
                return place
    return None


def found_kind(name: str, path: Path, root: str | Path | None = None) -> str | None:
    """Which part of data set ``name`` the place ``path`` is (e.g. ``"recordio"`` or ``"folders"`` for CASIA)."""
    base = _base(root)
    for lay in dataset(name).layouts:
        if path in _places(lay, base) and lay.accepts(path):
            return lay.kind
    return None


def instructions(name: str, root: str | Path | None = None) -> str:
    """The text printed when a data set is missing: what to fetch, from where, and the full paths to put it at."""
    d = dataset(name)
    base = _base(root)
    where = {kind: base / d.layouts_of(kind)[0].path for kind in d.kinds}
    return d.how_to_get.format(root=base, **where)


def locate(name: str, root: str | Path | None = None, kind: str | None = None) -> Path:
    """The place of a data set (or of one part, ``kind``) under ``root`` (default the data root).

    Raises :class:`labkit.config.DataMissingError` naming the places tried and the table's instructions.
    """
    path = find(name, root, kind)
    if path is not None:
        return path
    d = dataset(name)
    base = _base(root)
    part = f" ({kind})" if kind else ""
    tried = candidates(name, base, kind)
    shown = ", ".join(str(p) for p in tried[:4]) + (f" and {len(tried) - 4} more" if len(tried) > 4 else "")
    markers = {lay.kind: lay.marker for lay in d.layouts_of(kind) if lay.marker}
    holding = "; ".join(f"a {k} folder counts only when it holds {m}" for k, m in markers.items())
    holding = f" ({holding})" if holding else ""
    raise config.DataMissingError(
        f"{d.name}{part} not found under {base}: looked for {shown}{holding}. Data root {base}: set LABKIT_DATA "
        f"(or pass a root) to change it.\n{instructions(name, base)}"
    )


@dataclass(frozen=True)
class Presence:
    """One row of :func:`inventory`: a part of a data set, where it should be, and where it was found (or None)."""

    name: str
    kind: str
    what: str
    expected: Path
    found: Path | None

    @property
    def present(self) -> bool:
        return self.found is not None


def inventory(root: str | Path | None = None, names: tuple[str, ...] | None = None) -> list[Presence]:
    """What of the table is present under ``root``: one :class:`Presence` per (data set, part).

    Used in notebook 04, section 1 ("What is in the data root?").
    """
    base = _base(root)
    rows = []
    for name in names or tuple(DATASETS):
        d = dataset(name)
        for kind in d.kinds:
            rows.append(Presence(d.name, kind, d.what, base / relpath(d.name, kind), find(d.name, base, kind)))
    return rows


__all__ = [
    "DATASETS",
    "DataSet",
    "LFW_MARKER",
    "LFW_PROTOCOL_FILES",
    "Layout",
    "Presence",
    "candidates",
    "canonical",
    "dataset",
    "find",
    "found_kind",
    "instructions",
    "inventory",
    "locate",
    "relpath",
]
