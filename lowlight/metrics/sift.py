"""SIFT feature retrieval ("features retrieval" in the paper), exactly as PROTOCOL.md defines it.

1. E and G to 8-bit grayscale by ITU-R 601 luma (``round(255 * (0.299 R + 0.587 G + 0.114 B))``).
2. Keypoints and descriptors by ``cv2.SIFT_create()`` at its defaults.
3. For each keypoint of E, its two nearest descriptors of G (L2, ``BFMatcher.knnMatch(k=2)``);
   kept when ``d1 < 0.8 * d2`` (Lowe's ratio test). When G has a single keypoint there is no
   second neighbour and the match is kept (``d2 = inf``).
4. A kept match is correct when the two keypoints lie within 3 pixels (``<= 3``; E and G are
   pixel-aligned). Each keypoint of G counts at most once: the number of correct matches is the
   number of distinct G keypoints that at least one correct match points to. (Visiting matches
   in any order, e.g. by ascending descriptor distance, and letting the first correct one claim
   its G keypoint gives the same count; incorrect matches claim nothing.)
5. ``P = correct / kp(E)``, ``R = correct / kp(G)``, ``F1 = 2PR / (P + R)`` (0 when P + R = 0);
   a pair where E or G has no keypoint scores P = R = F1 = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from torch import Tensor

from lowlight.ops.checks import check_image, check_single_image

LOWE_RATIO = 0.8
MATCH_RADIUS_PX = 3.0


@dataclass(frozen=True)
class SiftFeatures:
    """Keypoint positions and descriptors of one image.

    Attributes:
        points: (N, 2) float32, (x, y) in pixels.
        descriptors: (N, 128) float32.
    """

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True)
class SiftScore:
    """Feature retrieval of one (E, G) pair, each in [0, 1]."""

    precision: float
    recall: float
    f1: float


def to_gray_uint8(image: Tensor) -> np.ndarray:
    """ITU-R 601 luma quantised to 8 bits (round to nearest).

    Args:
        image: (3, H, W) or (1, 3, H, W) float in [0, 1].

    Returns:
        (H, W) uint8.
    """
    if image.ndim == 4:
        check_image(image, 3, "image")
        if image.shape[0] != 1:
            raise ValueError(f"image: expected one image, got {tuple(image.shape)}")
        image = image[0]
    check_single_image(image, 3)
    rgb = image.detach().cpu().double().clamp(0.0, 1.0).numpy()
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]  # (H, W)
    return np.clip(np.round(luma * 255.0), 0, 255).astype(np.uint8)


@lru_cache(maxsize=1)
def _sift() -> cv2.SIFT:
    return cv2.SIFT_create()


def detect_sift(gray: np.ndarray) -> SiftFeatures:
    """OpenCV SIFT at its defaults on an 8-bit grayscale image (H, W) uint8."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"gray: expected (H, W) uint8, got {gray.shape} {gray.dtype}")
    keypoints, descriptors = _sift().detectAndCompute(gray, None)
    points = np.array([kp.pt for kp in keypoints], dtype=np.float32).reshape(-1, 2)
    if descriptors is None:
        descriptors = np.zeros((0, 128), dtype=np.float32)
    return SiftFeatures(points, descriptors.astype(np.float32, copy=False))


def image_features(image: Tensor) -> SiftFeatures:
    """SIFT features of an RGB image (3, H, W) or (1, 3, H, W) float in [0, 1]."""
    return detect_sift(to_gray_uint8(image))


def count_correct_matches(
    enhanced: SiftFeatures,
    truth: SiftFeatures,
    ratio: float = LOWE_RATIO,
    radius: float = MATCH_RADIUS_PX,
) -> int:
    """Correct matches of E's keypoints against G's (the module docstring's steps 3-4).

    Args:
        enhanced: features of E.
        truth: features of G.
        ratio: Lowe's ratio.
        radius: the largest distance in pixels between matched keypoints that counts as correct.

    Returns:
        The number of correct matches, at most ``min(len(enhanced), len(truth))``.
    """
    if len(enhanced) == 0 or len(truth) == 0:
        return 0
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    knn = matcher.knnMatch(enhanced.descriptors, truth.descriptors, k=2)
    kept: list[tuple[int, int]] = []  # (E index, G index) passing the ratio test
    for neighbours in knn:
        if not neighbours:
            continue
        best = neighbours[0]
        second_distance = neighbours[1].distance if len(neighbours) > 1 else np.inf
        if best.distance < ratio * second_distance:
            kept.append((best.queryIdx, best.trainIdx))
    claimed: set[int] = set()
    for e_index, g_index in kept:
        offset = enhanced.points[e_index].astype(np.float64) - truth.points[g_index]
        if float(np.hypot(offset[0], offset[1])) <= radius:
            claimed.add(g_index)
    return len(claimed)


def sift_score(enhanced: SiftFeatures, truth: SiftFeatures) -> SiftScore:
    """Precision, recall and F1 of one pair (0 for all three when either has no keypoint)."""
    if len(enhanced) == 0 or len(truth) == 0:
        return SiftScore(0.0, 0.0, 0.0)
    correct = count_correct_matches(enhanced, truth)
    precision = correct / len(enhanced)
    recall = correct / len(truth)
    total = precision + recall
    f1 = 2.0 * precision * recall / total if total > 0 else 0.0
    return SiftScore(precision, recall, f1)
