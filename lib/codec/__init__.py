"""The one heatmap codec, below both the data pipeline (which encodes targets) and evaluation, inference and the
adversarial labels (which decode). It depends only on lib.utils.transforms.

    from lib.codec import HeatmapCodec
    codec = HeatmapCodec.from_cfg(cfg)       # MODEL.{IMAGE_SIZE, HEATMAP_SIZE, SIGMA}, TEST.{POST_PROCESS, BLUR_KERNEL}

The coordinate convention is documented once, in lib/codec/heatmap.py.
"""
from lib.codec.heatmap import TARGET_CONVENTION, HeatmapCodec, argmax_decode, dark_blur, dark_refine

__all__ = ["TARGET_CONVENTION", "HeatmapCodec", "argmax_decode", "dark_blur", "dark_refine"]
