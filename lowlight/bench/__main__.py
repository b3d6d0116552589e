"""``uv run python -m lowlight.bench``: the speed and memory tables of the README.

Sections: k-means vs scikit-learn, GP prediction vs gpytorch, end-to-end time per 256 x 256
image next to the paper's, large images (1920 x 1080, 3840 x 2160) with peak memory.
``--quick`` runs smaller versions of every section (for a smoke test).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform

import torch

from lowlight.bench import gp as gp_bench
from lowlight.bench import kmeans as kmeans_bench
from lowlight.bench import pipeline as pipeline_bench


def main(argv: list[str] | None = None) -> None:
    """``python -m lowlight.bench`` / ``lowlight-bench``: print the benchmark tables as markdown."""
    parser = argparse.ArgumentParser(prog="python -m lowlight.bench", description=__doc__)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--sections", default="kmeans,gp,pipeline,large",
                        help="comma-separated subset of kmeans,gp,pipeline,large")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sections = set(args.sections.split(","))
    print(f"# lowlight benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}\n")
    if "kmeans" in sections:
        kw = {"n": 4096, "ks": (10, 30), "repeats": 1} if args.quick else {}
        print("## k-means vs scikit-learn KMeans(init='k-means++', n_init=1)\n")
        if importlib.util.find_spec("sklearn") is None:  # a dev dependency, absent from a wheel install
            print("skipped: scikit-learn is not installed (uv sync installs it with the dev group)\n")
        else:
            print(kmeans_bench.format_markdown(kmeans_bench.kmeans_vs_sklearn(**kw)) + "\n")
    if "gp" in sections:
        kw = {"ks": (10, 30), "n_queries": 8192, "repeats": 1} if args.quick else {}
        print("## GP prediction vs gpytorch ExactGP (same data, fixed hyperparameters)\n")
        print(gp_bench.format_markdown(gp_bench.gp_vs_gpytorch(threads=args.threads, **kw)) + "\n")
    if "pipeline" in sections:
        kw = {"ks": (10, 30), "calls": 3} if args.quick else {}
        print("## End to end (reference CNN + k-means++ + GP), 256 x 256, batch of one\n")
        print(pipeline_bench.format_end_to_end(pipeline_bench.end_to_end_rows(**kw)) + "\n")
    if "large" in sections:
        sizes = [(270, 480)] if args.quick else [(256, 256), (1080, 1920), (2160, 3840)]
        print("## Large images (CM, k = 30): time and peak memory\n")
        rows = [pipeline_bench.large_image_row(h, w, calls=1 if args.quick or h > 1000 else 3) for h, w in sizes]
        print(pipeline_bench.format_large(rows) + "\n")


if __name__ == "__main__":
    main()
