"""Exact squared-exponential GP regression: kernels, conditioning, prediction, hyperparameters.

Words: *condition* (``se_gp_condition``) is the Cholesky of the k x k kernel on the training
points; *maximise the marginal likelihood* tunes the hyperparameters by Adam (the GPE baseline);
``lowlight.enhance``'s *fit* (``fit_clustered_gp``) is the whole per-image step, clustering and
conditioning; Lightning's ``fit`` is training.
"""

from lowlight.gp.exact import (
    ExactGPState,
    negative_log_marginal_likelihood,
    se_gp_condition,
    se_gp_posterior,
    se_gp_predict,
)
from lowlight.gp.hyperparameters import (
    HeuristicOptions,
    SEHyperparameters,
    heuristic_hyperparameters,
)
from lowlight.gp.kernels import se_kernel
from lowlight.gp.learnable import LearnedHyperparameters, learned_se_hyperparameters
from lowlight.gp.marginal_likelihood import (
    MarginalLikelihoodOptions,
    maximise_marginal_likelihood,
)

__all__ = [
    "ExactGPState",
    "HeuristicOptions",
    "LearnedHyperparameters",
    "MarginalLikelihoodOptions",
    "SEHyperparameters",
    "heuristic_hyperparameters",
    "learned_se_hyperparameters",
    "maximise_marginal_likelihood",
    "negative_log_marginal_likelihood",
    "se_gp_condition",
    "se_gp_posterior",
    "se_gp_predict",
    "se_kernel",
]
