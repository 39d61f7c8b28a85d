"""Benchmark: cube throughput beside plain numpy, scipy.fft and OpenRadar (issue 3 targets).

The same measurement as ``radarkit bench`` (:mod:`radarkit.pipelines.bench`, where the pipelines
are documented), runnable from a checkout. Targets on the 2-core development machine, as ratios in
one run: RD cube >= 2,000 frames/s on one thread, >= 7x OpenRadar and >= 60 % of the FFT bound;
VRDAEMap (HuPR mode) >= 500 frames/s on 2 cores; full 4-D cube >= 300 frames/s on 2 cores;
``--workers 2`` >= 1.7x one worker.

Usage: ``python benchmarks/bench_cubes.py [--frames 64] [--repeats 7] [--json out.json]``
(``pip install 'radarkit[bench,fftw]'`` for the OpenRadar and FFTW rows).
"""

from __future__ import annotations

import argparse
import sys

from radarkit.pipelines.bench import format_table, run_bench, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    results, machine = run_bench(args.frames, args.repeats, echo=lambda s: print(s, file=sys.stderr))
    print(format_table(results))
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['versions']}")
    if args.json:
        write_json(args.json, results, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
