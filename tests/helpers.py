"""Shared test helpers: the one narrow OmniPose/HRNet used by the fast tests (W8 widths, one block per branch), where
the files kept outside the repository are looked for, and data the tests make themselves (a crafted pickle, a video
clip, a tiny MPII set, the synthetic set's scored persons)."""
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


def write_mpii_set(root, people=5, seed=0):
    """A tiny MPII set in HRNet's layout (root/annot/valid.json + root/images/*.jpg): `people` persons, one per
    noise image, each a plausible 16-joint figure (1-based px, head_top above upper_neck). Person 2 has its right and
    left ankles (0, 5) unannotated ((-1, -1), vis 0), person 3 its upper neck (8), as in the real files.
    Returns the json entries."""
    import json

    import cv2
    import numpy as np
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "annot").mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    # Joint offsets from the box centre, in units of the person height (200 * scale): ankles, knees, hips, pelvis,
    # thorax, upper neck, head top, wrists, elbows, shoulders, in MPII's order.
    figure = np.array([[-0.08, 0.45], [-0.08, 0.25], [-0.07, 0.05], [0.07, 0.05], [0.08, 0.25], [0.08, 0.45],
                       [0.0, 0.05], [0.0, -0.25], [0.0, -0.3], [0.0, -0.45], [-0.2, 0.0], [-0.17, -0.12],
                       [-0.12, -0.25], [0.12, -0.25], [0.17, -0.12], [0.2, 0.0]])
    entries = []
    for i in range(people):
        height, width = 300 + 20 * i, 400 - 10 * i
        name = f"{100000000 + i:09d}.jpg"
        cv2.imwrite(str(root / "images" / name), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        scale = float(rng.uniform(1.0, 1.3))
        center = np.array([width / 2 + rng.uniform(-20, 20), height / 2 + rng.uniform(-20, 20)])
        joints = center + (figure + rng.normal(0, 0.02, figure.shape)) * 200 * scale
        vis = np.ones(16, dtype=int)
        hidden = {2: [0, 5], 3: [8]}.get(i, [])
        joints[hidden], vis[hidden] = -1.0, 0
        entries.append({"image": name, "center": center.round(1).tolist(), "scale": round(scale, 4),
                        "joints": joints.round(2).tolist(), "joints_vis": vis.tolist()})
    (root / "annot" / "valid.json").write_text(json.dumps(entries))
    return entries
