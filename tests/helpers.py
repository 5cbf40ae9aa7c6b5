"""Shared test helpers: the one narrow OmniPose/HRNet used by the fast tests (W8 widths, one block per branch)."""


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
