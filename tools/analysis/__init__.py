"""Analysis scripts: benchmarks, model and dataset statistics, bootstrap intervals, plots."""
