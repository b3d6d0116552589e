"""GPE's reference CNN (Loh, Liang & Chan 2019), the luma model of the paper's LM pipeline."""

from __future__ import annotations

from torch import Tensor, nn

from lowlight.ops.patches import pad_for_patches
from lowlight.ops.checks import check_image


class GPECNN(nn.Module):
    """GPE's Y-channel CNN, layer for layer as read from its trained weights (NOTES.md).

    conv 9x9 1->64, ReLU; conv 1x1 64->32, ReLU; conv 5x5 32->16, sigmoid; conv 5x5 16->1,
    sigmoid. Every convolution is valid (stride 1, no padding), as in MatConvNet; the input is
    reflect-padded by 8 pixels per side first so that the output has the input's size.
    20,545 parameters.
    """

    #: total shrinkage of the valid convolutions per side: (9 - 1) / 2 + 0 + 2 + 2
    border = 8

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, kernel_size=9)
        self.conv2 = nn.Conv2d(64, 32, kernel_size=1)
        self.conv3 = nn.Conv2d(32, 16, kernel_size=5)
        self.conv4 = nn.Conv2d(16, 1, kernel_size=5)

    @property
    def in_channels(self) -> int:
        return 1

    def config(self) -> dict[str, float | int]:
        """The constructor arguments (none), stored beside the weights in a checkpoint."""
        return {}

    def forward(self, y: Tensor) -> Tensor:
        """Reference luma from low-light luma.

        Args:
            y: (B, 1, H, W) float in [0, 1], BT.601 luma of the low-light image.

        Returns:
            (B, 1, H, W) float in (0, 1).
        """
        check_image(y, 1, "y")
        side = 2 * self.border + 1  # a window of this side around every pixel: border on each side
        h = pad_for_patches(y, (side, side))  # (B, 1, H + 16, W + 16)
        h = self.conv1(h).relu()
        h = self.conv2(h).relu()
        h = self.conv3(h).sigmoid()
        return self.conv4(h).sigmoid()
