"""Data sources: layouts, label files, image IDs, the demo photographs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from iqalign.errors import DataSourceError
from iqalign.scoring.data.demo import DEMO_PHOTOS, list_demo_items
from iqalign.scoring.data.labels import load_label_file, parse_label, wnid_to_index
from iqalign.scoring.data.sources import guess_layout, load_source


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(path)
    return path


def test_imagenet_class_folders(tmp_path):
    _png(tmp_path / "n01440764" / "ILSVRC2012_val_00000293.JPEG")
    _png(tmp_path / "n15075141" / "ILSVRC2012_val_00000999.JPEG")
    assert guess_layout(tmp_path) == "imagenet"
    items = load_source(str(tmp_path))
    assert [(i.image_id, i.label) for i in items] == [
        ("ILSVRC2012_val_00000293", 0),
        ("ILSVRC2012_val_00000999", 999),
    ]


def test_flat_validation_folder_uses_the_standard_labels(tmp_path):
    _png(tmp_path / "ILSVRC2012_val_00000001.JPEG")
    items = load_source(str(tmp_path))
    assert items[0].label == 65  # the first validation image is a sea snake


def test_imagenet_c_layout_shares_ids_with_clean(tmp_path):
    _png(tmp_path / "fog" / "3" / "n01440764" / "ILSVRC2012_val_00000293.JPEG")
    _png(tmp_path / "snow" / "1" / "n01440764" / "ILSVRC2012_val_00000293.JPEG")
    assert guess_layout(tmp_path) == "imagenet-c"
    items = load_source(str(tmp_path))
    assert {(i.image_id, i.corruption, i.severity, i.label) for i in items} == {
        ("ILSVRC2012_val_00000293", "fog", 3, 0),
        ("ILSVRC2012_val_00000293", "snow", 1, 0),
    }


def test_folder_with_labels_csv(tmp_path):
    _png(tmp_path / "imgs" / "a" / "cat.png")
    _png(tmp_path / "imgs" / "dog.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\na/cat.png,281;282\ndog.png,n02085620\n")
    items = load_source(str(tmp_path / "imgs"), labels=str(labels))
    assert [(i.image_id, i.label, i.acceptable) for i in items] == [
        ("a/cat", 281, (281, 282)),
        ("dog", wnid_to_index("n02085620"), (wnid_to_index("n02085620"),)),
    ]


def test_folder_without_labels_has_unknown_labels(tmp_path):
    _png(tmp_path / "x.png")
    assert load_source(str(tmp_path))[0].label == -1


def test_devkit_ground_truth_needs_meta(tmp_path):
    from scipy.io import savemat

    truth = tmp_path / "ILSVRC2012_validation_ground_truth.txt"
    truth.write_text("2\n1\n")
    with pytest.raises(DataSourceError, match=r"meta\.mat"):
        load_label_file(str(truth))
    synsets = np.zeros(2, dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O")])
    synsets[0] = (1, "n15075141")
    synsets[1] = (2, "n01440764")
    savemat(tmp_path / "meta.mat", {"synsets": synsets})
    table = load_label_file(str(truth))
    assert table == {"ILSVRC2012_val_00000001.JPEG": (0,), "ILSVRC2012_val_00000002.JPEG": (999,)}


def test_bad_labels_are_named(tmp_path):
    with pytest.raises(DataSourceError, match="neither a class index"):
        parse_label("kitten", where="labels.csv:3")
    bad = tmp_path / "l.csv"
    bad.write_text("name,klass\na.png,3\n")
    with pytest.raises(DataSourceError, match="needs a file column"):
        load_label_file(str(bad))
    with pytest.raises(DataSourceError, match="not a folder"):
        load_source(str(tmp_path / "nope"))


def test_demo_photos_are_installed_and_labelled():
    found = list_demo_items()
    assert len(found) == len(DEMO_PHOTOS)  # every bundled photo of the pinned packages
    for photo, path in found:
        assert path.is_file()
        assert photo.labels and all(0 <= label < 1000 for label in photo.labels)
    assert len({p.image_id for p in DEMO_PHOTOS}) == len(DEMO_PHOTOS)
