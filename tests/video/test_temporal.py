"""Temporal state: per-frame parity, scene cuts, warm starts, and the flicker measure."""

from __future__ import annotations

import pytest
import torch

from lowlight.archs import CurveNet
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.gp.hyperparameters import SEHyperparameters
from lowlight.gp.warm_start import WarmStart
from lowlight.enhance.clustered_gp import GPOptions, fit_clustered_gp
from lowlight.video.flicker import clip_flicker
from lowlight.video.scene_cut import histogram_distance, log_luma_histograms
from lowlight.video.temporal import TemporalOptions, VideoEnhancer, concatenate_fits
from tests.video.clips import dark_frames


@pytest.fixture(scope="module")
def enhancer() -> Enhancer:
    return Enhancer.from_checkpoint(EnhancerConfig(gp=GPOptions(k=8)))


def test_strength_zero_is_the_per_frame_enhancer(enhancer: Enhancer) -> None:
    frames = dark_frames(3)
    video = VideoEnhancer(enhancer, TemporalOptions(strength=0))
    with torch.inference_mode():
        expected = torch.cat([enhancer(f[None]).image for f in frames])
    torch.testing.assert_close(torch.cat([video(frames[:2]), video(frames[2:])]), expected)


def test_first_frame_is_per_frame_and_later_ones_differ(enhancer: Enhancer) -> None:
    frames = dark_frames(3)
    out = VideoEnhancer(enhancer)(frames)
    with torch.inference_mode():
        per_frame = enhancer(frames).image
    torch.testing.assert_close(out[0], per_frame[0], atol=1e-4, rtol=0)
    assert (out[1:] - per_frame[1:]).abs().max() > 1e-4
    assert out.shape == frames.shape and 0 <= float(out.min()) and float(out.max()) <= 1


def test_scene_cut_resets_the_state(enhancer: Enhancer) -> None:
    frames = dark_frames(8, cut_at=5)
    video = VideoEnhancer(enhancer)
    out = torch.cat([video(frames[:3]), video(frames[3:])])  # the cut falls inside the second batch
    assert video.cuts == [0, 5]
    with torch.inference_mode():
        torch.testing.assert_close(out[5], enhancer(frames[5:6]).image[0], atol=1e-4, rtol=0)


def test_histograms_and_distance() -> None:
    frames = dark_frames(3, cut_at=2)
    hist = log_luma_histograms(frames, bins=16)
    assert hist.shape == (3, 16)
    torch.testing.assert_close(hist.sum(dim=1), torch.ones(3))
    steady, cut = histogram_distance(hist[0], hist[1]), histogram_distance(hist[1], hist[2])
    assert 0 <= float(steady) < 0.3 < float(cut) <= 1
    with pytest.raises(ValueError, match="bins must be >= 2, got 1"):
        log_luma_histograms(frames, bins=1)


def test_temporal_options_name_bad_values() -> None:
    with pytest.raises(ValueError, match="temporal strength must be in \\[0, 1\\), got 1.5"):
        TemporalOptions(strength=1.5)
    with pytest.raises(ValueError, match="scene_cut must be in \\(0, 1\\], got 0"):
        TemporalOptions(scene_cut=0)


def test_curve_net_applies_a_given_coefficient_grid() -> None:
    torch.manual_seed(0)
    net = CurveNet().eval()
    x = torch.rand(2, 3, 20, 28)
    with torch.no_grad():
        grid = net.coefficient_grid(x)
        assert grid.shape == (2, 6, 8, 8)
        torch.testing.assert_close(net(x, coefficients=grid), net(x))
        assert (net(x, coefficients=grid + 0.5) - net(x)).abs().max() > 0.01


def test_warm_start_blends_in_log_space_and_seeds_kmeans() -> None:
    previous = SEHyperparameters.constant(1, 2, 1.0, 1.0, 0.01, mean=0.0)
    current = SEHyperparameters.constant(1, 2, 4.0, 1.0, 0.01, mean=1.0)
    warm = WarmStart(torch.zeros(1, 3, 4), previous, momentum=0.5)
    blended = warm.blend(current)
    torch.testing.assert_close(blended.lengthscale, torch.full((1, 1), 2.0))  # geometric mean
    torch.testing.assert_close(blended.mean, torch.full((1, 2), 0.5))
    assert warm.init_centres(1, 3, 4) is not None and warm.init_centres(1, 5, 4) is None
    with pytest.raises(ValueError, match="momentum must be in \\[0, 1\\), got 1"):
        WarmStart(torch.zeros(1, 3, 4), previous, momentum=1)

    low = dark_frames(2)[:1, :, :24, :24]
    ref = low.sqrt()
    options = GPOptions(k=6, cluster_points=256)
    cold = fit_clustered_gp(low, ref, options)
    again = fit_clustered_gp(low, ref, options, warm=WarmStart(cold.centres, cold.state.hyperparameters, 0.5, 1))
    torch.testing.assert_close(again.centres, cold.centres, atol=1e-5, rtol=0)  # converged: a fixed point


def test_concatenate_fits_predicts_like_a_batched_fit() -> None:
    low = dark_frames(2)[:, :, :16, :16]
    ref = low.sqrt()
    options = GPOptions(k=5, cluster_points=128)
    both = fit_clustered_gp(low, ref, options)
    joined = concatenate_fits([fit_clustered_gp(low[i : i + 1], ref[i : i + 1], options) for i in range(2)])
    torch.testing.assert_close(joined.state.alpha, both.state.alpha)
    torch.testing.assert_close(joined.centres, both.centres)


def test_flicker_of_steady_and_flickering_clips() -> None:
    ramp = torch.linspace(0.1, 0.5, 6).view(6, 1, 1, 1).expand(6, 3, 32, 32)
    steady = clip_flicker(ramp)
    assert steady.frames == 6 and steady.mean_luma < 1e-6 and steady.lowpass < 1e-6
    jumpy = torch.tensor([0.2, 0.3] * 3 + [0.2]).view(7, 1, 1, 1).expand(7, 3, 32, 32)
    flicker = clip_flicker(jumpy)
    assert flicker.mean_luma == pytest.approx(0.1, rel=1e-3)  # steps +0.1, -0.1 three times each: std 0.1
    assert flicker.lowpass == pytest.approx(0.1, rel=1e-3)
    with pytest.raises(ValueError, match="at least 2 frames, got 1"):
        clip_flicker(ramp[:1])
