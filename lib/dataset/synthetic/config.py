"""The difficulty of the synthetic data: ``SynthConfig`` (its knobs) and the named presets.

Image sizes: width and height drawn independently and uniformly in [min_size, max_size] = [320, 480] px by default.

Difficulty knobs (``SynthConfig`` fields; ``tools/data/make_synthetic_coco.py`` flags; defaults = the honest difficulty):

    ================  ==================  ==========================================================================
    field             flag                meaning (default)
    ================  ==================  ==========================================================================
    min_size          --min-size          smallest image side, px (320)
    max_size          --max-size          largest image side, px (480)
    min_persons       --min-persons       fewest persons drawn per image (1)
    max_persons       --max-persons       most persons drawn per image, fewer more likely (8)
    min_height        --min-height        smallest standing height of a drawn person, px (56)
    max_height        --max-height        largest standing height, as a fraction of the image height (0.9)
    rotation          --rotation          std of the in-plane rotation of upright persons, degrees (20)
    overlap_prob      --overlap-prob      probability that a person is placed overlapping an earlier one (0.4)
    truncation_prob   --truncation-prob   probability that a person is pushed across the image border, mostly the
                                          bottom one (0.5)
    occluder_prob     --occluder-prob     probability that an object is placed in front of a person (0.3)
    clutter           --clutter           scale of background clutter: shapes, textures, limb-like distractors (1.0)
    poses             --poses             pose classes drawn: all (standing, walking, running, arms up, crouching,
                                          kneeling, sitting, lying, random) or upright (the first four) (all)
    tiny_prob         --tiny-prob         probability of extra tiny (12-32 px) persons without joints (0.2)
    blur_prob         --blur-prob         probability of Gaussian or motion blur (0.3)
    noise             --noise             largest std of additive Gaussian pixel noise, grey levels (8.0)
    jpeg_min/max      --jpeg-quality      JPEG quality range, drawn uniformly per image (40 95)
    ================  ==================  ==========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass

from lib.dataset.synthetic.skeleton import POSE_SETS

# Figures shorter than this (standing height, px) are annotated without joints, as COCO leaves small persons unlabelled.
TINY_HEIGHT = 32.0


@dataclass(frozen=True)
class SynthConfig:
    """Difficulty knobs; see the module docstring's table. The defaults are the honest difficulty."""

    min_size: int = 320
    max_size: int = 480
    min_persons: int = 1
    max_persons: int = 8
    min_height: float = 56.0
    max_height: float = 0.9
    rotation: float = 20.0
    overlap_prob: float = 0.4
    truncation_prob: float = 0.5
    occluder_prob: float = 0.3
    clutter: float = 1.0
    tiny_prob: float = 0.2
    blur_prob: float = 0.3
    noise: float = 8.0
    jpeg_min: int = 40
    jpeg_max: int = 95
    poses: str = "all"

    def validate(self) -> "SynthConfig":
        """Raise ValueError naming the first bad knob; return self."""
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        need(64 <= self.min_size <= self.max_size <= 4096,
             f"image sizes need 64 <= min_size <= max_size <= 4096, got {self.min_size}, {self.max_size}")
        need(1 <= self.min_persons <= self.max_persons <= 20,
             f"persons need 1 <= min_persons <= max_persons <= 20, got {self.min_persons}, {self.max_persons}")
        need(TINY_HEIGHT <= self.min_height,
             f"min_height={self.min_height} px must be >= {TINY_HEIGHT} (smaller figures carry no joints)")
        need(0.0 < self.max_height <= 2.0,
             f"max_height={self.max_height} is a fraction of the image height, expected in (0, 2]")
        need(self.min_height <= self.max_height * self.min_size,
             f"min_height={self.min_height} px exceeds max_height * min_size = {self.max_height * self.min_size} px")
        need(0.0 <= self.rotation <= 180.0, f"rotation={self.rotation} must be a std in degrees in [0, 180]")
        for name in ("overlap_prob", "truncation_prob", "occluder_prob", "tiny_prob", "blur_prob"):
            value = getattr(self, name)
            need(0.0 <= value <= 1.0, f"{name}={value} must be a probability in [0, 1]")
        need(0.0 <= self.clutter <= 10.0, f"clutter={self.clutter} must be in [0, 10] (1 = default amount)")
        need(0.0 <= self.noise <= 100.0, f"noise={self.noise} must be a std in grey levels in [0, 100]")
        need(self.poses in POSE_SETS, f"poses={self.poses!r} must be one of {sorted(POSE_SETS)}")
        need(1 <= self.jpeg_min <= self.jpeg_max <= 100,
             f"JPEG quality needs 1 <= min <= max <= 100, got {self.jpeg_min}, {self.jpeg_max}")
        return self


# Named difficulty presets (tools/data/make_synthetic_coco.py --preset, DATASET.SYNTHETIC_PRESET). 'default' is the
# benchmark every comparison uses. 'quickstart' is the much easier set the CPU quickstart trains on: at most two
# persons per image, larger (>= 140 px), upright poses only (standing, walking, running, arms up), less rotation,
# overlap, truncation, occlusion and clutter; so that 15 CPU minutes give a model that finds poses. Its AP is not
# comparable with the default set's.
PRESETS = {
    "default": SynthConfig(),
    "quickstart": SynthConfig(max_persons=2, min_height=140.0, rotation=10.0, overlap_prob=0.1, truncation_prob=0.1,
                              occluder_prob=0.1, clutter=0.3, tiny_prob=0.0, blur_prob=0.1, noise=3.0,
                              poses="upright"),
}


def preset_config(name: str) -> SynthConfig:
    """The SynthConfig of a named preset; ValueError naming the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown synthetic preset {name!r}; valid: {sorted(PRESETS)}")
    return PRESETS[name]
