"""The clustered GP's prediction at every pixel, as convolutions.

Every pixel's GP input is its p x p patch (of the low-light image, the reference, or both), so
the squared distance of a query to centre j,

    |q - x_j|^2 / l^2 = sum_d q_d^2 / l_d^2 - 2 sum_d q_d x_jd / l_d^2 + sum_d x_jd^2 / l_d^2,

is a p x p convolution of the image with the centre (second term) plus one of the squared image
(first term) plus a constant: a convolution with k output channels computes the cross-kernel of
all pixels at once, without materialising any (pixels x p^2) patch matrix. With patch targets the
overlap-averaging of the predicted patches is a transposed convolution of the k correlation maps
with the centres' weights. Both run as the library's convolution kernels (oneDNN on CPU, cuDNN
on GPU), row strip by row strip, so memory is bounded by one strip of k maps whatever the image
size; only image-sized buffers (the padded inputs and the output) are whole.

This is the same posterior mean (and variance) as :func:`lowlight.gp.exact.se_gp_predict` applied
to every extracted patch (tests compare the two), in the dtype of the images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.gp.exact import ExactGPState, latent_variance
from lowlight.ops.patches import pad_for_patches

@dataclass
class PatchLayout:
    """How a GP's inputs and outputs sit on the image.

    Attributes:
        patch: p, side of the square patch.
        halves: how many p x p source images make one input (1: low or reference; 2: both).
        coordinates: two more inputs, the normalised pixel coordinates times ``coordinate_weight``.
        coordinate_weight: scale of the coordinates.
        patch_target: the GP predicts the whole p x p reference patch (overlaps averaged);
            ``False``: the centre pixel only.
    """

    patch: int
    halves: int
    coordinates: bool
    coordinate_weight: float
    patch_target: bool

    @property
    def d_in(self) -> int:
        return self.halves * self.patch**2 + (2 if self.coordinates else 0)


def predict_dense(
    state: ExactGPState,
    sources: list[Tensor],
    layout: PatchLayout,
    return_variance: bool = False,
    strip_queries: int = 1 << 16,
) -> tuple[Tensor, Tensor | None]:
    """Posterior mean (and latent variance) of G GPs at every pixel of their images.

    Args:
        state: G conditioned GPs on inputs of ``layout.d_in`` dims (patch halves in the order of
            ``sources``, each row-major, then the coordinates); d_out = p^2 (patch target) or 1.
        sources: ``layout.halves`` tensors, each (G, c, H, W) float: the images whose patches are
            the GP's inputs; the c channels of a group share its GP.
        layout: :class:`PatchLayout`.
        return_variance: also return the latent posterior variance of each pixel's query.
        strip_queries: (channel, pixel) queries per group and strip, at least one row: memory is
            about ``strip_queries * G * (k + 1)`` elements beside the image-sized buffers.

    Returns:
        ``(mean, variance)``: mean (G, c, H, W) in the sources' dtype (patch targets averaged over
        the overlapping predictions; not clamped), variance (G, c, H, W) >= 0 or ``None``.
    """
    if len(sources) != layout.halves:
        raise ValueError(f"layout needs {layout.halves} source image(s), got {len(sources)}")
    g, c, h, w = sources[0].shape
    for s in sources[1:]:
        if s.shape != sources[0].shape:
            raise ValueError(f"sources differ in shape: {tuple(sources[0].shape)} vs {tuple(s.shape)}")
    k, d_in = state.train_x.shape[1:]
    if state.train_x.shape[0] != g or d_in != layout.d_in:
        raise ValueError(f"GP state for {state.train_x.shape[0]} group(s) of {d_in}-dim inputs does not fit "
                         f"{g} group(s) with layout d_in = {layout.d_in}")
    if strip_queries < 1:
        raise ValueError(f"strip_queries must be >= 1, got {strip_queries!r}")
    # one GP at a time: a group's result then does not depend on the others in the batch (the
    # convolution kernels pick their algorithm, and rounding, by shape), so that a batch gives
    # the bytes its images give alone
    results = [_predict_one(state.select(i), [s[i] for s in sources], layout, return_variance, strip_queries)
               for i in range(g)]
    mean = _stack([m for m, _ in results])
    if not return_variance:
        return mean, None
    return mean, _stack([v for _, v in results if v is not None])


def _stack(maps: list[Tensor]) -> Tensor:
    """(G, c, H, W) from G maps (c, H, W); a view of the only one (no image-sized copy)."""
    return maps[0][None] if len(maps) == 1 else torch.stack(maps)


def _predict_one(state: ExactGPState, sources: list[Tensor], layout: PatchLayout, return_variance: bool,
                 strip_queries: int) -> tuple[Tensor, Tensor | None]:
    """:func:`predict_dense` for one GP: sources, each (c, H, W) -> mean, variance (c, H, W)."""
    c, h, w = sources[0].shape
    k = state.train_x.shape[1]
    p = layout.patch
    dtype, device = sources[0].dtype, sources[0].device
    terms = _Terms.build(state, layout, dtype)
    # the shifted, padded sources in the convolutions' layout: the colour channels (which share
    # the GP) as the batch, the source halves as channels
    padded = torch.stack([pad_for_patches(source[:, None] - terms.shift[i], (p, p))[:, 0]
                          for i, source in enumerate(sources)], dim=1)  # (c, halves, H + p - 1, W + p - 1)
    rows_per_strip = max(1, strip_queries // (w * c))
    canvas_h, canvas_w = (h + p - 1, w + p - 1) if layout.patch_target else (h, w)
    out = torch.zeros(c, canvas_h, canvas_w, dtype=dtype, device=device)
    variance = torch.empty(c, h, w, dtype=dtype, device=device) if return_variance else None
    for r0 in range(0, h, rows_per_strip):
        r1 = min(h, r0 + rows_per_strip)
        rows = r1 - r0
        corr = _correlation(padded[:, :, r0 : r1 + p - 1], terms, layout, r0, r1, h, w)  # (c, k, rows W)
        # the prior mean rides along as the bias, so every prediction carries its own
        predicted = torch.baddbmm(terms.prior, terms.fold_weight.expand(c, -1, -1), corr)  # (c, d_out, rows W)
        if layout.patch_target:  # overlap-add: patch position (u, v) lands u rows, v columns on
            window = out[:, r0 : r1 + p - 1]
            for u in range(p):
                for v in range(p):
                    # add_ on a view: ``out[...] += x`` would also copy the sum back through __setitem__
                    window[:, u : u + rows, v : v + w].add_(predicted[:, u * p + v].view(c, rows, w))
        else:
            out[:, r0:r1] = predicted.view(c, rows, w)
        if variance is not None:
            v = latent_variance(corr.transpose(1, 2).reshape(1, -1, k), state)  # (1, c rows W) float64
            variance[:, r0:r1] = v.view(c, rows, w).to(dtype)
    del padded  # image-sized: gone before the division below
    if layout.patch_target:
        top = (p - 1) // 2
        # in place on the canvas's centre (autograd-safe: add_'s backward needs no values)
        out = out[:, top : top + h, top : top + w].div_(_overlap_counts(h, w, p, dtype, device))
    return out, variance


def _overlap_counts(h: int, w: int, p: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(H, W): how many of the p x p patches centred on the image's pixels cover each pixel."""
    top = (p - 1) // 2

    def along(n: int) -> Tensor:  # patches covering each position of one axis
        ones = torch.ones(1, 1, n, dtype=dtype, device=device)
        return F.conv_transpose1d(ones, torch.ones(1, 1, p, dtype=dtype, device=device))[0, 0, top : top + n]

    return along(h)[:, None] * along(w)[None, :]


@dataclass
class _Terms:
    """The convolution weights of one prediction, from the GP state (see the module docstring)."""

    shift: list[float]  #: per source half, subtracted from its image (numerical centring)
    weight: Tensor  #: (k, 2 halves, p, p): x_jd / l_d^2 on the sources, -0.5 / l_d^2 on their squares
    bias: Tensor  #: (k,): -0.5 sum_d x_jd^2 / l_d^2
    coordinate_centres: Tensor | None  #: (k, 2) the centres' coordinates
    coordinate_inv_sq: Tensor | None  #: (2,): 1 / l^2 of the two coordinate inputs
    fold_weight: Tensor  #: (1, d_out, k): s2 alpha, transposed
    prior: Tensor  #: (1, d_out, 1): the prior mean of each predicted position

    @classmethod
    def build(cls, state: ExactGPState, layout: PatchLayout, dtype: torch.dtype) -> _Terms:
        """The weights of one GP (``state`` of batch 1)."""
        hp = state.hyperparameters
        _, k, d_in = state.train_x.shape
        p, halves, pq = layout.patch, layout.halves, layout.patch**2
        inv_sq = hp.lengthscale.reciprocal().square().expand(1, d_in)[0]  # (d_in,) float64
        x = state.train_x[0]  # (k, d_in) float64
        # one scalar per half keeps the expansion's terms small (the mean of the centres' values)
        shift = [float(x[:, i * pq : (i + 1) * pq].detach().mean()) for i in range(halves)]
        shift_vec = torch.cat([x.new_full((pq,), s) for s in shift])  # (halves pq,)
        centred = x[:, : halves * pq] - shift_vec  # (k, halves pq)
        patch_inv_sq = inv_sq[: halves * pq]  # (halves pq,)
        cross = (centred * patch_inv_sq).reshape(k, halves, p, p)
        square = (-0.5 * patch_inv_sq).reshape(1, halves, p, p).expand(k, -1, -1, -1)
        coord_centres = coord_inv_sq = None
        if layout.coordinates:
            coord_centres = x[:, halves * pq :].to(dtype)
            coord_inv_sq = inv_sq[halves * pq :].to(dtype)
        weights = hp.signal_variance[0] * state.alpha[0]  # (k, d_out)
        return cls(
            shift=shift,
            weight=torch.cat([cross, square], dim=1).to(dtype),
            bias=(-0.5 * (centred.square() * patch_inv_sq).sum(-1)).to(dtype),
            coordinate_centres=coord_centres,
            coordinate_inv_sq=coord_inv_sq,
            fold_weight=weights.T[None].to(dtype),
            prior=hp.mean.reshape(1, -1, 1).to(dtype),
        )


def _correlation(strip: Tensor, terms: _Terms, layout: PatchLayout, r0: int, r1: int, h: int, w: int) -> Tensor:
    """Unit-variance SE correlation of the queries of rows [r0, r1) with every centre.

    Args:
        strip: (c, halves, rows + p - 1, W + p - 1), the padded sources' rows.

    Returns:
        (c, k, rows W).
    """
    c = strip.shape[0]
    # one convolution gives the whole exponent: the cross term from the sources, the queries'
    # squared norms from the squared sources, the centres' norms as the bias
    exponent = F.conv2d(torch.cat([strip, strip.square()], dim=1), terms.weight, terms.bias)  # (c, k, rows, W)
    if terms.coordinate_centres is not None and terms.coordinate_inv_sq is not None:
        exponent = exponent + _coordinate_exponent(terms, layout, r0, r1, h, w)
    return exponent.clamp_max_(0.0).exp_().view(c, exponent.shape[1], -1)


def _coordinate_exponent(terms: _Terms, layout: PatchLayout, r0: int, r1: int, h: int, w: int) -> Tensor:
    """-0.5 |coordinates - centre coordinates|^2 / l^2 for rows [r0, r1): (1, k, rows, W)."""
    assert terms.coordinate_centres is not None and terms.coordinate_inv_sq is not None
    centres, inv_sq = terms.coordinate_centres, terms.coordinate_inv_sq  # (k, 2), (2,)
    dtype, device = centres.dtype, centres.device
    weight = layout.coordinate_weight
    rows = torch.arange(r0, r1, dtype=dtype, device=device) * (weight / max(h - 1, 1))  # (rows,)
    cols = torch.arange(w, dtype=dtype, device=device) * (weight / max(w - 1, 1))  # (W,)
    row_term = (rows[None, :] - centres[:, :1]).square() * inv_sq[0]  # (k, rows)
    col_term = (cols[None, :] - centres[:, 1:]).square() * inv_sq[1]  # (k, W)
    return (-0.5 * (row_term[:, :, None] + col_term[:, None, :]))[None]
