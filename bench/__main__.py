"""``python -m bench`` (or ``make bench``): every side-by-side benchmark in one go.

Runs each bench script in its own process (one torch/ORT/LiteRT setup each, no state carried
between them), each writing ``bench/results/<name>.json`` and printing its Markdown table; then
collects the tables into ``bench/results/summary.md``. A script that fails is recorded with its
error in the summary, not hidden. ``--quick`` runs fewer timed iterations (a smoke run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench import timing

# One line per bench script: (module, title, arguments of a quick run).
SCRIPTS: list[tuple[str, str, list[str]]] = [
    ("bench.onnx", "ONNX: edgegru vs torch.onnx.export vs PyTorch eager", ["--runs", "50"]),
    ("bench.onnx_int8", "ONNX int8-dynamic vs float", ["--runs", "50"]),
    ("bench.tflite", "TFLite/LiteRT: edgegru GRU lowerings vs ORT, Keras and litert-torch",
     ["--runs", "30", "--no-peers"]),
    ("bench.tflite_int8", "TFLite int8: full-integer and hybrid GRU vs ORT, Keras and litert-torch "
     "int8", ["--runs", "30", "--no-peers"]),
    ("bench.tflite_lstm", "TFLite: edgegru's fused (peephole) LSTM vs ORT and Keras",
     ["--runs", "30", "--no-peers"]),
    ("bench.tflite_lstm_int8", "TFLite LSTM / peephole: float vs hybrid vs full-integer kernel",
     ["--runs", "30"]),
    ("bench.lengths", "The lengths input: the same file with and without it",
     ["--runs", "30", "--repeats", "1"]),
    ("bench.tflite_micro", "TFLite Micro: LSTM lowered to builtin ops vs the fused op; arenas",
     ["--runs", "20"]),
    ("bench.tflite_micro_lstm_int8", "TFLite Micro: int8 LSTM / peephole lowered to builtin "
     "ops; lowered vs fused int8 on LiteRT", ["--runs", "20", "--datasets", "basicmotions"]),
]  # fmt: skip
# bench.compress trains dozens of models on `watch` (an hour on 2 cores): run it on its own,
# `python -m bench.compress --seeds 0,1,2`; its results are in bench/results/compress.json.
# bench.sweep (Ray Tune's cost in `edgegru sweep`, minutes; --watch: the README's sweep) also runs
# on its own: bench/results/sweep.json, sweep_watch.json.
# bench.check_defaults trains a GRU-32 on each shipped dataset and checks every file it exports
# (about 15 minutes): `python -m bench.check_defaults` -> bench/results/check_defaults.json.


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Few iterations: a smoke run.")
    parser.add_argument(
        "--only", default="", help="Comma-separated script names, e.g. onnx,tflite."
    )
    args = parser.parse_args(argv)
    wanted = {f"bench.{n}" for n in args.only.split(",") if n}
    if args.quick:  # smoke numbers never replace the measured ones
        import os
        import tempfile

        os.environ["EDGEGRU_BENCH_RESULTS"] = tempfile.mkdtemp(prefix="edgegru-bench-")
        timing.RESULTS = Path(os.environ["EDGEGRU_BENCH_RESULTS"])
    env = timing.environment()
    parts = [
        "# edgegru benchmarks",
        "",
        f"{env['cpu'] or env['machine']}, {env['cores']} cores, Python {env['python']}, "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
        + f"; {env['time']}. Compare ratios within one table only.",
        "",
    ]
    failed = 0
    for module, title, quick in SCRIPTS:
        if wanted and module not in wanted:
            continue
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", module, *(quick if args.quick else [])]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        print(f"{module}: exit {proc.returncode} in {seconds:.0f} s", file=sys.stderr)
        parts += [f"## {title}", "", f"`python -m {module}` ({seconds:.0f} s)", ""]
        if proc.returncode == 0:
            parts += [proc.stdout.strip(), ""]
        else:
            failed += 1
            err = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            parts += [f"**failed** (exit {proc.returncode}): `{err}`", ""]
    timing.RESULTS.mkdir(parents=True, exist_ok=True)
    summary = timing.RESULTS / "summary.md"
    tmp = summary.with_suffix(".md.tmp")
    tmp.write_text("\n".join(parts))
    Path(tmp).replace(summary)
    print("\n".join(parts))
    print(f"-> {summary}", file=sys.stderr)
    if not args.quick:  # docs/performance.md quotes the measured results only
        from bench import docs

        print(f"-> {docs.write()}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
