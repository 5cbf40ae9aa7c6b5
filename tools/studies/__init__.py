"""Studies: seed comparisons, lambda calibration, quickstart sweeps, the heatmap-loss A/B."""
