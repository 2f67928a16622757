"""The layout table (labkit.data.layout): every accepted place is found, markers and errors, and the modules that
used to hold their own copy of a path now read the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.config import DataMissingError
from labkit.data import layout


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


def _lfw_images(folder: Path) -> Path:
    _touch(folder / layout.LFW_MARKER / f"{layout.LFW_MARKER}_0001.jpg")
    return folder


def test_table_has_every_data_set_and_part():
    assert set(layout.DATASETS) == {"lfw", "lfw_aligned", "lfw_original_photos", "casia", "glint_sample", "ytf",
                                    "megaface", "mobilefacenet", "celeba"}
    assert layout.dataset("lfw").kinds == ("protocol", "deepfunneled", "original", "funneled")
    assert layout.dataset("small") is layout.DATASETS["glint_sample"]
    casia = [lay.path for lay in layout.dataset("casia").layouts]
    assert casia == ["casia_webface/CASIA-WebFace", "casia_webface/faces_webface_112x112", "CASIA-WebFace",
                     "faces_webface_112x112"]
    for d in layout.DATASETS.values():
        assert d.what and d.source and d.layouts
        layout.instructions(d.name, "/R")  # every {placeholder} of the text is a part of the data set
    with pytest.raises(ValueError, match="unknown data set"):
        layout.dataset("nope")
    with pytest.raises(ValueError, match="no part"):
        layout.relpath("lfw", "nope")


@pytest.mark.parametrize("name, kind", [(d.name, lay.kind) for d in layout.DATASETS.values() for lay in d.layouts])
def test_every_layout_is_found_where_the_table_says(tmp_path, name, kind):
    lays = layout.dataset(name).layouts_of(kind)
    for lay in lays:
        root = tmp_path / lay.path.replace("/", "_")
        place = root / lay.path
        if lay.file:
            _touch(place)
        else:
            place.mkdir(parents=True)
            if lay.marker:
                _touch(place / lay.marker)
        assert layout.find(name, root, kind) == place
        assert layout.locate(name, root, kind) == place
        assert layout.found_kind(name, place, root) == kind


def test_root_may_be_a_folder_inside_the_data_root_or_the_folder_itself(tmp_path):
    images = _lfw_images(tmp_path / "lfw_aligned_112x96" / "lfw-112x96")
    assert layout.locate("lfw_aligned", tmp_path, "images") == images
    assert layout.locate("lfw_aligned", tmp_path / "lfw_aligned_112x96", "images") == images
    assert layout.locate("lfw_aligned", images, "images") == images


def test_original_lfw_is_not_mistaken_for_the_protocol_folder(tmp_path):
    _touch(tmp_path / "lfw" / "pairs.txt")
    _lfw_images(tmp_path / "lfw" / "lfw-deepfunneled")
    assert layout.find("lfw", tmp_path, "original") is None  # lfw/ holds protocol files, not George_W_Bush/
    assert layout.find("lfw", tmp_path / "lfw", "original") is None
    original = _lfw_images(tmp_path / "lfw" / "lfw")
    assert layout.locate("lfw", tmp_path, "original") == original
    assert layout.locate("lfw", tmp_path) == tmp_path / "lfw"  # no kind: the first part present (the protocol)


def test_a_marker_is_required(tmp_path):
    (tmp_path / "casia_webface" / "faces_webface_112x112").mkdir(parents=True)
    assert layout.find("casia", tmp_path, "recordio") is None  # no train.rec inside
    _touch(tmp_path / "casia_webface" / "faces_webface_112x112" / "train.rec")
    assert layout.find("casia", tmp_path, "recordio") == tmp_path / "casia_webface" / "faces_webface_112x112"


def test_missing_data_set_error_names_places_and_instructions(tmp_path):
    with pytest.raises(DataMissingError) as err:
        layout.locate("casia", tmp_path)
    text = str(err.value)
    assert str(tmp_path / "casia_webface" / "CASIA-WebFace") in text and "train.rec" in text
    assert f"{tmp_path}/casia_webface/faces_webface_112x112/train.rec" in text  # the instructions, with full paths
    with pytest.raises(DataMissingError, match="request form"):
        layout.locate("ytf", tmp_path, "frames")


def test_instructions_follow_the_table():
    text = layout.instructions("ytf", "/R")
    assert "/R/ytf_protocol/splits.txt" in text and "/R/ytf/frame_images_DB/<Person_Name>" in text
    assert "/R/lfw/lfw-deepfunneled" in layout.instructions("lfw", "/R")
    assert layout.canonical("lfw_aligned", "/R", "landmarks") == Path("/R/lfw_aligned_112x96/lfw_landmark.txt")


def test_inventory_lists_every_part(tmp_path):
    _touch(tmp_path / "ytf_protocol" / "splits.txt")
    rows = layout.inventory(tmp_path)
    assert len(rows) == sum(len(d.kinds) for d in layout.DATASETS.values())
    present = {(r.name, r.kind) for r in rows if r.present}
    assert present == {("ytf", "protocol")}


def test_modules_read_the_table(tmp_path):
    from labkit.data import casia, download, lfw, ytf
    from labkit.experiments.toy.data import lfw_folder

    assert download.LFW_PROTOCOL == lfw.PROTOCOL_FILES == layout.LFW_PROTOCOL_FILES
    assert download.LFW_ARCHIVES == {"deepfunneled": ("lfw-deepfunneled.tgz", "lfw-deepfunneled"),
                                     "original": ("lfw.tgz", "lfw"), "funneled": ("lfw-funneled.tgz", "lfw_funneled")}
    assert download.MANUAL_SOURCES["casia"].format(root=tmp_path) == layout.instructions("casia", tmp_path)
    assert casia.REC_DIR == "casia_webface/faces_webface_112x112" and casia.FOLDER_DIR == "casia_webface/CASIA-WebFace"
    with pytest.raises(DataMissingError, match="YouTube Faces"):
        ytf.ytf_protocol_path(tmp_path)
    splits = _touch(tmp_path / "ytf_protocol" / "splits.txt")
    assert ytf.ytf_protocol_path(tmp_path) == splits
    with pytest.raises(DataMissingError, match="toy identities"):
        lfw_folder(tmp_path)
    aligned = _lfw_images(tmp_path / "lfw_aligned_112x96" / "lfw-112x96")
    (aligned / "Junichiro_Koizumi").mkdir()
    assert lfw_folder(tmp_path) == lfw_folder(tmp_path / "lfw_aligned_112x96") == aligned
    assert lfw.lfw_paths(tmp_path, "aligned") == aligned
    assert lfw.lfw_paths(tmp_path, "funneled", must_exist=False) == tmp_path / "lfw" / "lfw_funneled"


def test_cli_get_prints_the_table_instructions(tmp_path, capsys):
    from labkit.data.cli import main as data_main

    assert data_main(["get", "megaface", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == layout.instructions("megaface", tmp_path).strip()


@pytest.mark.data
def test_shared_data_is_found(data_dir):
    root = data_dir("lfw").parent
    assert layout.locate("lfw", root, "deepfunneled") == root / "lfw" / "lfw-deepfunneled"
    assert layout.locate("lfw_aligned", root, "landmarks").name == "lfw_landmark.txt"
    assert layout.locate("small", root).name == "celebrity_images"
    assert layout.locate("lfw_original_photos", root) == root / "lfw_original_sample" / "lfw"
