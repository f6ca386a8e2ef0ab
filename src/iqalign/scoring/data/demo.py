"""``demo``: real photographs that ship inside installed packages, with ImageNet labels.

No data set has to be downloaded to try the engine: scikit-image, scikit-learn,
matplotlib and pyiqa carry a few real photographs in their wheels. Each entry below says
where the file is and which ImageNet-1k classes a careful annotator would accept for it.
The labels were chosen by looking at each photograph -- never by looking at what a model
predicts -- and several are acceptable where the picture shows several ImageNet objects
or where ImageNet splits one everyday object over near-synonym classes (tabby / tiger cat
/ Egyptian cat). The first class is the primary ``label``; ``correct_<model>`` is 1 when the
top-1 prediction is any acceptable class.

Photographs with no fitting ImageNet class (an astronaut portrait, galaxies, a retina,
coins, a night street, a multi-car winter highway) are left out on purpose. A photograph
whose package is not installed is skipped; :func:`list_demo_items` returns what is there.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEMO_PHOTOS", "DemoPhoto", "list_demo_items"]


@dataclass(frozen=True)
class DemoPhoto:
    """One bundled photograph: its ID, where it lives, its acceptable ImageNet classes."""

    image_id: str
    package: str  # an importable top-level name whose folder holds the file
    relpath: str  # path relative to the folder that holds that package
    labels: tuple[int, ...]  # acceptable ImageNet-1k indices, primary first
    why: str  # the annotator's note


# pyiqa's wheel installs these test photographs beside the package, not inside it.
_PYIQA_FRAMES = "tests/test_efficiency_img_dir"

# fmt: off
DEMO_PHOTOS: tuple[DemoPhoto, ...] = (
    DemoPhoto("chelsea", "skimage", "skimage/data/chelsea.png", (281, 282, 285),
              "a striped tabby cat's face: tabby, tiger cat or Egyptian cat"),
    DemoPhoto("coffee", "skimage", "skimage/data/coffee.png", (967, 968),
              "an espresso in a cup on a saucer: espresso, cup"),
    DemoPhoto("rocket", "skimage", "skimage/data/rocket.jpg", (657, 744),
              "a rocket on its launch pad: missile, projectile/missile"),
    DemoPhoto("motorcycle", "skimage", "skimage/data/motorcycle_left.png", (665, 670),
              "a motorcycle in a garage; ImageNet files motorbikes under moped / motor scooter"),
    DemoPhoto("camera", "skimage", "skimage/data/camera.png", (872, 759),
              "greyscale: a man with a camera on a tripod: tripod, reflex camera"),
    DemoPhoto("china", "sklearn", "sklearn/datasets/images/china.jpg", (698, 663),
              "a Chinese temple tower (Summer Palace): palace, monastery"),
    DemoPhoto("grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
              (652, 457, 906),
              "a naval officer's portrait: military uniform; bow tie / Windsor tie"),
    DemoPhoto("sailboat", "pyiqa", "ResultsCalibra/ref_dir/I06.bmp", (780, 914),
              "a sailing boat at anchor: schooner, yawl"),
    DemoPhoto("lighthouse", "pyiqa", "ResultsCalibra/ref_dir/I19.bmp", (437, 716),
              "a lighthouse behind a white picket fence: beacon/lighthouse, picket fence"),
    DemoPhoto("beach_sunset", "pyiqa", f"{_PYIQA_FRAMES}/frame_7gzdcz9sif0ekg31.jpg",
              (978, 977), "a walker on a beach at sunset: seashore, sandbar"),
    DemoPhoto("garden_fountain", "pyiqa", f"{_PYIQA_FRAMES}/frame_4wrwr48cdk6rbcjl.jpg",
              (562, 646), "a fountain in a formal hedge garden: fountain, maze"),
)
# fmt: on


def list_demo_items() -> list[tuple[DemoPhoto, Path]]:
    """Return the demo photographs that are installed, each with its file path.

    Locating a package uses ``importlib.util.find_spec`` and never imports it (pyiqa alone
    takes seconds to import).
    """
    found = []
    for photo in DEMO_PHOTOS:
        root = _package_parent(photo.package)
        if root is not None and (root / photo.relpath).is_file():
            found.append((photo, root / photo.relpath))
    return found


def _package_parent(package: str) -> Path | None:
    """The folder that holds ``package`` (site-packages), or None when not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).parent
