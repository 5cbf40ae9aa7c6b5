"""Keypoint metrics that need nothing but numpy: PCK with any per-person normaliser (torso, head, box), so that the
datasets (lib.dataset, which must not import the training core) and the evaluator share one definition.

    from lib.metrics.pck import pck_per_joint, torso_sizes, pck_name_values, format_joint_table
"""
