"""Synthetic COCO-format person-keypoint data: a renderer of shaded 2.5-D human figures and the generator that writes
them in the exact COCO layout (images, ``person_keypoints_<split>2017.json`` and person-detection results).

It is the embedded default dataset (nothing can be downloaded): every command can run end to end on it, and it is the
benchmark for pure vs adversarial training. Its difficulty is meant to be honest, like a real pose problem.
Calibrated on real persons with tools/analysis/dataset_stats.py (docs/datasets.md): mask / box area, share of
occluded joints, labelled joints and persons per image.

Modules, each importing only from those listed above it:
    skeleton     pose classes and their joint angles (sample_pose), the posed 3-D skeleton (COCO's 17 joints)
    config       the difficulty knobs (SynthConfig, with the table of fields and flags) and the named PRESETS
    canvas       fixed-point drawing primitives and the canvas: image, label map and light direction
    person       one figure: look, clothes, build, projection and back-to-front drawing
    scene        one image (render_sample): background, persons, occluders, degradation, COCO labels, detections
    coco_writer  the dataset on disk (generate): ids, JPEGs from a worker pool, detection and annotation jsons
    preview      draw_annotations and the labelled sample grid (make_preview)

Coordinates: pixel centres at integers, i.e. pixel (col, row) is centred on (x, y) = (col, row); joints are (x, y).

Determinism: each image is rendered from its own generator seeded by (seed, split, index), so the same arguments give
the same bytes whatever the number of worker processes.
"""
from lib.dataset.synthetic.coco_writer import (ANN_ID_STRIDE, CATEGORY, DETECTIONS_FILE, GENERATOR_VERSION,
                                               MAX_IMAGES_PER_SPLIT, generate, image_id, stale_reason)
from lib.dataset.synthetic.config import PRESETS, TINY_HEIGHT, SynthConfig, preset_config
from lib.dataset.synthetic.person import NUM_PARTS
from lib.dataset.synthetic.preview import draw_annotations, make_preview
from lib.dataset.synthetic.scene import (LABEL_OCCLUDER, LABEL_PERSON0, SMALL_AREA, SPLITS, Sample, image_seed,
                                         render_figure, render_sample)
from lib.dataset.synthetic.skeleton import NUM_KEYPOINTS, POSE_SETS, sample_pose, skeleton_3d

__all__ = [
    "ANN_ID_STRIDE", "CATEGORY", "DETECTIONS_FILE", "GENERATOR_VERSION", "LABEL_OCCLUDER",
    "LABEL_PERSON0", "MAX_IMAGES_PER_SPLIT", "NUM_KEYPOINTS", "NUM_PARTS", "POSE_SETS", "PRESETS",
    "SMALL_AREA", "SPLITS", "TINY_HEIGHT", "Sample", "SynthConfig", "draw_annotations", "generate", "image_id",
    "image_seed", "make_preview", "preset_config", "render_figure", "render_sample", "sample_pose", "skeleton_3d",
    "stale_reason",
]
