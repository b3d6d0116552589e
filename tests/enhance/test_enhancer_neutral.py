"""A grey input gives a grey output, and a grey output passes through bit for bit."""

from __future__ import annotations

import torch

from lowlight.enhance.enhancer import keep_neutral


def test_keep_neutral_greys_tinted_outputs_of_grey_inputs_only() -> None:
    generator = torch.Generator().manual_seed(0)
    grey = torch.rand(1, 1, 5, 6, generator=generator).expand(1, 3, 5, 6)
    colour = torch.rand(1, 3, 5, 6, generator=generator)
    tinted = colour.clone()
    out = keep_neutral(torch.cat([grey, colour]), torch.cat([tinted, tinted]))
    torch.testing.assert_close(out[0], tinted[0].mean(dim=0, keepdim=True).expand(3, -1, -1))
    assert torch.equal(out[1], tinted[0])  # a colour input keeps its output
    # A grey output of a grey input (the exposure gate returned it) is kept exactly.
    grey_out = torch.rand(1, 1, 5, 6, generator=generator).expand(1, 3, 5, 6)
    assert not torch.equal(grey_out.mean(dim=1, keepdim=True).expand_as(grey_out), grey_out)
    assert torch.equal(keep_neutral(grey_out, grey_out), grey_out)
