"""Benchmark rows: our exact SE-GP against gpytorch's ExactGP, posterior mean for every query.

Both sides get the same data (k training points in [0, 1]^d_in, a smooth target plus noise,
M float32 queries) and the same fixed hyperparameters (the data heuristic). Building gpytorch's
model object (modules, hyperparameters set, eval mode) is done before the timer starts, a fresh
model for every timed call; the timed call includes, on both sides, the conditioning on the
training data (Cholesky, ``K^-1 y``) and the posterior mean of all M queries:

- ours: :func:`se_gp_condition` (float64 Cholesky) + :func:`se_gp_predict` (float32 cross-kernel,
  chunked);
- gpytorch (``gpytorch_s``): a float32 ``ExactGP`` in eval mode; a one-query call builds its
  prediction strategy and caches, then ``prediction_strategy.exact_predictive_mean`` gets the
  M x k test-train kernel: the path gpytorch's ``model(x).mean`` took up to 1.15.1;
- gpytorch public API (``gpytorch_api_s``): ``model(chunk).mean`` over query chunks. gpytorch
  1.15.2 builds the dense test-test kernel in ``ExactGP`` prediction even for the mean
  (cornellius-gp/gpytorch#2754, fix proposed in #2749), so a chunk of c queries costs c^2 kernel
  entries: all M = 196608 queries at once would need 155 GB. Its best configuration is chosen
  per k: every chunk size of :data:`API_CHUNKS` below M (and all M at once when the M x M
  float32 kernel fits in :data:`API_ALL_MAX_BYTES`) is timed on the first
  ``selection_queries`` queries, and the fastest (median) is then timed on all M.

Each side gets a warm-up call, then medians of ``repeats`` timed calls (ours and gpytorch's
strategy path alternate within each round). Precision is reported against our own float64
evaluation of the same posterior mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from lowlight.bench.table import markdown_table
from lowlight.bench.timing import fastest, interleaved_times
from lowlight.gp.exact import se_gp_condition, se_gp_posterior, se_gp_predict
from lowlight.gp.hyperparameters import SEHyperparameters, heuristic_hyperparameters

#: query-chunk sizes tried for gpytorch's public ``model(chunk).mean``
API_CHUNKS = (256, 512, 1024, 2048, 4096)

#: largest M x M float32 test-test kernel for which "all queries at once" is tried (1 GiB)
API_ALL_MAX_BYTES = 1 << 30


@dataclass(frozen=True)
class GPBenchOptions:
    """What :func:`gp_vs_gpytorch` measures.

    Attributes:
        ks: numbers of training points (k-means centres).
        d_in: input dimension (9: a 3 x 3 patch).
        n_queries: M, queries per call (65536 * 3: a 256 x 256 image, three channels).
        seed: seed of the synthetic data.
        repeats: timed calls per side (after one warm-up call), >= 1.
        threads: torch intra-op threads during the measurement (restored afterwards).
        chunk_size: our queries per chunk; ``None``: the library default.
        api_chunks: chunk sizes tried for gpytorch's public API; empty skips that column.
        selection_queries: queries of the chunk-size selection runs.
        selection_repeats: timed calls per chunk size in the selection.
        api_repeats: timed calls of the chosen chunk size on all M queries.
    """

    ks: tuple[int, ...] = (10, 30, 200)
    d_in: int = 9
    n_queries: int = 65536 * 3
    seed: int = 0
    repeats: int = 7
    threads: int = 2
    chunk_size: int | None = None
    api_chunks: tuple[int, ...] = API_CHUNKS
    selection_queries: int = 16384
    selection_repeats: int = 3
    api_repeats: int = 3


def api_chunk_candidates(n_queries: int, chunks: Sequence[int] = API_CHUNKS,
                         max_bytes: int = API_ALL_MAX_BYTES) -> list[int]:
    """The chunk sizes worth trying for M queries: those below M, then M (all at once) when its
    M x M float32 test-test kernel takes at most ``max_bytes``."""
    candidates = sorted(c for c in set(chunks) if c < n_queries)
    if 4 * n_queries**2 <= max_bytes:
        candidates.append(n_queries)
    return candidates


def gp_vs_gpytorch(options: GPBenchOptions = GPBenchOptions()) -> list[dict]:
    """Time fit + posterior mean (ours) against gpytorch ExactGP prediction, per k.

    Returns:
        One dict per k: ``k, d_in, n_queries, threads``; medians in seconds ``ours_s``,
        ``gpytorch_s``, ``gpytorch_api_s`` (NaN when skipped) and the minima ``ours_min_s``,
        ``gpytorch_min_s``; ``speedup``, ``speedup_api`` (gpytorch time / ours);
        ``api_chunk`` (the chosen chunk, ``n_queries`` meaning all at once; 0 when skipped) and
        ``api_selection`` (chunk -> median seconds on the selection queries);
        ``max_abs_diff`` (our float32 mean vs gpytorch's), ``api_max_abs_diff`` (gpytorch's two
        paths); ``ours_err_f64``, ``gpytorch_err_f64`` (max abs error of each float32 mean
        against our float64 mean).
    """
    import gpytorch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(options.threads)
    try:
        return [_row(gpytorch, k, options) for k in options.ks]
    finally:
        torch.set_num_threads(previous_threads)


def _row(gpytorch, k: int, options: GPBenchOptions) -> dict:
    """One k of :func:`gp_vs_gpytorch`."""
    train_x, train_y, queries = _synthetic_data(k, options.d_in, options.n_queries, options.seed)
    hp = heuristic_hyperparameters(train_x.double(), train_y.double())

    def ours(_: int) -> Callable[[], Tensor]:
        def run() -> Tensor:
            with torch.no_grad():
                state = se_gp_condition(train_x, train_y, hp)
                return se_gp_predict(state, queries, chunk_size=options.chunk_size)[0, :, 0]
        return run

    def new_model():
        return _gpytorch_model(gpytorch, train_x[0], train_y[0, :, 0], hp)

    def strategy(_: int) -> Callable[[], Tensor]:
        model = new_model()

        def run() -> Tensor:
            with torch.no_grad(), _settings(gpytorch):
                model(queries[0, :1])  # builds model.prediction_strategy and its caches
                test_train = model.covar_module(queries[0], train_x[0])  # lazy (M, k)
                test_mean = model.mean_module(queries[0])  # (M,)
                return model.prediction_strategy.exact_predictive_mean(test_mean, test_train)
        return run

    def api(chunk: int, x: Tensor) -> Callable[[int], Callable[[], Tensor]]:
        def prepare(_: int) -> Callable[[], Tensor]:
            model = new_model()

            def run() -> Tensor:
                with torch.no_grad(), _settings(gpytorch):
                    return torch.cat([model(part).mean for part in x.split(chunk)])
            return run
        return prepare

    timings = interleaved_times({"ours": ours, "gpytorch": strategy}, options.repeats)
    our_mean, gpytorch_mean = timings.last("ours"), timings.last("gpytorch")
    api_s, api_diff, best, selection = float("nan"), float("nan"), 0, {}
    candidates = api_chunk_candidates(options.n_queries, options.api_chunks)
    if candidates:
        subset = queries[0, : options.selection_queries]
        trial = interleaved_times({c: api(c, subset) for c in candidates}, options.selection_repeats)
        selection = {c: trial.median(c) for c in candidates}
        best = fastest(trial.seconds)
        final = interleaved_times({"api": api(best, queries[0])}, options.api_repeats)
        api_s = final.median("api")
        api_diff = (final.last("api") - gpytorch_mean).abs().max().item()
    with torch.no_grad():
        reference = se_gp_posterior(train_x.double(), train_y.double(), queries.double(), hp)[0, :, 0]
    ours_s, gpytorch_s = timings.median("ours"), timings.median("gpytorch")
    return {
        "k": k, "d_in": options.d_in, "n_queries": options.n_queries, "threads": options.threads,
        "ours_s": ours_s, "gpytorch_s": gpytorch_s, "gpytorch_api_s": api_s,
        "ours_min_s": min(timings.seconds["ours"]), "gpytorch_min_s": min(timings.seconds["gpytorch"]),
        "speedup": gpytorch_s / ours_s, "speedup_api": api_s / ours_s,
        "api_chunk": best, "api_selection": selection,
        "max_abs_diff": (our_mean - gpytorch_mean).abs().max().item(),
        "api_max_abs_diff": api_diff,
        "ours_err_f64": (our_mean.double() - reference).abs().max().item(),
        "gpytorch_err_f64": (gpytorch_mean.double() - reference).abs().max().item(),
    }


def chunk_label(chunk: int, n_queries: int) -> str:
    """How a gpytorch API chunk size reads in the tables: ``"all"`` for all queries at once."""
    return "all" if chunk >= n_queries else str(chunk)


def format_markdown(rows: Sequence[dict]) -> str:
    """The rows of :func:`gp_vs_gpytorch` as a markdown table (ms; medians, minima in brackets)."""
    header = ["k", "queries", "threads", "ours (ms)", "gpytorch (ms)", "speedup",
              "gpytorch API (ms)", "API chunk", "speedup vs API",
              "max abs diff", "ours err vs f64", "gpytorch err vs f64"]
    lines = [
        [str(r["k"]), str(r["n_queries"]), str(r["threads"]),
         f"{1e3 * r['ours_s']:.1f} ({1e3 * r['ours_min_s']:.1f})",
         f"{1e3 * r['gpytorch_s']:.1f} ({1e3 * r['gpytorch_min_s']:.1f})",
         f"{r['speedup']:.2f}x",
         "-" if r["api_chunk"] == 0 else f"{1e3 * r['gpytorch_api_s']:.0f}",
         "-" if r["api_chunk"] == 0 else chunk_label(r["api_chunk"], r["n_queries"]),
         "-" if r["api_chunk"] == 0 else f"{r['speedup_api']:.0f}x",
         f"{r['max_abs_diff']:.1e}", f"{r['ours_err_f64']:.1e}", f"{r['gpytorch_err_f64']:.1e}"]
        for r in rows
    ]
    return markdown_table(header, lines)


def format_selection(rows: Sequence[dict], selection_queries: int) -> str:
    """The chunk-size selection of gpytorch's public API: ms per 1000 queries, by k and chunk."""
    chunks = sorted({c for r in rows for c in r["api_selection"]})
    if not chunks:
        return "(gpytorch public API not timed)"
    n = rows[0]["n_queries"]
    header = ["k", *(f"chunk {chunk_label(c, n)}" for c in chunks), "fastest"]
    lines = []
    for r in rows:
        measured = min(selection_queries, r["n_queries"])
        cells = [f"{1e6 * r['api_selection'][c] / measured:.1f}" if c in r["api_selection"] else "-"
                 for c in chunks]
        lines.append([str(r["k"]), *cells, chunk_label(r["api_chunk"], r["n_queries"])])
    return markdown_table(header, lines)


@contextmanager
def _settings(gpytorch) -> Iterator[None]:
    """gpytorch's fastest settings for a posterior mean: no variances, Cholesky always."""
    with (gpytorch.settings.fast_pred_var(True), gpytorch.settings.skip_posterior_variances(True),
          gpytorch.settings.max_cholesky_size(10**6)):
        yield


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
