from __future__ import annotations

import pytest
import torch

from lowlight.archs import GPECNN
from lowlight.ops.tiling import run_tiled


def test_tiled_local_network_equals_whole_image() -> None:
    torch.manual_seed(0)
    net = GPECNN().eval()
    x = torch.rand(1, 1, 70, 53)
    with torch.no_grad():
        whole = net(x)
        tiled = run_tiled(net, x, tile=24, halo=GPECNN.border)
    # Seams are exact; only pixels whose padding differs (the tile's own border) could differ,
    # and the halo covers the whole receptive field, so everything matches.
    torch.testing.assert_close(tiled, whole, atol=1e-6, rtol=0)


def test_small_images_run_in_one_call() -> None:
    calls = []
    run_tiled(lambda t: calls.append(t.shape) or t, torch.rand(1, 1, 8, 8), tile=16, halo=2)
    assert calls == [torch.Size([1, 1, 8, 8])]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="tile=0"):
        run_tiled(lambda t: t, torch.rand(1, 1, 4, 4), tile=0, halo=1)
