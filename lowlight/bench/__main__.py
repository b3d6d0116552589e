"""``uv run python -m lowlight.bench``: the speed and memory tables of the README.

Sections: ``kmeans`` (ours vs scikit-learn, on all points and in the pipeline's setting), ``gp``
(GP prediction vs gpytorch), ``pipeline`` (end-to-end time per 256 x 256 image next to the
paper's), ``sweep`` (256 x 256 to 24 MP: seconds, ms per megapixel and peak memory for the
full-resolution and the working-resolution paths), ``gpu`` (batched frames per second on a CUDA
device; skipped without one). Every timed side gets a warm-up call; times are medians.
``--quick`` runs small versions of every section (a smoke test).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
from dataclasses import replace

import torch

from lowlight.bench import gp as gp_bench
from lowlight.bench import gpu as gpu_bench
from lowlight.bench import kmeans as kmeans_bench
from lowlight.bench import pipeline as pipeline_bench
from lowlight.bench import sweep as sweep_bench
from lowlight.bench.timing import interleaved_times

SECTIONS = ("kmeans", "gp", "pipeline", "sweep", "gpu")


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``"256x256,1920x1080"`` (width x height) -> ((256, 256), (1080, 1920)) as (height, width)."""
    sizes = []
    for item in text.split(","):
        width, _, height = item.strip().lower().partition("x")
        sizes.append((int(height), int(width)))
    return tuple(sizes)


def main(argv: list[str] | None = None) -> None:
    """``python -m lowlight.bench`` / ``lowlight-bench``: print the benchmark tables as markdown."""
    parser = argparse.ArgumentParser(prog="python -m lowlight.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--sizes", type=_sizes, default=None,
                        help="sizes of the sweep and gpu sections as WIDTHxHEIGHT,... (default: 256x256 to 6000x4000; gpu: 1920x1080,3840x2160)")
    parser.add_argument("--calls", type=int, default=sweep_bench.SweepOptions.calls,
                        help="sweep: timed calls per size and path (after one warm-up call)")
    parser.add_argument("--max-full-pixels", type=int, default=sweep_bench.SweepOptions.max_full_pixels,
                        help="sweep: skip the full-resolution path above this many pixels (0: never)")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        _run(args, sections)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args: argparse.Namespace, sections: list[str]) -> None:
    """Print the header and the chosen sections."""
    print(f"# lowlight benchmark: torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at the start\n")
    threads = torch.get_num_threads()
    speed = (f"Machine speed now: a 1024 x 1024 float32 matrix product takes {1e3 * _matmul_seconds():.1f} ms; "
             f"a small op (adding 1 to 200,000 floats) {1e6 * _small_op_seconds(1):.0f} us with 1 thread")
    if threads > 1:
        speed += (f", {1e6 * _small_op_seconds(threads):.0f} us with {threads} (on a loaded machine each "
                  f"multi-threaded op waits for a busy core, and this figure grows)")
    print(speed + " (medians)\n")
    if "kmeans" in sections:
        _kmeans(args.quick, args.threads)
    if "gp" in sections:
        _gp(args.quick, args.threads)
    if "pipeline" in sections:
        print("## End to end (reference CNN + k-means++ + GP), 256 x 256, batch of one\n")
        kw = {"ks": (10,), "calls": 2} if args.quick else {}
        print(pipeline_bench.format_end_to_end(pipeline_bench.end_to_end_rows(**kw)) + "\n")
    if "sweep" in sections:
        options = sweep_bench.SweepOptions(threads=args.threads, max_full_pixels=args.max_full_pixels,
                                           calls=args.calls)
        if args.quick:
            options = replace(options, sizes=((32, 32), (48, 64)), calls=min(args.calls, 2))
        if args.sizes:
            options = replace(options, sizes=args.sizes)
        print(f"## Size sweep ({options.mode.upper()}, k = {options.k}): time and peak memory per path\n")
        print(sweep_bench.format_markdown(sweep_bench.size_sweep(options)) + "\n")
    if "gpu" in sections:
        _gpu(args.quick, args.sizes)


def _gpu(quick: bool, sizes: tuple[tuple[int, int], ...] | None) -> None:
    """The GPU section (CM, k = 30, batched frames; skipped without CUDA)."""
    print("## GPU throughput (CM, k = 30): batched frames per second\n")
    if not torch.cuda.is_available():
        print("skipped: needs a CUDA GPU\n")
        return
    options = gpu_bench.GPUBenchOptions()
    if quick:
        options = replace(options, sizes=((64, 96),), batches=(1, 2), calls=2)
    if sizes:
        options = replace(options, sizes=sizes)
    print(f"{torch.cuda.get_device_name()}; median of {options.calls} synchronised calls after a warm-up; "
          "the frames already on the GPU.\n")
    print(gpu_bench.format_markdown(gpu_bench.gpu_throughput(options)) + "\n")


def _matmul_seconds() -> float:
    """Median seconds of a 1024 x 1024 float32 matrix product: how fast this machine is now."""
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    return interleaved_times({"mm": lambda _: lambda: a @ b}, 20).median("mm")


def _small_op_seconds(threads: int) -> float:
    """Median seconds of a small element-wise op with ``threads`` torch threads (restored after)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.rand(200_000)
        return interleaved_times({"add": lambda _: lambda: x.add_(1.0)}, 50).median("add")
    finally:
        torch.set_num_threads(previous)


def _kmeans(quick: bool, threads: int) -> None:
    """The k-means section (skipped without scikit-learn, a dev dependency)."""
    print("## k-means vs scikit-learn KMeans(init='k-means++', n_init=1)\n")
    if importlib.util.find_spec("sklearn") is None:  # absent from a wheel install
        print("skipped: scikit-learn is not installed (uv sync installs it with the dev group)\n")
        return
    options = kmeans_bench.KMeansBenchOptions(threads=threads)
    if quick:
        options = replace(options, n=4096, dims=(18,), ks=(10,), repeats=1, pipeline_points=1024)
    print(f"Medians of {options.repeats} runs after a warm-up run of each side; scikit-learn in "
          f"its faster algorithm; tol {options.tol:g}.\n")
    print(kmeans_bench.format_markdown(kmeans_bench.kmeans_vs_sklearn(options)) + "\n")


def _gp(quick: bool, threads: int) -> None:
    """The GP section."""
    print("## GP prediction vs gpytorch ExactGP (same data, fixed hyperparameters)\n")
    options = gp_bench.GPBenchOptions(threads=threads)
    if quick:
        options = replace(options, ks=(10,), n_queries=1024, repeats=1, selection_queries=1024,
                          selection_repeats=1, api_repeats=1)
    print(f"Fit + posterior mean of {options.n_queries} queries; model objects built before the "
          f"timer; medians of {options.repeats} calls after a warm-up (minima in brackets); "
          f"gpytorch's public API in its fastest chunk size (selection below, on "
          f"{min(options.selection_queries, options.n_queries)} queries).\n")
    rows = gp_bench.gp_vs_gpytorch(options)
    print(gp_bench.format_markdown(rows) + "\n")
    print("gpytorch public API, chunk-size selection (ms per 1000 queries, median of "
          f"{options.selection_repeats}):\n")
    print(gp_bench.format_selection(rows, options.selection_queries) + "\n")


if __name__ == "__main__":
    main()
