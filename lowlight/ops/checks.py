"""Small argument checks shared by the tensor functions, raising errors that name the bad value."""

from __future__ import annotations

from torch import Tensor


def check_image(x: Tensor, channels: int | tuple[int, ...] | None = None, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` is a floating (B, C, H, W) tensor with an allowed C.

    Args:
        x: the tensor to check.
        channels: allowed channel counts (an int, a tuple of ints) or ``None`` for any.
        name: the argument's name, used in the message.
    """
    if x.ndim != 4:
        want = "C" if channels is None else "|".join(map(str, _as_tuple(channels)))
        raise ValueError(f"{name}: expected (B, {want}, H, W), got {tuple(x.shape)}")
    if channels is not None and x.shape[1] not in _as_tuple(channels):
        want = "|".join(map(str, _as_tuple(channels)))
        raise ValueError(f"{name}: expected (B, {want}, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating tensor, got {x.dtype}")


def check_single_image(x: Tensor, channels: int | tuple[int, ...] | None = None, name: str = "image") -> None:
    """Raise ``ValueError`` unless ``x`` is one (C, H, W) image with an allowed C.

    Args:
        x: the tensor to check (any dtype: uint8 frames are single images too).
        channels: allowed channel counts (an int, a tuple of ints) or ``None`` for any.
        name: the argument's name, used in the message.
    """
    if x.ndim != 3 or (channels is not None and x.shape[0] not in _as_tuple(channels)):
        want = "C" if channels is None else "|".join(map(str, _as_tuple(channels)))
        raise ValueError(f"{name}: expected ({want}, H, W), got {tuple(x.shape)}")


def check_positive(value: float | int, name: str) -> None:
    """Raise ``ValueError`` unless ``value > 0``."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _as_tuple(channels: int | tuple[int, ...]) -> tuple[int, ...]:
    return (channels,) if isinstance(channels, int) else tuple(channels)
