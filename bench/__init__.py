"""Side-by-side benchmarks; run each as `python -m bench.NAME` from the repository root."""
