"""Torch-native batched k-means++ (scikit-learn's seeding and stopping rule)."""

from lowlight.cluster.kmeans import KMeansResult, assign, cluster_means, kmeans, kmeans_plusplus

__all__ = ["KMeansResult", "assign", "cluster_means", "kmeans", "kmeans_plusplus"]
