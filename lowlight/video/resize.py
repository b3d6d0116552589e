"""A reduced working resolution for video: enhance a downscaled frame, upsample the result.

The whole enhancement (CNN, k-means, GP fit and the GP's per-pixel prediction) runs at the
working size, so the cost falls with the pixel count; the price is detail: the output is a
bilinear upsampling of the enhanced small frame (measured in the README's video table).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from lowlight.ops.checks import check_image
from lowlight.ops.resize import resize_image


def work_size(height: int, width: int, work_height: int) -> tuple[int, int]:
    """The working (height, width) for frames of ``height x width``: ``work_height`` rows, the
    aspect kept; the frame's own size when ``work_height`` is 0 or not smaller."""
    if work_height < 0:
        raise ValueError(f"work_height must be >= 0, got {work_height!r}")
    if work_height == 0 or work_height >= height:
        return height, width
    return work_height, max(1, round(width * work_height / height))


def enhance_at_work_size(enhance: Callable[[Tensor], Tensor], frames: Tensor, work_height: int) -> Tensor:
    """``enhance`` run on frames downscaled to ``work_height`` rows, its output upsampled back.

    Args:
        enhance: (B, 3, h, w) -> (B, 3, h, w) float in [0, 1] (e.g. a ``VideoEnhancer``).
        frames: (B, 3, H, W) float in [0, 1].
        work_height: rows of the working frames; 0 = full size (``enhance(frames)``).

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    check_image(frames, 3, "frames")
    height, width = frames.shape[-2:]
    size = work_size(height, width, work_height)
    if size == (height, width):
        return enhance(frames)
    small = resize_image(frames, size)
    return resize_image(enhance(small), (height, width))
