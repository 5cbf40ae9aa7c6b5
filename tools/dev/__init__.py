"""Developer checks: the precision probe, the bf16 gradient check, the overfit check, the GPU check."""
