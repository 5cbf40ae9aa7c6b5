"""A small LSP- or LSPET-format dataset of stick figures, for smoke runs and tests (LSP itself cannot be downloaded
on our machines): joints.mat in the release's own layout (scipy.io) and images/im0001.jpg ... (LSP) or
im00001.jpg ... (LSPET).

    python tools/data/make_lsp_fixture.py --out data/lsp_fixture              # lsp_dataset/ (20) + lspet_dataset/ (20)
    python tools/data/make_lsp_fixture.py --out /tmp/lsp --release lsp --images 20 --seed 1

Each image holds one person: a standing or moving stick figure (left limbs orange, right limbs blue, so left and right
are inferable) on a noisy background, with about 15 % of the joints covered by a grey patch and flagged occluded
(LSP: flag 1 = occluded; LSPET: flag 1 = visible). Coordinates are written 1-based, as Matlab's.
"""
import argparse
import os

import cv2
import numpy as np

# A standing person facing the camera in unit coordinates (x right, y down): the person's right is the image left.
TEMPLATE = np.array([
    [0.40, 0.95], [0.41, 0.75], [0.44, 0.55], [0.56, 0.55], [0.59, 0.75], [0.60, 0.95],  # r ankle..hip, l hip..ankle
    [0.30, 0.56], [0.33, 0.42], [0.38, 0.28], [0.62, 0.28], [0.67, 0.42], [0.70, 0.56],  # r wrist..shoulder, l ..wrist
    [0.50, 0.24], [0.50, 0.08],  # neck, head top
])
LIMBS = [(0, 1, "r"), (1, 2, "r"), (3, 4, "l"), (4, 5, "l"), (6, 7, "r"), (7, 8, "r"), (9, 10, "l"), (10, 11, "l"),
         (2, 8, "r"), (3, 9, "l"), (2, 3, "c"), (8, 9, "c"), (12, 13, "c")]
COLORS = {"l": (0, 140, 255), "r": (255, 140, 30), "c": (60, 200, 60)}  # BGR
OCCLUDED_FRACTION = 0.15


def render_person(rng, width, height):
    """(image (H, W, 3) uint8 BGR, joints (14, 2) 0-based px, visible (14,) bool)."""
    image = rng.integers(40, 120, size=(height, width, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 0)
    pose = TEMPLATE + rng.normal(0.0, 0.035, TEMPLATE.shape)  # per-joint jitter: arms and legs move
    person_h = rng.uniform(0.7, 0.9) * height
    offset = np.array([rng.uniform(0.3, 0.7) * width - 0.5 * person_h, rng.uniform(0.05, 0.25) * height])
    joints = pose * person_h + offset
    thickness = max(2, int(round(person_h / 30)))
    for a, b, side in LIMBS:
        cv2.line(image, tuple(np.round(joints[a]).astype(int)), tuple(np.round(joints[b]).astype(int)), COLORS[side],
                 thickness, cv2.LINE_AA)
    cv2.circle(image, tuple(np.round(0.5 * (joints[12] + joints[13])).astype(int)), int(0.06 * person_h),
               (170, 190, 220), -1, cv2.LINE_AA)
    visible = rng.random(14) >= OCCLUDED_FRACTION
    patch = max(3, int(round(person_h / 18)))
    for k in np.flatnonzero(~visible):
        x, y = np.round(joints[k]).astype(int)
        cv2.rectangle(image, (x - patch, y - patch), (x + patch, y + patch), (128, 128, 128), -1)
    return image, joints, visible


def write_lsp_fixture(root, num_images=20, release="lsp", seed=0, size_range=((120, 200), (160, 240))):
    """Writes `num_images` stick-figure images and joints.mat in the `release` layout ('lsp' or 'lspet') to `root`.

    Returns:
        (joints (N, 14, 2) 0-based px, visible (N, 14) bool): what was written, for tests.
    """
    from scipy.io import savemat

    if release not in ("lsp", "lspet"):
        raise ValueError(f"release={release!r} must be 'lsp' or 'lspet'")
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    all_joints, all_visible = [], []
    for i in range(num_images):
        width = int(rng.integers(*size_range[0]))
        height = int(rng.integers(*size_range[1]))
        image, joints, visible = render_person(rng, width, height)
        name = f"im{i + 1:04d}.jpg" if release == "lsp" else f"im{i + 1:05d}.jpg"
        if not cv2.imwrite(os.path.join(root, "images", name), image):
            raise OSError(f"could not write {os.path.join(root, 'images', name)}")
        all_joints.append(joints)
        all_visible.append(visible)
    joints, visible = np.stack(all_joints), np.stack(all_visible)
    xy1 = joints + 1.0  # Matlab's 1-based pixels
    if release == "lsp":
        array = np.concatenate([xy1, (~visible)[..., None].astype(np.float64)], axis=2).transpose(2, 1, 0)  # 3x14xN
    else:
        array = np.concatenate([xy1, visible[..., None].astype(np.float64)], axis=2).transpose(1, 2, 0)  # 14x3xN
    savemat(os.path.join(root, "joints.mat"), {"joints": array})
    return joints, visible


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--release", choices=["lsp", "lspet", "both"], default="both",
                        help="layout; 'both' writes OUT/lsp_dataset and OUT/lspet_dataset")
    parser.add_argument("--images", type=int, default=20, help="images per release")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.release == "both":
        write_lsp_fixture(os.path.join(args.out, "lsp_dataset"), args.images, "lsp", args.seed)
        write_lsp_fixture(os.path.join(args.out, "lspet_dataset"), args.images, "lspet", args.seed + 1)
    else:
        write_lsp_fixture(args.out, args.images, args.release, args.seed)
    print(f"wrote {args.images} image(s) per release to {args.out}")


if __name__ == "__main__":
    main()
