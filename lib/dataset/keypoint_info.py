"""One keypoint-info record per dataset: the joints' names and order, flip pairs, the skeleton drawn (with a side per
limb), the half-body groups, and the OKS constants where the dataset has them. Everything else (datasets, synthetic
generator, demo drawing, evaluation, OKS-NMS, adversarial labels) reads these records.

    from lib.dataset.keypoint_info import COCO_KEYPOINTS, by_num_joints
    COCO_KEYPOINTS.flip_pairs          # ((1, 2), (3, 4), ...)
    by_num_joints(16).kappa            # MPII's per-joint kappa for the adversarial labels

Sides are 'l', 'r' or 'c' (centre), seen from the person: they pick drawing colours.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

SIDES = ("l", "r", "c")


@dataclass(frozen=True)
class KeypointInfo:
    """The keypoint facts of one dataset (indices are 0-based joint numbers).

    Attributes:
        name: the DATASET.DATASET name ('coco', 'mpii', 'lsp').
        joint_names: one name per joint, in the annotation order; a 'left_'/'l_' or 'right_'/'r_' prefix gives the
            joint's side (joint_sides), any other name is a centre joint.
        flip_pairs: (left, right) joint pairs swapped by a horizontal flip.
        skeleton: limbs (joint a, joint b, side): side is the joints' side when both share one, else 'c'.
        upper_body_ids, lower_body_ids: the half-body augmentation's two groups.
        sigmas: COCO's per-joint OKS sigmas (pycocotools' COCOeval); None for datasets without them.
        kappa: per-joint OKS constants of the adversarial labels, exp(-d^2 / (2 A kappa^2)); None where the labels are
            PCK-style instead (LSP).
    """

    name: str
    joint_names: Tuple[str, ...]
    flip_pairs: Tuple[Tuple[int, int], ...]
    skeleton: Tuple[Tuple[int, int, str], ...]
    upper_body_ids: Tuple[int, ...]
    lower_body_ids: Tuple[int, ...]
    sigmas: Optional[Tuple[float, ...]] = None
    kappa: Optional[Tuple[float, ...]] = None

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def joint_sides(self) -> str:
        """One of 'l', 'r', 'c' per joint, from the joint names."""
        def side(name):
            if name.startswith(("left_", "l_")):
                return "l"
            if name.startswith(("right_", "r_")):
                return "r"
            return "c"

        return "".join(side(name) for name in self.joint_names)

    @property
    def limbs(self) -> Tuple[Tuple[int, int], ...]:
        """The skeleton's joint pairs without their sides."""
        return tuple((a, b) for a, b, _ in self.skeleton)


# ------------------------------------------------------------------------------------------------------------------
# COCO person keypoints (17 joints); also the synthetic set and OCHuman.
# ------------------------------------------------------------------------------------------------------------------
# pycocotools' COCOeval sigmas, computed as it does (a tenth of the listed values), so the floats are the same.
_COCO_SIGMAS = tuple(float(s) for s in np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0)
# The OKS written with kappa = 2 sigma: ks = exp(-d^2 / (2 A kappa^2)) equals COCO's exp(-d^2 / (2 A (2 sigma)^2)).
_COCO_KAPPA = tuple(2.0 * s for s in _COCO_SIGMAS)

COCO_KEYPOINTS = KeypointInfo(
    name="coco",
    joint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # COCO's 19-limb skeleton in the order of the annotation files' categories (there 1-based).
    skeleton=(
        (15, 13, "l"), (13, 11, "l"), (16, 14, "r"), (14, 12, "r"), (11, 12, "c"), (5, 11, "l"), (6, 12, "r"),
        (5, 6, "c"), (5, 7, "l"), (6, 8, "r"), (7, 9, "l"), (8, 10, "r"), (1, 2, "c"), (0, 1, "c"), (0, 2, "c"),
        (1, 3, "l"), (2, 4, "r"), (3, 5, "l"), (4, 6, "r"),
    ),
    upper_body_ids=tuple(range(11)),
    lower_body_ids=tuple(range(11, 17)),
    sigmas=_COCO_SIGMAS,
    kappa=_COCO_KAPPA,
)

# ------------------------------------------------------------------------------------------------------------------
# MPII Human Pose (16 joints)
# ------------------------------------------------------------------------------------------------------------------
# MPII has no OKS constants: each joint borrows the COCO kappa of the same body part, so the adversarial labels mean
# "within the annotators' spread for this kind of joint" on both datasets. The four joints without a COCO counterpart
# take the nearest part: pelvis -> hip, thorax and upper neck -> shoulder (points on the shoulder line), head top ->
# ear (a head point with a small spread).
_ANKLE, _KNEE, _HIP, _WRIST, _ELBOW, _SHOULDER, _EAR = (_COCO_KAPPA[k] for k in (15, 13, 11, 9, 7, 5, 3))

MPII_KEYPOINTS = KeypointInfo(
    name="mpii",
    joint_names=(
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck", "head_top",
        "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    # Legs, the pelvis-thorax-neck-head chain, arms.
    skeleton=(
        (0, 1, "r"), (1, 2, "r"), (2, 6, "c"), (6, 3, "c"), (3, 4, "l"), (4, 5, "l"), (6, 7, "c"), (7, 8, "c"),
        (8, 9, "c"), (10, 11, "r"), (11, 12, "r"), (12, 7, "c"), (7, 13, "c"), (13, 14, "l"), (14, 15, "l"),
    ),
    upper_body_ids=(7, 8, 9, 10, 11, 12, 13, 14, 15),
    lower_body_ids=(0, 1, 2, 3, 4, 5, 6),
    kappa=(
        _ANKLE, _KNEE, _HIP, _HIP, _KNEE, _ANKLE,  # r ankle, r knee, r hip, l hip, l knee, l ankle
        _HIP, _SHOULDER, _SHOULDER, _EAR,  # pelvis, thorax, upper neck, head top
        _WRIST, _ELBOW, _SHOULDER,  # r wrist, r elbow, r shoulder
        _SHOULDER, _ELBOW, _WRIST,  # l shoulder, l elbow, l wrist
    ),
)

# ------------------------------------------------------------------------------------------------------------------
# Leeds Sports Pose and its extension LSPET (14 joints); no OKS constants: its adversarial labels are PCK-style.
# ------------------------------------------------------------------------------------------------------------------
LSP_KEYPOINTS = KeypointInfo(
    name="lsp",
    joint_names=(
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder",
        "l_elbow", "l_wrist", "neck", "head_top",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
    # Legs, hips, arms, shoulders, the torso sides, and neck to head top.
    skeleton=(
        (0, 1, "r"), (1, 2, "r"), (3, 4, "l"), (4, 5, "l"), (2, 3, "c"), (6, 7, "r"), (7, 8, "r"), (9, 10, "l"),
        (10, 11, "l"), (8, 9, "c"), (8, 2, "r"), (9, 3, "l"), (12, 8, "c"), (12, 9, "c"), (12, 13, "c"),
    ),
    upper_body_ids=(6, 7, 8, 9, 10, 11, 12, 13),
    lower_body_ids=(0, 1, 2, 3, 4, 5),
)

KEYPOINT_INFOS = {info.name: info for info in (COCO_KEYPOINTS, MPII_KEYPOINTS, LSP_KEYPOINTS)}


def by_num_joints(num_joints: int) -> KeypointInfo:
    """The record of the dataset with `num_joints` joints (17 COCO, 16 MPII, 14 LSP): the joint count is all a model
    or a heatmap batch knows of its dataset.

    Raises:
        ValueError naming the known joint counts.
    """
    for info in KEYPOINT_INFOS.values():
        if info.num_joints == num_joints:
            return info
    known = ", ".join(f"{info.num_joints} {info.name}" for info in KEYPOINT_INFOS.values())
    raise ValueError(f"no keypoint record has {num_joints} joints (known: {known})")
