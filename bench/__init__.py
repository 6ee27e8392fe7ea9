"""Side-by-side benchmarks of edgegru against its peers; each script writes bench/results/*.json.

Run from the repo root, e.g. ``python -m bench.onnx``. Timing rules
(docs/performance.md#workload-p): batch 1,
one thread, warm-up first, paths interleaved in one process, compare ratios from one run only.
"""
