"""The keypoint records are self-consistent (names, flip pairs, skeleton, sides, half-body groups), COCO's sigmas are
pycocotools' own, the kappa of the adversarial labels is 2 sigma (MPII: the COCO value of the same body part), and the
datasets read their facts from the records."""
import json

import numpy as np
import pytest
from pycocotools.cocoeval import Params

from lib.dataset import DATASETS
from lib.dataset.keypoint_info import (COCO_KEYPOINTS, KEYPOINT_INFOS, LSP_KEYPOINTS, MPII_KEYPOINTS, SIDES,
                                       by_num_joints)
from lib.utils.transforms import flip_permutation

RECORDS = list(KEYPOINT_INFOS.values())


def bare_name(name):
    """'left_knee' / 'l_knee' -> 'knee'."""
    for prefix in ("left_", "right_", "l_", "r_"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


@pytest.mark.parametrize("info", RECORDS, ids=lambda info: info.name)
def test_names_and_sides(info):
    assert info.num_joints == len(info.joint_names) == len(set(info.joint_names)) == len(info.joint_sides)
    assert set(info.joint_sides) <= set(SIDES)
    assert KEYPOINT_INFOS[info.name] is info and by_num_joints(info.num_joints) is info


@pytest.mark.parametrize("info", RECORDS, ids=lambda info: info.name)
def test_flip_pairs_are_mirror_joints(info):
    sides, names = info.joint_sides, info.joint_names
    paired = [k for pair in info.flip_pairs for k in pair]
    assert len(paired) == len(set(paired)) and all(0 <= k < info.num_joints for k in paired)
    for a, b in info.flip_pairs:
        assert {sides[a], sides[b]} == {"l", "r"} and bare_name(names[a]) == bare_name(names[b])
    # Every sided joint has its mirror; flipping twice is the identity.
    assert sorted(paired) == [k for k, side in enumerate(sides) if side != "c"]
    perm, identity = flip_permutation(info.num_joints, info.flip_pairs), np.arange(info.num_joints)
    assert np.array_equal(perm[perm], identity) and not np.array_equal(perm, identity)


@pytest.mark.parametrize("info", RECORDS, ids=lambda info: info.name)
def test_skeleton_in_range_with_consistent_sides(info):
    sides = info.joint_sides
    assert len(set(info.limbs)) == len(info.limbs)
    for a, b, side in info.skeleton:
        assert 0 <= a < info.num_joints and 0 <= b < info.num_joints and a != b
        # A limb takes its joints' side when they share one; a limb across sides (or to a centre joint) is centre.
        assert side == (sides[a] if sides[a] == sides[b] else "c"), (info.name, a, b, side)
    # Every joint is drawn.
    assert {k for limb in info.limbs for k in limb} == set(range(info.num_joints))


@pytest.mark.parametrize("info", RECORDS, ids=lambda info: info.name)
def test_half_body_groups_split_the_joints(info):
    upper, lower = set(info.upper_body_ids), set(info.lower_body_ids)
    assert not upper & lower and upper | lower == set(range(info.num_joints))


def test_coco_sigmas_are_pycocotools_own():
    reference = Params(iouType="keypoints").kpt_oks_sigmas
    assert np.array_equal(np.asarray(COCO_KEYPOINTS.sigmas), reference)
    assert MPII_KEYPOINTS.sigmas is None and LSP_KEYPOINTS.sigmas is None


def test_kappa_is_twice_sigma_and_mpii_borrows_coco_body_parts():
    assert COCO_KEYPOINTS.kappa == tuple(2.0 * s for s in COCO_KEYPOINTS.sigmas)
    assert len(MPII_KEYPOINTS.kappa) == 16 and LSP_KEYPOINTS.kappa is None
    coco_kappa = dict(zip(COCO_KEYPOINTS.joint_names, COCO_KEYPOINTS.kappa))
    borrowed = {"pelvis": "left_hip", "thorax": "left_shoulder", "upper_neck": "left_shoulder", "head_top": "left_ear"}
    for name, kappa in zip(MPII_KEYPOINTS.joint_names, MPII_KEYPOINTS.kappa):
        coco_name = borrowed.get(name, "left_" + bare_name(name))
        assert kappa == coco_kappa[coco_name], name


def test_unknown_joint_count_names_the_known_ones():
    with pytest.raises(ValueError, match=r"15 joints.*17 coco, 16 mpii, 14 lsp"):
        by_num_joints(15)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_datasets_read_their_record(name):
    dataset, info = DATASETS[name], KEYPOINT_INFOS[name]
    assert dataset.keypoint_info is info and dataset.num_joints == info.num_joints
    assert dataset.joint_names is info.joint_names and dataset.flip_pairs is info.flip_pairs
    assert dataset.upper_body_ids is info.upper_body_ids and dataset.lower_body_ids is info.lower_body_ids
    assert dataset.metric == {"coco": "coco_oks", "mpii": "pckh", "lsp": "pck"}[name]


def test_coco_names_and_skeleton_equal_a_real_annotation_file(real_data):
    category = json.loads((real_data / "ochuman" / "test_ochuman.json").read_text())["categories"][0]
    assert list(COCO_KEYPOINTS.joint_names) == category["keypoints"]
    assert [[a + 1, b + 1] for a, b in COCO_KEYPOINTS.limbs] == category["skeleton"]
