"""Exact squared-exponential GP regression: kernels, fit, predict, hyperparameters."""

from lowlight.gp.exact import ExactGPState, negative_log_marginal_likelihood, se_gp_fit, se_gp_posterior, se_gp_predict
from lowlight.gp.fit import FitOptions, fit_hyperparameters
from lowlight.gp.hyperparameters import HeuristicOptions, SEHyperparameters, heuristic_hyperparameters
from lowlight.gp.kernels import se_kernel
from lowlight.gp.learnable import LearnedHyperparameters, learned_se_hyperparameters

__all__ = [
    "ExactGPState", "FitOptions", "LearnedHyperparameters", "HeuristicOptions", "SEHyperparameters",
    "fit_hyperparameters", "heuristic_hyperparameters", "learned_se_hyperparameters",
    "negative_log_marginal_likelihood", "se_gp_fit", "se_gp_posterior",
    "se_gp_predict", "se_kernel",
]
