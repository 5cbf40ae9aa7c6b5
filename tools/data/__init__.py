"""Dataset makers: the synthetic COCO-format set and the LSP fixture."""
