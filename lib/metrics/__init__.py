"""Keypoint metrics below the training core, so that the datasets (lib.dataset, which must not import lib.core), the
evaluator, OKS-NMS and the adversarial labels share one definition of each:

    from lib.metrics.pck import pck_per_joint, torso_sizes, pck_name_values, format_joint_table   # numpy
    from lib.metrics.oks import oks_per_joint                                                     # numpy or torch
"""
