"""Shared test helpers: the one narrow OmniPose/HRNet used by the fast tests (W8 widths, one block per branch), where
the files kept outside the repository are looked for, and a crafted pickle."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Real-photo fixtures (ochuman/, mpii/, video/) and listings of the released weights' state_dicts: not shipped with
# the repository; tests that need them use the `real_data` / `reference_listings` fixtures (tests/conftest.py).
FIXTURES_VARIABLE = "OMNIPOSE_FIXTURES"
REFERENCE_VARIABLE = "OMNIPOSE_REFERENCE"


def fixtures_folder() -> Path:
    """$OMNIPOSE_FIXTURES, else ../shared/data beside the repository."""
    return Path(os.environ.get(FIXTURES_VARIABLE) or REPO.parent / "shared" / "data")


def reference_folder() -> Path:
    """$OMNIPOSE_REFERENCE, else ../shared/reference beside the repository."""
    return Path(os.environ.get(REFERENCE_VARIABLE) or REPO.parent / "shared" / "reference")


def narrow_model_opts(stage4_modules=1):
    """Config overrides for a W8 generator (milliseconds per forward); keeps every code path of the W48 model."""
    return [
        "MODEL.EXTRA.STAGE1.NUM_BLOCKS", "[1]", "MODEL.EXTRA.STAGE1.NUM_CHANNELS", "[16]",
        "MODEL.EXTRA.STAGE2.NUM_BLOCKS", "[1, 1]", "MODEL.EXTRA.STAGE2.NUM_CHANNELS", "[8, 16]",
        "MODEL.EXTRA.STAGE3.NUM_MODULES", "1", "MODEL.EXTRA.STAGE3.NUM_BLOCKS", "[1, 1, 1]",
        "MODEL.EXTRA.STAGE3.NUM_CHANNELS", "[8, 16, 32]",
        "MODEL.EXTRA.STAGE4.NUM_MODULES", str(stage4_modules), "MODEL.EXTRA.STAGE4.NUM_BLOCKS", "[1, 1, 1, 1]",
        "MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[8, 16, 32, 64]",
    ]


class _TouchOnUnpickle:
    """Unpickling this calls Path(marker).touch(): a harmless stand-in for the os.system payload of a hostile file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def write_crafted_pickle(path, marker, state_dict=None):
    """A .pth that creates `marker` when the full unpickler reads it, next to real weights (`state_dict`), as a
    hostile file passed off as a checkpoint would be."""
    import torch
    torch.save({"state_dict": state_dict if state_dict is not None else {"w": torch.zeros(1)},
                "payload": _TouchOnUnpickle(str(marker))}, path)


def write_video(path, frames, fps=5):
    """An mp4 (mp4v) of `frames` (BGR uint8 arrays of one size), as a camera clip stands in for in the tests."""
    import cv2
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), f"cv2 cannot write {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def synthetic_val_images(root):
    """{file name: (image path, [COCO boxes])} of the tiny synthetic set's validation split (tests/conftest.py): the
    persons evaluation scores, i.e. those with at least one labelled joint."""
    import json
    data = json.loads((Path(root) / "annotations" / "person_keypoints_val2017.json").read_text())
    names = {image["id"]: image["file_name"] for image in data["images"]}
    boxes = {name: [] for name in names.values()}
    for ann in data["annotations"]:
        if any(v > 0 for v in ann["keypoints"][2::3]):
            boxes[names[ann["image_id"]]].append(ann["bbox"])
    return {name: (Path(root) / "images" / "val2017" / name, b) for name, b in sorted(boxes.items())}
