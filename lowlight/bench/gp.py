"""Benchmark rows: our exact SE-GP against gpytorch's ExactGP, posterior mean for every query.

Both sides get the same data (k training points in [0, 1]^d_in, a smooth target plus noise,
M float32 queries) and the same fixed hyperparameters (the data heuristic). Timed, each from a
fresh model so that the first call's cache building (Cholesky, ``K^-1 y``) is included:

- ours: :func:`se_gp_fit` (float64 Cholesky) + :func:`se_gp_predict` (float32 cross-kernel,
  chunked), i.e. the whole fit + predict;
- gpytorch (``gpytorch_s``): a float32 ``ExactGP`` in eval mode; its prediction strategy is
  built by a one-query call, then ``prediction_strategy.exact_predictive_mean`` gets the
  M x k test-train kernel: the path gpytorch's ``model(x).mean`` took up to 1.15.1;
- gpytorch public API (``gpytorch_api_s``): ``model(chunk).mean`` over query chunks. gpytorch
  1.15.2 builds the dense test-test kernel in ``ExactGP`` prediction even for the mean
  (cornellius-gp/gpytorch#2754, fix proposed in #2749), so all M queries at once would need
  M^2 floats (155 GB for M = 196608); chunks of ``gpytorch_api_chunk`` queries keep it at
  ``chunk^2``, at the cost of computing ``M * chunk`` useless kernel entries.

Precision is reported against our own float64 evaluation of the same posterior mean.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from lowlight.gp.exact import se_gp_fit, se_gp_posterior, se_gp_predict
from lowlight.gp.hyperparameters import SEHyperparameters, heuristic_hyperparameters


def gp_vs_gpytorch(
    ks: Sequence[int] = (10, 30, 200),
    d_in: int = 9,
    n_queries: int = 65536 * 3,
    seed: int = 0,
    repeats: int = 5,
    threads: int = 2,
    chunk_size: int | None = None,
    gpytorch_api_chunk: int | None = 4096,
) -> list[dict]:
    """Time fit + posterior mean (ours) against gpytorch ExactGP prediction, per k.

    Args:
        ks: numbers of training points (k-means centres).
        d_in: input dimension (9: a 3 x 3 patch).
        n_queries: M, queries per run (65536 * 3: a 256 x 256 image, three channels).
        seed: seed of the synthetic data.
        repeats: timed rounds (after one warm-up round); ours and gpytorch alternate within
            each round so that load changes on a shared machine hit both alike.
        threads: torch intra-op threads during the measurement (restored afterwards).
        chunk_size: our queries per chunk; ``None``: the library default.
        gpytorch_api_chunk: query chunk of the public-API gpytorch timing (one run, it takes
            seconds); ``None`` skips it.

    Returns:
        One dict per k: ``k, d_in, n_queries, threads``; ``ours_s``, ``gpytorch_s`` (medians)
        and ``ours_min_s``, ``gpytorch_min_s`` (minima) in seconds; ``gpytorch_api_s`` (NaN
        when skipped); ``speedup``, ``speedup_min``, ``speedup_api`` (gpytorch time / ours);
        ``max_abs_diff`` (our float32 mean vs gpytorch's), ``api_max_abs_diff`` (gpytorch's
        two paths); ``ours_err_f64``, ``gpytorch_err_f64`` (max abs error of each float32
        mean against our float64 mean); ``mean_abs_target`` (the scale of the values).
    """
    import gpytorch

    settings = (
        gpytorch.settings.fast_pred_var(True),
        gpytorch.settings.skip_posterior_variances(True),
        gpytorch.settings.max_cholesky_size(10**6),
    )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = []
        for k in ks:
            train_x, train_y, queries = _synthetic_data(k, d_in, n_queries, seed)
            hp = heuristic_hyperparameters(train_x.double(), train_y.double())

            def ours() -> Tensor:
                with torch.no_grad():
                    state = se_gp_fit(train_x, train_y, hp)
                    return se_gp_predict(state, queries, chunk_size=chunk_size)[0, :, 0]

            def gpytorch_strategy() -> Tensor:
                model = _gpytorch_model(gpytorch, train_x[0], train_y[0, :, 0], hp)
                with torch.no_grad(), settings[0], settings[1], settings[2]:
                    model(queries[0, :1])  # builds model.prediction_strategy and its caches
                    test_train = model.covar_module(queries[0], train_x[0])  # lazy (M, k)
                    test_mean = model.mean_module(queries[0])  # (M,)
                    return model.prediction_strategy.exact_predictive_mean(test_mean, test_train)

            def gpytorch_api() -> Tensor:
                model = _gpytorch_model(gpytorch, train_x[0], train_y[0, :, 0], hp)
                with torch.no_grad(), settings[0], settings[1], settings[2]:
                    chunks = queries[0].split(gpytorch_api_chunk)
                    return torch.cat([model(chunk).mean for chunk in chunks])

            times, results = _interleaved_times({"ours": ours, "gpytorch": gpytorch_strategy}, repeats)
            our_mean, gpytorch_mean = results["ours"], results["gpytorch"]
            gpytorch_api_s, api_diff = math.nan, math.nan
            if gpytorch_api_chunk is not None:
                # one run: at seconds per call, the warm-up and the noise are negligible
                start = time.perf_counter()
                api_mean = gpytorch_api()
                gpytorch_api_s = time.perf_counter() - start
                api_diff = (api_mean - gpytorch_mean).abs().max().item()
            with torch.no_grad():
                as_f64 = (train_x.double(), train_y.double(), queries.double())
                reference = se_gp_posterior(*as_f64, hp)[0, :, 0]
            ours_s, gpytorch_s = statistics.median(times["ours"]), statistics.median(times["gpytorch"])
            rows.append(
                {
                    "k": k,
                    "d_in": d_in,
                    "n_queries": n_queries,
                    "threads": threads,
                    "ours_s": ours_s,
                    "gpytorch_s": gpytorch_s,
                    "gpytorch_api_s": gpytorch_api_s,
                    "speedup": gpytorch_s / ours_s,
                    "ours_min_s": min(times["ours"]),
                    "gpytorch_min_s": min(times["gpytorch"]),
                    "speedup_min": min(times["gpytorch"]) / min(times["ours"]),
                    "speedup_api": gpytorch_api_s / ours_s,
                    "max_abs_diff": (our_mean - gpytorch_mean).abs().max().item(),
                    "api_max_abs_diff": api_diff,
                    "ours_err_f64": (our_mean.double() - reference).abs().max().item(),
                    "gpytorch_err_f64": (gpytorch_mean.double() - reference).abs().max().item(),
                    "mean_abs_target": train_y.abs().mean().item(),
                }
            )
        return rows
    finally:
        torch.set_num_threads(previous_threads)


def format_markdown(rows: Sequence[dict]) -> str:
    """The rows of :func:`gp_vs_gpytorch` as a markdown table (times in ms, medians; min in brackets)."""
    header = (
        "| k | queries | threads | ours (ms) | gpytorch (ms) | speedup | "
        "gpytorch API, chunked (ms) | speedup | "
        "max abs diff | ours err vs f64 | gpytorch err vs f64 |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r['k']} | {r['n_queries']} | {r['threads']} "
        f"| {1e3 * r['ours_s']:.1f} ({1e3 * r['ours_min_s']:.1f}) "
        f"| {1e3 * r['gpytorch_s']:.1f} ({1e3 * r['gpytorch_min_s']:.1f}) "
        f"| {r['speedup']:.2f}x ({r['speedup_min']:.2f}x) | "
        f"{1e3 * r['gpytorch_api_s']:.0f} | {r['speedup_api']:.0f}x | "
        f"{r['max_abs_diff']:.1e} | {r['ours_err_f64']:.1e} | {r['gpytorch_err_f64']:.1e} |"
        for r in rows
    ]
    return header + "\n".join(lines) + "\n"


def _synthetic_data(k: int, d_in: int, n_queries: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """Float32 data: (1, k, d_in) inputs in [0, 1], (1, k, 1) targets, (1, M, d_in) queries."""
    generator = torch.Generator().manual_seed(seed)
    train_x = torch.rand(1, k, d_in, generator=generator)
    # a brightening curve of the patch mean plus texture and noise, roughly what a reference gives
    train_y = train_x.mean(-1, keepdim=True).sqrt() + 0.1 * torch.sin(6.0 * train_x[..., :1])
    train_y = train_y + 0.01 * torch.randn(1, k, 1, generator=generator)
    queries = torch.rand(1, n_queries, d_in, generator=generator)
    return train_x, train_y, queries


def _gpytorch_model(gpytorch, train_x: Tensor, train_y: Tensor, hp: SEHyperparameters):
    """A float32 gpytorch ExactGP in eval mode with our (fixed) hyperparameters."""

    class Model(gpytorch.models.ExactGP):
        def __init__(self, likelihood) -> None:
            super().__init__(train_x, train_y, likelihood)
            self.mean_module = gpytorch.means.ConstantMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    # the default noise floor 1e-4 is above the heuristic's noise for these targets
    noise_constraint = gpytorch.constraints.GreaterThan(1e-8)
    likelihood = gpytorch.likelihoods.GaussianLikelihood(noise_constraint=noise_constraint)
    model = Model(likelihood)
    model.covar_module.base_kernel.lengthscale = float(hp.lengthscale[0, 0])
    model.covar_module.outputscale = float(hp.signal_variance[0])
    likelihood.noise = float(hp.noise_variance[0])
    model.mean_module.constant = float(hp.mean[0, 0])
    model.eval()
    likelihood.eval()
    return model


def _interleaved_times(
    functions: dict[str, Callable[[], Tensor]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, Tensor]]:
    """Wall times of each function over ``repeats`` rounds, after one warm-up round.

    The functions alternate within each round, so that a change of load on a shared machine
    hits all of them alike and the ratios stay meaningful.

    Returns:
        ``(times, results)``: seconds per run and the last result, by name.
    """
    results = {name: function() for name, function in functions.items()}
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            results[name] = function()
            times[name].append(time.perf_counter() - start)
    return times, results
