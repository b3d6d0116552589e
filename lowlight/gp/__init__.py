"""Torch-native batched k-means++ and exact squared-exponential GP regression."""

from lowlight.gp.exact import ExactGPState, negative_log_marginal_likelihood, se_gp_fit, se_gp_posterior, se_gp_predict
from lowlight.gp.fit import FitOptions, fit_hyperparameters
from lowlight.gp.head import GPHead
from lowlight.gp.hyperparameters import HeuristicOptions, SEHyperparameters, heuristic_hyperparameters
from lowlight.gp.kernels import se_kernel
from lowlight.gp.kmeans import KMeansResult, assign, cluster_means, kmeans, kmeans_plusplus

__all__ = [
    "ExactGPState", "FitOptions", "GPHead", "HeuristicOptions", "KMeansResult", "SEHyperparameters",
    "assign", "cluster_means", "fit_hyperparameters", "heuristic_hyperparameters", "kmeans",
    "kmeans_plusplus", "negative_log_marginal_likelihood", "se_gp_fit", "se_gp_posterior",
    "se_gp_predict", "se_kernel",
]
