"""One synthetic image and its COCO labels: a cluttered background, persons placed (overlapping, truncated, tiny),
occluding objects and image degradation, then the labels read off what was actually rendered.

A label map records which person part (or occluding object) owns every pixel, so the COCO visibility comes from what
was actually rendered, by COCO's rule "a keypoint is considered visible if it falls inside the object segment"
(cocodataset.org/#format-data):
    v=2  the joint's pixel belongs to the person (any of its parts);
    v=1  inside the image but covered by an object or another person;
    v=0  outside the image, or a face point on the side of the head turned away from the camera; x = y = 0.
``segmentation`` is the visible mask as compressed RLE (as in OCHuman's COCO files), ``area`` its pixel count (COCO's
area is the segmentation area, which OKS uses) and ``bbox`` its extent grown to contain every labelled joint, clipped
to the image. Persons whose visible area is below 32^2 px, and figures shorter than 32 px, are annotated without
joints (num_keypoints 0), as COCO's small persons ("small objects do not contain keypoint annotations").
Val person detections: GT boxes jittered (~6% position, ~10% size), scored higher for larger, less occluded persons,
with misses (more for small or occluded ones), some duplicates and false positives.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from lib.dataset.synthetic.canvas import _SHIFT, _Canvas, _ellipse, _fixed
from lib.dataset.synthetic.config import TINY_HEIGHT, SynthConfig
from lib.dataset.synthetic.person import _SKIN_BGR, NUM_PARTS, _Person, _random_cloth
from lib.dataset.synthetic.skeleton import _POSE_CLASSES, NUM_KEYPOINTS, _u, sample_pose, skeleton_3d

# split name -> (COCO set name, image-id offset). Offsets keep image ids unique across the two splits.
SPLITS = {"train": ("train2017", 0), "val": ("val2017", 10_000_000)}

# P(n persons) ~ decay ** (n - min_persons): fewer persons are more likely.
_PERSON_COUNT_DECAY = 0.8
# Which image border a truncated person crosses: bottom, left, right, top.
_TRUNCATION_SIDES = (0.5, 0.2, 0.2, 0.1)

# COCO labels no joints on persons whose segment area is below 32^2 px ("small objects do not contain keypoint
# annotations", cocodataset.org/#keypoints-eval): such persons are annotated with num_keypoints 0.
SMALL_AREA = 32.0 ** 2

# Label map values: 0 background, 1 occluding object, then LABEL_PERSON0 + person * NUM_PARTS + part.
LABEL_OCCLUDER = 1
LABEL_PERSON0 = 2


# ----------------------------------------------------------------------------------------------------------------
# Background, occluders and image degradation
# ----------------------------------------------------------------------------------------------------------------
def _scene_color(rng: np.random.Generator) -> np.ndarray:
    """A muted scene colour (3,) BGR float (walls, floors, furniture are rarely saturated)."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(0, 150), rng.integers(35, 235)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _render_background(rng: np.random.Generator, h: int, w: int, clutter: float) -> np.ndarray:
    """A cluttered scene (H, W, 3) uint8: wall/floor or sky/ground gradients, low-frequency colour noise, textured
    regions (bricks, tiles, planks), furniture-like shapes, cables and limb-like distractors."""
    top, bottom = _scene_color(rng), _scene_color(rng)
    horizon = _u(rng, 0.2, 0.85) * h
    rows = np.arange(h, dtype=np.float32)[:, None]
    t_up = np.clip(rows / max(horizon, 1), 0, 1)
    t_dn = np.clip((rows - horizon) / max(h - horizon, 1), 0, 1)
    column = np.where(rows < horizon, top[None] * (1.15 - 0.3 * t_up), bottom[None] * (0.8 + 0.35 * t_dn))
    # Low-frequency shading: mostly brightness, a little colour. (OpenCV ops throughout: numpy broadcasting over a
    # last axis of 3 channels is several times slower, and generation time is part of the quickstart.)
    grid = (int(rng.integers(3, 9)), int(rng.integers(3, 9)))
    small = (rng.normal(0, 18, grid + (1,)) + rng.normal(0, 6, grid + (3,))).astype(np.float32)
    # Cubic to a quarter of the size, then linear: the same smooth shading at a tenth of the cost.
    img = cv2.resize(cv2.resize(small, (max(w // 4, 2), max(h // 4, 2)), interpolation=cv2.INTER_CUBIC), (w, h),
                     interpolation=cv2.INTER_LINEAR)
    img = cv2.add(img, cv2.resize(column[:, None, :].astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST))
    img = np.clip(img, 0, 255).astype(np.uint8)
    canvas = _Canvas(img, np.array([0.0, -1.0]))
    # Textured regions: bricks, tiles or planks on walls and floors.
    for _ in range(int(rng.poisson(1.2 * clutter))):
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        region = img[max(y0, 0):max(min(y0 + int(rng.integers(w // 6, w)), h), 0),
                     max(x0, 0):max(min(x0 + int(rng.integers(h // 6, h)), w), 0)]
        if region.size == 0:
            continue
        color = _scene_color(rng)
        region[:] = cv2.transform(region, np.hstack([np.eye(3, dtype=np.float32) * 0.35, color[:, None] * 0.65]))
        step = int(rng.integers(6, 30))
        line_col = tuple(float(c) for c in color * _u(rng, 0.45, 0.8))
        kind = rng.integers(3)
        rh2, rw2 = region.shape[:2]
        for k, y in enumerate(range(0, rh2, step)):
            cv2.line(region, (0, y), (rw2, y), line_col, 1)
            if kind == 0:  # bricks: staggered verticals
                for x in range((k % 2) * step, rw2, 2 * step):
                    cv2.line(region, (x, y), (x, y + step), line_col, 1)
        if kind == 1:  # tiles
            for x in range(0, rw2, step):
                cv2.line(region, (x, 0), (x, rh2), line_col, 1)
    # Furniture-like shapes: framed rectangles (windows, doors, pictures), round things, quadrilaterals.
    for _ in range(int(rng.poisson(5 * clutter))):
        color = _scene_color(rng) if rng.random() < 0.8 else _random_cloth(rng)
        c = rng.uniform([0, 0], [w, h])
        size = float(math.exp(_u(rng, math.log(0.03), math.log(0.3)))) * min(h, w)
        kind = rng.integers(4)
        if kind <= 1:
            ang = float(rng.normal(0, 0.08))
            d = np.array([math.cos(ang), math.sin(ang)])
            n = np.array([-d[1], d[0]])
            a_, b_ = size, size * _u(rng, 0.4, 2.0)
            quad = lambda k: np.stack([c + d * a_ * k + n * b_ * k, c + d * a_ * k - n * b_ * k,  # noqa: E731
                                       c - d * a_ * k - n * b_ * k, c - d * a_ * k + n * b_ * k])
            canvas.fill(quad(1.0), color * 0.7)
            canvas.fill(quad(_u(rng, 0.75, 0.95)), color)
        elif kind == 2:
            canvas.fill(_ellipse(c, np.array([1.0, 0.0]), size, size * _u(rng, 0.5, 1.0)), color)
        else:
            pts = c + rng.uniform(-size, size, (4, 2))
            canvas.fill(cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64), color)
    for _ in range(int(rng.poisson(2 * clutter))):  # cables, edges, shelves
        p, q = rng.uniform([0, 0], [w, h]), rng.uniform([0, 0], [w, h])
        cv2.line(img, tuple(_fixed(p)), tuple(_fixed(q)), tuple(float(v) for v in _scene_color(rng)),
                 int(rng.integers(1, 4)), cv2.LINE_AA, _SHIFT)
    # Limb-like distractors: shaded tapered capsules of limb size, some jointed, often skin or clothing coloured.
    for _ in range(int(rng.poisson(3 * clutter))):
        color = _SKIN_BGR[rng.integers(len(_SKIN_BGR))] if rng.random() < 0.4 else _random_cloth(rng)
        p = rng.uniform([0, 0], [w, h])
        r = _u(rng, 1.5, max(2.0, 0.025 * min(h, w)))
        ang = _u(rng, 0, 2 * math.pi)
        for _seg in range(int(rng.integers(1, 4))):
            q = p + r * _u(rng, 3, 7) * np.array([math.cos(ang), math.sin(ang)])
            canvas.shaded_capsule(p, q, r, r * _u(rng, 0.6, 1.0), color)
            p, r, ang = q, r * 0.85, ang + _u(rng, -1.8, 1.8)
        if rng.random() < 0.25:  # a head-like blob at the end
            canvas.fill(_ellipse(p, np.array([0.0, 1.0]), r * 2.4, r * 2.0), color)
    return canvas.image


def _draw_occluder(canvas: _Canvas, rng: np.random.Generator, center: np.ndarray, size: float) -> None:
    """An object (box, post, bush, table, sign) centred near `center`, about `size` px big, labelled as occluder."""
    color = _random_cloth(rng)
    kind = rng.integers(5)
    d = np.array([1.0, 0.0])
    n = np.array([0.0, 1.0])
    if kind == 0:  # box with a lit top face
        a, b = size * _u(rng, 0.25, 0.6), size * _u(rng, 0.2, 0.5)
        quad = np.stack([center - d * a - n * b, center + d * a - n * b, center + d * a + n * b, center - d * a + n * b])
        canvas.fill(quad, color, LABEL_OCCLUDER)
        top = np.stack([quad[0], quad[1], quad[1] + np.array([0.3 * a, -0.3 * b]), quad[0] + np.array([0.3 * a,
                                                                                                    -0.3 * b])])
        canvas.fill(top, color * 1.2 + 15, LABEL_OCCLUDER)
    elif kind == 1:  # post / pole: limb-like on purpose
        r = size * _u(rng, 0.04, 0.12)
        length = size * _u(rng, 0.8, 2.0)
        ang = math.radians(90 + rng.normal(0, 12))
        v = np.array([math.cos(ang), math.sin(ang)]) * length / 2
        canvas.shaded_capsule(center - v, center + v, r, r, color, LABEL_OCCLUDER)
    elif kind == 2:  # bush: cluster of shaded blobs
        green = np.array([_u(rng, 20, 80), _u(rng, 80, 170), _u(rng, 20, 90)], np.float32)
        for _ in range(int(rng.integers(5, 12))):
            c = center + rng.normal(0, size * 0.18, 2)
            r = size * _u(rng, 0.1, 0.25)
            canvas.fill(_ellipse(c, d, r, r * _u(rng, 0.7, 1.0)), green * _u(rng, 0.6, 1.2), LABEL_OCCLUDER)
    elif kind == 3:  # table / bench: top and two legs
        a, t = size * _u(rng, 0.35, 0.7), size * _u(rng, 0.04, 0.08)
        leg_h = size * _u(rng, 0.3, 0.6)
        canvas.fill(np.stack([center - d * a - n * t, center + d * a - n * t, center + d * a + n * t,
                              center - d * a + n * t]), color, LABEL_OCCLUDER)
        for sgn in (-0.85, 0.85):
            base = center + d * a * sgn
            canvas.shaded_capsule(base, base + n * leg_h, t * 0.6, t * 0.6, color * 0.8, LABEL_OCCLUDER)
    else:  # sign board on a pole
        a, b = size * _u(rng, 0.2, 0.45), size * _u(rng, 0.15, 0.3)
        canvas.shaded_capsule(center, center + n * size * 0.8, size * 0.03, size * 0.03, (90, 90, 90),
                              LABEL_OCCLUDER)
        canvas.fill(np.stack([center - d * a - n * b, center + d * a - n * b, center + d * a + n * b,
                              center - d * a + n * b]), color, LABEL_OCCLUDER)
        canvas.fill(np.stack([center - d * a * 0.8 - n * b * 0.2, center + d * a * 0.8 - n * b * 0.2,
                              center + d * a * 0.8 + n * b * 0.2, center - d * a * 0.8 + n * b * 0.2]),
                    255 - color, LABEL_OCCLUDER)


def _degrade(rng: np.random.Generator, image: np.ndarray, cfg: SynthConfig) -> np.ndarray:
    """Lighting change, blur and sensor noise (JPEG artefacts come from the encoding itself)."""
    gain = rng.uniform(0.85, 1.15, 3).astype(np.float32) * _u(rng, 0.7, 1.2)
    # Per-channel gain and an offset in one OpenCV pass (a 3x4 affine colour transform).
    img = cv2.transform(image.astype(np.float32), np.hstack([np.diag(gain), np.full((3, 1), _u(rng, -20, 20),
                                                                                    np.float32)]))
    if rng.random() < cfg.blur_prob:
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), _u(rng, 0.6, 2.0))
        else:  # motion blur along a random direction
            k = int(rng.integers(3, 10))
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), _u(rng, 0, 180), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            img = cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))
    if cfg.noise > 0:
        # OpenCV's normal generator, seeded from this image's rng (so the bytes stay reproducible), is about 3x
        # faster than numpy's for a whole image.
        sigma = _u(rng, 0, cfg.noise)
        cv2.setRNGSeed(int(rng.integers(2 ** 31)))
        noise = np.empty_like(img)
        cv2.randn(noise, (0.0, 0.0, 0.0), (sigma, sigma, sigma))
        img += noise
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------------------
def _label_keypoints(person: _Person, label: np.ndarray, label_base: int) -> np.ndarray:
    """(17, 3) COCO keypoints [x, y, v] of a rendered person, by COCO's rule "a keypoint is considered visible if it
    falls inside the object segment" (cocodataset.org/#format-data):
        v=2  the joint's pixel belongs to this person (any part: a hip behind the person's own arm is visible);
        v=1  inside the image but covered by an object or another person;
        v=0  outside the image (x = y = 0), and face points on the side of the head turned away from the camera
             (annotators cannot see them and leave them unlabelled, as in the OCHuman and COCO files)."""
    h, w = label.shape
    xy = np.round(person.p2d[:NUM_KEYPOINTS], 2)
    out = np.zeros((NUM_KEYPOINTS, 3))
    face_vis = person.face_visibility()
    for j in range(NUM_KEYPOINTS):
        x, y = float(xy[j, 0]), float(xy[j, 1])
        if not (0.0 <= x <= w - 1 and 0.0 <= y <= h - 1):
            continue  # v = 0, x = y = 0
        if j < 5 and not face_vis[j]:
            continue  # turned away: not labelled
        owner = int(label[int(round(y)), int(round(x))]) - label_base
        out[j] = (x, y, 2 if 0 <= owner < NUM_PARTS else 1)
    return out


def _mask_box(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.nonzero(rows)[0][[0, -1]]
    x0, x1 = np.nonzero(cols)[0][[0, -1]]
    return int(x0), int(y0), int(x1) + 1, int(y1) + 1


# ----------------------------------------------------------------------------------------------------------------
# One image
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One rendered image and its labels.

    image: (H, W, 3) uint8 BGR before JPEG encoding. annotations: COCO annotation dicts without "id"/"image_id"
    (keypoints as a flat [x, y, v] * 17 list in image px; keys starting with "_" are internal and not written:
    "_label_base" is the person's first label value in label_map). detections: [{"bbox", "score"}] person
    detections. jpeg_quality: the quality to encode with. label_map: (H, W) int32 owner of every pixel (0 background,
    1 object, LABEL_PERSON0 + person * NUM_PARTS + part)."""

    image: np.ndarray
    annotations: List[Dict]
    detections: List[Dict]
    jpeg_quality: int
    label_map: np.ndarray


def image_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The per-image seed: the same (seed, split, index) always renders the same image."""
    return np.random.SeedSequence([int(seed), list(SPLITS).index(split), int(index)])


def render_sample(seed: int, split: str, index: int, cfg: SynthConfig = SynthConfig()) -> Sample:
    """Render image `index` of `split` ("train" or "val") for `seed` with the difficulty `cfg`."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r}, expected one of {sorted(SPLITS)}")
    cfg.validate()
    rng = np.random.default_rng(image_seed(seed, split, index))
    w, h = (int(rng.integers(cfg.min_size, cfg.max_size + 1)) for _ in range(2))
    image = _render_background(rng, h, w, cfg.clutter)
    ang = _u(rng, 0, 2 * math.pi)
    canvas = _Canvas(image, np.array([math.cos(ang), math.sin(ang)]))

    # Persons: fewer persons are more likely; heights log-uniform from min_height to max_height * H.
    counts = np.arange(cfg.min_persons, cfg.max_persons + 1)
    probs = _PERSON_COUNT_DECAY ** (counts - cfg.min_persons)
    n_persons = int(rng.choice(counts, p=probs / probs.sum()))
    persons: List[_Person] = []
    for k in range(n_persons):
        hi = max(cfg.max_height * h, cfg.min_height)
        # The first person is often a main subject (as in photos); the rest spread over the whole range.
        lo = max(cfg.min_height, 0.3 * hi) if k == 0 and rng.random() < 0.5 else cfg.min_height
        height = float(math.exp(_u(rng, math.log(lo), math.log(hi))))
        person = _Person(rng, height, cfg)
        if person.pose["lying"]:  # a lying person's length runs along the image width
            person.height = min(person.height, cfg.max_height * w)
            person._layout()
        lo, hi_ = person.extent()
        size = hi_ - lo
        if persons and rng.random() < cfg.overlap_prob:
            ref = persons[int(rng.integers(len(persons)))]
            rlo, rhi = ref.extent()
            center = 0.5 * (rlo + rhi) + rng.uniform(-0.6, 0.6, 2) * (rhi - rlo) * np.array([1.0, 0.4])
        elif rng.random() < cfg.truncation_prob:
            center = rng.uniform([0, 0], [w, h])
            # Photos cut people mostly at the bottom (upper-body and seated shots), less at the sides and top.
            side = int(rng.choice(4, p=_TRUNCATION_SIDES))  # bottom, left, right, top
            axis = 1 if side in (0, 3) else 0
            edge = float((h, 0, w, 0)[side])
            out = _u(rng, 0.15, 0.65) * size[axis]  # how far the box sticks out
            center[axis] = edge + (out - 0.5 * size[axis]) * (1 if edge > 0 else -1)
        else:  # inside the image where it fits (border truncation is the knob's job)
            half = np.minimum(0.5 * size, 0.5 * np.array([w, h]))
            center = rng.uniform(half, np.array([w, h]) - half)
        person.place(center)
        person.depth = 1000.0 / person.height * _u(rng, 0.8, 1.25)  # bigger figures are nearer, mostly
        persons.append(person)
    if rng.random() < cfg.tiny_prob:
        for _ in range(int(rng.integers(1, 3))):
            person = _Person(rng, _u(rng, 12, TINY_HEIGHT - 0.5), cfg)
            person.place(rng.uniform([0, 0], [w, h]))
            person.depth = 1000.0 / person.height
            persons.append(person)

    # Draw list: persons and occluders, back to front.
    draws = [(p.depth, 0, i) for i, p in enumerate(persons)]
    occluders = []
    for p in persons:
        if p.height >= TINY_HEIGHT and rng.random() < cfg.occluder_prob:
            lo, hi_ = p.extent()
            c = lo + (hi_ - lo) * rng.uniform([0.1, 0.35], [0.9, 1.0])
            occluders.append((c, p.height * _u(rng, 0.25, 0.6), int(rng.integers(2 ** 31))))
            draws.append((p.depth * 0.97, 1, len(occluders) - 1))
    for _ in range(int(rng.poisson(0.5 * cfg.clutter))):  # free-standing objects at random depths
        occluders.append((rng.uniform([0, 0], [w, h]), _u(rng, 0.1, 0.5) * h, int(rng.integers(2 ** 31))))
        draws.append((_u(rng, 1.0, 30.0), 1, len(occluders) - 1))
    seat_rng = int(rng.integers(2 ** 31))
    full_area = np.zeros(len(persons))
    for _, kind, i in sorted(draws, key=lambda t: (-t[0], t[1], t[2])):
        if kind == 0:
            p = persons[i]
            if p.pose["name"] == "sit":
                _draw_seat(canvas, p, np.random.default_rng([seat_rng, i]))
            base = LABEL_PERSON0 + i * NUM_PARTS
            p.draw(canvas, base, rng)
            full_area[i] = _person_pixels(canvas.label, p, base).sum()
        else:
            c, size, sub_seed = occluders[i]
            _draw_occluder(canvas, np.random.default_rng(sub_seed), c, size)

    annotations = []
    for i, p in enumerate(persons):
        base = LABEL_PERSON0 + i * NUM_PARTS
        ann = _annotate(p, canvas.label, base, full_area[i])
        if ann is not None:
            annotations.append(ann)
    detections = _detections(rng, annotations, w, h)
    final = _degrade(rng, canvas.image, cfg)
    quality = int(rng.integers(cfg.jpeg_min, cfg.jpeg_max + 1))
    return Sample(final, annotations, detections, quality, canvas.label)


def render_figure(seed: int, yaw: float, height: float = 200.0, size: Tuple[int, int] = (240, 320),
                  pose: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """One upright figure, head and shoulders facing where the hips do, centred on a plain grey image: for checks of
    the anatomy and of the facing convention.

    Args:
        seed: seeds the look and the joint angles.
        yaw: facing in degrees (0 = facing the camera, so the person's left is on the image's right; 180 = back view;
            90 = facing image right).
        height: standing height, px. size: image (w, h), px. pose: a pose class (e.g. "stand"); None = random.

    Returns:
        image (h, w, 3) uint8 BGR and keypoints (17, 3) [x, y, v] in image px.
    """
    if pose is not None and pose not in _POSE_CLASSES:
        raise ValueError(f"pose={pose!r}, expected one of {_POSE_CLASSES}")
    rng = np.random.default_rng(seed)
    w, h = size
    person = _Person(rng, height, SynthConfig(rotation=0.0))
    while pose is not None and person.pose["name"] != pose:
        person.pose = sample_pose(rng)
    person.pose.update(head_yaw=0.0, head_pitch=0.0, twist=0.0)  # the head faces where the body does
    person.skel = skeleton_3d(person.pose, person.body)
    person.yaw, person.angle = float(yaw), 0.0
    person._layout()
    person.place(np.array([w / 2.0, h / 2.0]))
    canvas = _Canvas(np.full((h, w, 3), 170, np.uint8), np.array([0.6, -0.8]))
    person.draw(canvas, LABEL_PERSON0, rng)
    return canvas.image, _label_keypoints(person, canvas.label, LABEL_PERSON0)


def _draw_seat(canvas: _Canvas, person: _Person, rng: np.random.Generator) -> None:
    """A chair/stool block under a sitting person's hips, drawn behind them."""
    hips = 0.5 * (person.p2d[11] + person.p2d[12])
    knees = 0.5 * (person.p2d[13] + person.p2d[14])
    down = person.image_dir(np.array([0.0, -1.0, 0.0]))
    down = down / max(float(np.hypot(*down)), 1e-6)
    across = np.array([-down[1], down[0]])
    reach = max(float(np.hypot(*(knees - hips))), 0.1 * person.height)
    seat_h = 0.25 * person.height
    top = hips + down * 0.04 * person.height
    quad = np.stack([top - across * reach, top + across * reach, top + across * reach + down * seat_h,
                     top - across * reach + down * seat_h])
    color = _random_cloth(rng)
    canvas.fill(quad, color, LABEL_OCCLUDER)


def _person_pixels(label: np.ndarray, person: _Person, base: int) -> np.ndarray:
    """Bool mask (H, W) of the pixels the person owns now."""
    return (label >= base) & (label < base + NUM_PARTS)


def _annotate(person: _Person, label: np.ndarray, base: int, full_area: float) -> Optional[Dict]:
    """COCO fields for one rendered person; None when nothing of it is visible."""
    h, w = label.shape
    lo, hi = person.extent()
    x0, y0 = max(int(math.floor(lo[0])) - 2, 0), max(int(math.floor(lo[1])) - 2, 0)
    x1, y1 = min(int(math.ceil(hi[0])) + 3, w), min(int(math.ceil(hi[1])) + 3, h)
    if x1 <= x0 or y1 <= y0:
        return None
    mask = (label[y0:y1, x0:x1] >= base) & (label[y0:y1, x0:x1] < base + NUM_PARTS)
    area = int(mask.sum())
    if area < 8:  # hidden or cut away: COCO annotates only persons one can see
        return None
    if person.height >= TINY_HEIGHT and area >= SMALL_AREA:
        kps = _label_keypoints(person, label, base)
    else:
        kps = np.zeros((NUM_KEYPOINTS, 3))
    mx0, my0, mx1, my1 = _mask_box(mask)
    bx0, by0, bx1, by1 = mx0 + x0, my0 + y0, mx1 + x0, my1 + y0
    labelled = kps[:, 2] > 0
    if labelled.any():  # grow the box to hold every labelled joint (occluded joints can lie outside the mask)
        bx0 = min(bx0, float(np.floor(kps[labelled, 0].min())))
        by0 = min(by0, float(np.floor(kps[labelled, 1].min())))
        bx1 = max(bx1, float(np.ceil(kps[labelled, 0].max())))
        by1 = max(by1, float(np.ceil(kps[labelled, 1].max())))
    bx0, by0, bx1, by1 = max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h)
    full = np.zeros((h, w), np.uint8, order="F")
    full[y0:y1, x0:x1] = mask
    rle = mask_utils.encode(full)
    return {
        "category_id": 1, "iscrowd": 0,
        "bbox": [float(bx0), float(by0), float(bx1 - bx0), float(by1 - by0)],
        "area": float(area),
        "segmentation": {"size": [h, w], "counts": rle["counts"].decode("ascii")},
        "keypoints": [float(v) if i % 3 != 2 else int(v) for i, v in enumerate(kps.reshape(-1))],
        "num_keypoints": int(labelled.sum()),
        # Not COCO fields; used for the detection scores and dropped before writing.
        "_visible_fraction": area / max(full_area, 1.0), "_label_base": base,
    }


def _detections(rng: np.random.Generator, annotations: List[Dict], w: int, h: int) -> List[Dict]:
    """Simulated person detector: GT boxes jittered in position and size, scored higher for bigger and less occluded
    persons, with misses, duplicates and false positives, as a real detector's results file."""
    dets = []
    for ann in annotations:
        x, y, bw, bh = ann["bbox"]
        vis = float(np.clip(ann["_visible_fraction"], 0, 1))
        size = min(1.0, math.sqrt(ann["area"]) / 96.0)
        if rng.random() < 0.03 + 0.25 * (1 - vis) + (0.3 if ann["area"] < 32 * 32 else 0.0):
            continue  # missed
        score = float(np.clip(0.25 + 0.7 * math.sqrt(size) * (0.4 + 0.6 * vis) + rng.normal(0, 0.07), 0.02, 0.999))
        for dup in range(2 if rng.random() < 0.08 else 1):
            cx = x + bw / 2 + rng.normal(0, 0.06) * bw
            cy = y + bh / 2 + rng.normal(0, 0.06) * bh
            nw, nh = bw * math.exp(rng.normal(0, 0.1)), bh * math.exp(rng.normal(0, 0.1))
            dets.append(_det_box(cx, cy, nw, nh, w, h, score * (0.5 if dup else 1.0)))
    for _ in range(int(rng.poisson(0.6))):  # false positives: person-shaped boxes on clutter
        bh = _u(rng, 0.1, 0.6) * h
        bw = bh * _u(rng, 0.3, 0.8)
        dets.append(_det_box(_u(rng, 0, w), _u(rng, 0, h), bw, bh, w, h, _u(rng, 0.02, 0.5)))
    return [d for d in dets if d["bbox"][2] >= 1 and d["bbox"][3] >= 1]


def _det_box(cx: float, cy: float, bw: float, bh: float, w: int, h: int, score: float) -> Dict:
    x0, y0 = max(cx - bw / 2, 0.0), max(cy - bh / 2, 0.0)
    x1, y1 = min(cx + bw / 2, float(w)), min(cy + bh / 2, float(h))
    return {"bbox": [round(x0, 2), round(y0, 2), round(max(x1 - x0, 0.0), 2), round(max(y1 - y0, 0.0), 2)],
            "score": round(float(score), 4)}
