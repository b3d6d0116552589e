from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lowlight.evaluation.images import load_ground_truth
from lowlight.metrics.sift import (
    SiftFeatures,
    count_correct_matches,
    image_features,
    sift_score,
    to_gray_uint8,
)


def _features(points: list[tuple[float, float]], descriptors: np.ndarray) -> SiftFeatures:
    return SiftFeatures(np.array(points, np.float32).reshape(-1, 2), descriptors.astype(np.float32))


def _unit(index: int, scale: float = 100.0) -> np.ndarray:
    vector = np.zeros(128, np.float32)
    vector[index] = scale
    return vector


def test_hand_made_matches() -> None:
    truth = _features([(10, 10), (30, 30), (50, 50)], np.stack([_unit(0), _unit(1), _unit(2)]))
    enhanced = _features(
        [(10, 10), (31.5, 32), (55, 50)],  # exact, 2.5 px away, 5 px away
        np.stack([_unit(0), _unit(1) + _unit(5, 1.0), _unit(2) + _unit(6, 1.0)]),
    )
    assert count_correct_matches(enhanced, truth) == 2
    assert count_correct_matches(enhanced, truth, radius=6.0) == 3
    assert count_correct_matches(enhanced, truth, radius=2.0) == 1


def test_ratio_test_rejects_ambiguous_match() -> None:
    truth = _features([(0, 0), (40, 40)], np.stack([_unit(0), _unit(1)]))
    ambiguous = _features([(0, 0)], (_unit(0) + _unit(1))[None])  # equidistant to both
    assert count_correct_matches(ambiguous, truth) == 0
    # d1 / d2 just under 0.8 passes, just over fails.
    closer = _features([(0, 0)], (_unit(0, 100) + _unit(1, 20))[None])
    d1, d2 = np.hypot(0, 20), np.hypot(100, 80)
    assert d1 < 0.8 * d2
    assert count_correct_matches(closer, truth) == 1
    assert count_correct_matches(closer, truth, ratio=0.95 * d1 / d2) == 0


def test_truth_keypoint_counts_once() -> None:
    truth = _features([(5, 5), (60, 60)], np.stack([_unit(0), _unit(1)]))
    enhanced = _features(
        [(5, 5), (6, 6), (7, 5)],
        np.stack([_unit(0), _unit(0) + _unit(3, 2.0), _unit(0) + _unit(4, 3.0)]),
    )
    assert count_correct_matches(enhanced, truth) == 1
    score = sift_score(enhanced, truth)
    assert score.precision == pytest.approx(1 / 3) and score.recall == pytest.approx(1 / 2)
    assert score.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_single_truth_keypoint_has_no_ratio_test() -> None:
    truth = _features([(3, 3)], _unit(0)[None])
    enhanced = _features([(4, 4)], (_unit(0) + _unit(1, 60))[None])
    assert count_correct_matches(enhanced, truth) == 1


def test_empty_pairs_score_zero() -> None:
    empty = _features([], np.zeros((0, 128)))
    some = _features([(1, 1)], _unit(0)[None])
    for e, g in ((empty, some), (some, empty), (empty, empty)):
        score = sift_score(e, g)
        assert (score.precision, score.recall, score.f1) == (0.0, 0.0, 0.0)


def _brute_force_count(e: SiftFeatures, g: SiftFeatures, ratio: float, radius: float) -> int:
    distances = np.linalg.norm(
        e.descriptors[:, None].astype(np.float64) - g.descriptors[None].astype(np.float64), axis=2
    )  # (N, M)
    order = np.argsort(distances, axis=1)
    claimed = set()
    for i in range(len(e)):
        first, second = order[i, 0], order[i, 1]
        if distances[i, first] < ratio * distances[i, second]:
            if np.hypot(*(e.points[i].astype(np.float64) - g.points[first])) <= radius:
                claimed.add(int(first))
    return len(claimed)


def test_matches_agree_with_brute_force_reference() -> None:
    rng = np.random.default_rng(3)
    g_desc = rng.uniform(0, 100, (40, 128))
    g_points = rng.uniform(0, 30, (40, 2))
    # E: noisy copies of some G features (some moved), plus distractors.
    picks = rng.choice(40, 30)
    e_desc = np.concatenate(
        [g_desc[picks] + rng.normal(0, 15, (30, 128)), rng.uniform(0, 100, (10, 128))]
    )
    e_points = np.concatenate(
        [g_points[picks] + rng.normal(0, 2.5, (30, 2)), rng.uniform(0, 30, (10, 2))]
    )
    e = _features(list(map(tuple, e_points)), e_desc)
    g = _features(list(map(tuple, g_points)), g_desc)
    expected = _brute_force_count(e, g, 0.8, 3.0)
    assert 5 < expected < 30  # the case exercises both outcomes
    assert count_correct_matches(e, g) == expected


def test_gray_is_rounded_bt601_luma() -> None:
    image = torch.tensor([[[1.0, 0.0]], [[0.0, 0.5]], [[0.0, 1.0]]])  # (3, 1, 2)
    expected = np.array([[round(0.299 * 255), round((0.587 * 0.5 + 0.114) * 255)]], np.uint8)
    np.testing.assert_array_equal(to_gray_uint8(image), expected)
    np.testing.assert_array_equal(to_gray_uint8(image[None]), expected)
    with pytest.raises(ValueError, match=r"expected \(3, H, W\), got \(1, 2\)"):
        to_gray_uint8(torch.zeros(1, 2))


def test_identical_images_score_one(photo_folder: Path) -> None:
    gt = load_ground_truth(sorted(photo_folder.iterdir())[0])
    features = image_features(gt)
    assert len(features) > 10
    score = sift_score(features, image_features(gt.clone()))
    assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)


def test_flat_image_has_no_keypoint() -> None:
    flat = torch.full((1, 3, 64, 64), 0.5)
    assert len(image_features(flat)) == 0
