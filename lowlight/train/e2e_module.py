"""LightningModule training the whole enhancer end to end: reference CNN -> clustered GP -> loss.

The forward pass is :class:`lowlight.enhance.enhancer.Enhancer`'s, so what is trained is exactly what
ships: reference CNN, patch pairs, k-means++ (assignments without gradient, centres as
differentiable means of their members), the exact GP's posterior mean with learnable
hyperparameters (:class:`lowlight.gp.learnable.LearnedHyperparameters`), LM colour, then the loss
against the bright ground truth in RGB.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Literal

import lightning as L
import kornia
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from lowlight.enhance.checkpoints import learned_gp_metadata, load_learned_gp, load_reference_cnn, save_reference_cnn
from lowlight.enhance.clustered_gp import GPOptions, initialise_from_heuristic
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.gp.learnable import LearnedHyperparameters, Parametrisation
from lowlight.metrics.quality import psnr_per_image, ssim_per_image
from lowlight.metrics.sift import image_features, sift_score
from lowlight.ops.color import rgb_to_luma
from lowlight.train.callbacks import ExportSafetensors
from lowlight.train.reference_module import VAL_PREFIXES

#: the uncertainty panel maps this posterior standard deviation (intensity units) to white
UNCERTAINTY_WHITE = 0.1
#: columns of the logged k-sweep table
K_SWEEP_COLUMNS = ["k", "psnr", "ssim", "sift_f1", "ms_per_image"]


class EndToEndModule(L.LightningModule):
    """Trains the reference CNN and the GP hyperparameters through the clustered GP.

    Batches are dicts ``{"lq": (B, 3, H, W), "gt": (B, 3, H, W), "path": list[str]}``, float in
    [0, 1]. Training clusters with ``k_train`` centres (fewer than at inference: cheaper, and the
    GP still sees every pixel's prediction); validation and export use ``gp`` as it will ship.

    Logged: ``train/loss``; the learned log-hyperparameters ``gp/log_lengthscale``,
    ``gp/log_signal_variance``, ``gp/log_noise_variance`` (suffixed ``_0``, ``_1``, ``_2`` per
    channel group with ``per_channel``); per validation loader (``val``, then ``val_b``):
    ``psnr``, ``ssim`` and ``loss`` of the RGB output, ``sift_f1`` (PROTOCOL.md's feature retrieval
    on the first ``sift_images`` images) and ``ref_psnr`` (the CNN's reference alone, in its own
    space: Y for LM, RGB for CM); each validation epoch an image grid
    ``val/examples`` (dark | reference | GP output | ground truth | uncertainty) and the table
    ``val/k_sweep`` (PSNR, SSIM, SIFT F1, time per image for each k of ``k_sweep``) when the
    logger can show them.

    Under DDP every validation figure is a torchmetrics module, so each covers the images of all
    ranks (as one process would); the SIFT images are chosen by their index in the validation set
    (the batches carry it), not by the order a rank meets them. The grid and the k-sweep come from
    rank 0's first batch. A step whose loss is not finite on any rank is skipped on all of them.

    Args:
        mode: ``"cm"`` (RGB CNN, GP on RGB patches) or ``"lm"`` (luma CNN, GP on Y).
        checkpoint: reference CNN to start from (a shipped ``.safetensors``); learned GP tensors
            in it are loaded too. ``None``: ``net`` (e.g. untrained) is used.
        net: the reference CNN when no ``checkpoint`` is given.
        gp: GP options of validation and of the exported model (default :class:`GPOptions`).
        k_train: cluster centres during training.
        train_cluster_points: (channel, pixel) samples clustered per GP during training.
        parametrisation: ``"relative"`` (learned offsets to the per-image heuristic, starting at
            it) or ``"absolute"`` (shared values, set from the heuristic on the first batch).
        loss: ``"l1"`` or ``"mse"`` between the RGB output and the ground truth.
        ssim_weight: adds ``ssim_weight * (1 - SSIM)`` to the loss (kornia's SSIM, window 11, the
            protocol's): L1 alone lets the GP follow noise (its learned noise variance shrinks),
            which costs SSIM on noisy input.
        lr: peak learning rate of the CNN (AdamW, cosine decay to 1% over training).
        gp_lr: peak learning rate of the GP hyperparameters.
        weight_decay: AdamW weight decay of the CNN (none on the hyperparameters).
        lm_colour: LM's colour restoration (see :class:`EnhancerConfig`); ``None``: its default.
        num_logged_images: images in the logged grid.
        sift_images: images per validation loader scored by SIFT F1 (``None``: all).
        k_sweep: cluster counts of the validation k-sweep table (empty: no table).
        k_sweep_images: images of the first validation batch the sweep runs on.
    """

    def __init__(
        self,
        mode: Literal["cm", "lm"] = "cm",
        checkpoint: Path | None = None,
        net: nn.Module | None = None,
        gp: GPOptions | None = None,
        k_train: int = 16,
        train_cluster_points: int | None = 4096,
        parametrisation: Parametrisation = "relative",
        loss: Literal["l1", "mse"] = "l1",
        ssim_weight: float = 0.0,
        lr: float = 1e-4,
        gp_lr: float = 1e-2,
        weight_decay: float = 0.0,
        lm_colour: Literal["carry", "ratio"] | None = None,
        num_logged_images: int = 4,
        sift_images: int | None = 16,
        k_sweep: tuple[int, ...] = (4, 8, 16, 30, 64),
        k_sweep_images: int = 2,
    ) -> None:
        super().__init__()
        if loss not in ("l1", "mse"):
            raise ValueError(f"loss must be 'l1' or 'mse', got {loss!r}")
        if not ssim_weight >= 0:
            raise ValueError(f"ssim_weight must be >= 0, got {ssim_weight!r}")
        if k_train < 1:
            raise ValueError(f"k_train must be >= 1, got {k_train!r}")
        if any(k < 1 for k in k_sweep):
            raise ValueError(f"k_sweep values must be >= 1, got {k_sweep!r}")
        if sift_images is not None and sift_images < 0:
            raise ValueError(f"sift_images must be >= 0 or None, got {sift_images!r}")
        gp = gp or GPOptions()
        learned_gp = None
        if checkpoint is not None:
            loaded = load_reference_cnn(Path(checkpoint))
            net = loaded.net
            learned_gp = load_learned_gp(loaded)
        if net is None:
            raise ValueError("give a reference CNN: checkpoint (a .safetensors file) or net")
        channels = getattr(net, "in_channels", 1 if mode == "lm" else 3)
        n_groups = channels if gp.per_channel else 1
        if learned_gp is None:
            learned_gp = LearnedHyperparameters(n_groups, parametrisation)
        elif learned_gp.n_groups != n_groups:
            raise ValueError(
                f"{checkpoint} holds {learned_gp.n_groups} GP hyperparameter group(s); "
                f"gp.per_channel={gp.per_channel} needs {n_groups}"
            )
        self.save_hyperparameters({  # plain values, so that checkpoints load with weights_only
            "mode": mode, "checkpoint": None if checkpoint is None else str(checkpoint),
            "gp": asdict(gp), "k_train": k_train, "train_cluster_points": train_cluster_points,
            "parametrisation": learned_gp.parametrisation, "loss": loss, "ssim_weight": ssim_weight, "lr": lr, "gp_lr": gp_lr,
            "weight_decay": weight_decay, "lm_colour": lm_colour or EnhancerConfig.lm_colour,
            "k_sweep": list(k_sweep),
        })
        config = EnhancerConfig(mode=mode, gp=gp)
        config = config if lm_colour is None else replace(config, lm_colour=lm_colour)
        self.enhancer = Enhancer(net, config, learned_gp=learned_gp)
        self.enhancer.train()  # Enhancer puts its net in eval mode; Lightning keeps modes as found
        self.mode = mode
        self.train_gp = replace(gp, k=k_train, cluster_points=train_cluster_points)
        self.loss_name = loss
        self.ssim_weight = ssim_weight
        self.lr = lr
        self.gp_lr = gp_lr
        self.weight_decay = weight_decay
        self.num_logged_images = num_logged_images
        self.sift_images = sift_images
        self.k_sweep = tuple(k_sweep)
        self.k_sweep_images = k_sweep_images
        metric_names = ("psnr", "ref_psnr")
        self.val_psnr = nn.ModuleDict({
            name: nn.ModuleList([
                PeakSignalNoiseRatio(data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3))
                for _ in VAL_PREFIXES
            ])
            for name in metric_names
        })
        self.val_ssim = nn.ModuleList([StructuralSimilarityIndexMeasure(data_range=1.0) for _ in VAL_PREFIXES])
        self.val_loss = nn.ModuleList([MeanMetric() for _ in VAL_PREFIXES])
        self.val_sift_f1 = nn.ModuleList([MeanMetric() for _ in VAL_PREFIXES])
        self._val_seen = [0 for _ in VAL_PREFIXES]  # images per loader, for batches without "index"
        self._grid: list[Tensor] | None = None
        self._sweep_batch: tuple[Tensor, Tensor] | None = None

    @property
    def gp_layer(self) -> LearnedHyperparameters:
        """The learned GP hyperparameters."""
        assert self.enhancer.learned_gp is not None
        return self.enhancer.learned_gp

    @property
    def channels(self) -> str:
        """The reference CNN's space as checkpoints name it: ``"y"`` or ``"rgb"``."""
        return "y" if self.mode == "lm" else "rgb"

    @contextmanager
    def gp_options(self, options: GPOptions) -> Iterator[None]:
        """Run the enhancer with other GP options inside the block (training's smaller k)."""
        saved = self.enhancer.config
        self.enhancer.config = replace(saved, gp=options)
        try:
            yield
        finally:
            self.enhancer.config = saved

    def forward(self, lq: Tensor, return_std: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
        """Enhance with the current GP options.

        Args:
            lq: (B, 3, H, W) float in [0, 1].
            return_std: also return the GP's posterior standard deviation.

        Returns:
            ``(image (B, 3, H, W), reference (B, C, H, W), std (B, 1, H, W) or None)``, in [0, 1]
            except std (>= 0); C = 1 for LM, 3 for CM.
        """
        result = self.enhancer(lq, return_std=return_std)
        return result.image, result.reference, result.std

    def _loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred, target: (B, 3, H, W) float in [0, 1] -> scalar."""
        loss = F.l1_loss(pred, target) if self.loss_name == "l1" else F.mse_loss(pred, target)
        if self.ssim_weight > 0:
            # kornia's ssim_loss is (1 - SSIM) / 2
            loss = loss + self.ssim_weight * 2 * kornia.losses.ssim_loss(pred, target, window_size=11)
        return loss

    def _ensure_gp_initialised(self, lq: Tensor) -> None:
        """Absolute hyperparameters start from the heuristic on the first batch seen (under DDP:
        rank 0's first batch, sent to the other ranks, which saw other images)."""
        if bool(self.gp_layer.initialised):
            return
        with torch.no_grad():
            ref = self.enhancer.reference(lq).clamp(0.0, 1.0)
            low = rgb_to_luma(lq) if self.mode == "lm" else lq
            initialise_from_heuristic(self.gp_layer, low, ref, self.train_gp)
            if self._trainer is not None and self.trainer.world_size > 1:
                layer = self.gp_layer
                parameters = (layer.log_lengthscale, layer.log_signal_variance, layer.log_noise_variance)
                values = self.trainer.strategy.broadcast([p.detach().cpu() for p in parameters], src=0)
                for parameter, value in zip(parameters, values, strict=True):
                    parameter.copy_(value.to(parameter))

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        lq, gt = batch["lq"], batch["gt"]
        self._ensure_gp_initialised(lq)
        # a new sampling / k-means++ seed each step: the GP sees other centres every time
        with self.gp_options(replace(self.train_gp, seed=self.train_gp.seed + self.global_step)):
            image, _, _ = self(lq)
        loss = self._loss(image, gt)
        n = lq.shape[0]
        self._log_hyperparameters(n)
        # skip the step (Lightning does on None) rather than poison the weights; under DDP all ranks
        # skip together, or the others would wait forever for this rank's gradients
        finite = bool(torch.isfinite(loss))
        if self._trainer is not None:
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            self.log("train/skipped_nonfinite", 1.0, reduce_fx="sum", batch_size=n)
            return None
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        return loss

    def _log_hyperparameters(self, batch_size: int) -> None:
        layer = self.gp_layer
        values = {
            "log_lengthscale": layer.log_lengthscale.detach()[:, 0],
            "log_signal_variance": layer.log_signal_variance.detach(),
            "log_noise_variance": layer.log_noise_variance.detach(),
        }
        for name, per_group in values.items():
            for group, value in enumerate(per_group):
                key = f"gp/{name}" if layer.n_groups == 1 else f"gp/{name}_{group}"
                self.log(key, value, batch_size=batch_size)

    def on_validation_epoch_start(self) -> None:
        self._val_seen = [0 for _ in VAL_PREFIXES]

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        if dataloader_idx >= len(VAL_PREFIXES):
            raise ValueError(f"at most {len(VAL_PREFIXES)} validation loaders, got index {dataloader_idx}")
        prefix = VAL_PREFIXES[dataloader_idx]
        lq, gt = batch["lq"], batch["gt"]
        self._ensure_gp_initialised(lq)
        first = batch_idx == 0 and dataloader_idx == 0
        image, reference, std = self(lq, return_std=first)
        n = lq.shape[0]
        gt_net = rgb_to_luma(gt) if self.mode == "lm" else gt
        psnr, ref_psnr = self.val_psnr["psnr"][dataloader_idx], self.val_psnr["ref_psnr"][dataloader_idx]
        ssim = self.val_ssim[dataloader_idx]
        psnr.update(image, gt)
        ref_psnr.update(reference, gt_net)
        ssim.update(image, gt)
        loss, sift_f1 = self.val_loss[dataloader_idx], self.val_sift_f1[dataloader_idx]
        loss.update(self._loss(image, gt), weight=n)
        log = {"add_dataloader_idx": False, "batch_size": n}
        self.log(f"{prefix}/loss", loss, **log)
        self.log(f"{prefix}/psnr", psnr, prog_bar=dataloader_idx == 0, **log)
        self.log(f"{prefix}/ssim", ssim, **log)
        self.log(f"{prefix}/ref_psnr", ref_psnr, **log)
        seen = self._val_seen[dataloader_idx]
        indices = batch["index"].tolist() if "index" in batch else list(range(seen, seen + n))
        self._val_seen[dataloader_idx] = seen + n
        if self.sift_images != 0:  # logged on every batch of every rank (the ranks sync it together)
            scored = [i for i, index in enumerate(indices) if self.sift_images is None or index < self.sift_images]
            f1 = [sift_score(image_features(image[i]), image_features(gt[i])).f1 for i in scored]
            sift_f1.update(torch.tensor(f1, dtype=torch.float32, device=image.device))
            self.log(f"{prefix}/sift_f1", sift_f1, **log)
        if first:
            self._remember_examples(lq, reference, image, gt, std)

    def _remember_examples(self, lq: Tensor, reference: Tensor, image: Tensor, gt: Tensor,
                           std: Tensor | None) -> None:
        k = self.num_logged_images
        as_rgb = reference[:k].expand(-1, 3, -1, -1)  # LM's luma shown as grey
        uncertainty = torch.zeros_like(image[:k]) if std is None else (std[:k] / UNCERTAINTY_WHITE).clamp(0, 1)
        self._grid = [t.detach().float().cpu() for t in
                      (lq[:k], as_rgb, image[:k], gt[:k], uncertainty.expand(-1, 3, -1, -1))]
        self._sweep_batch = (lq[: self.k_sweep_images].detach(), gt[: self.k_sweep_images].detach())

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._grid = self._sweep_batch = None
            return
        log_image = getattr(self.logger, "log_image", None)
        if self._grid is not None and log_image is not None:
            rows = torch.stack(self._grid, dim=1).flatten(0, 1)  # (5k, 3, H, W), one row per image
            grid = torchvision.utils.make_grid(rows, nrow=len(self._grid), padding=2)  # (3, H', W')
            # 8-bit (H', W', 3): wandb.Image takes arrays as 0-255 values, floats in [0, 1] show black
            pixels = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
            log_image(key="val/examples", images=[pixels],
                      caption=["dark | reference | GP output | ground truth | uncertainty"])
        log_table = getattr(self.logger, "log_table", None)
        if self._sweep_batch is not None and self.k_sweep and log_table is not None and self.trainer.is_global_zero:
            log_table(key="val/k_sweep", columns=K_SWEEP_COLUMNS, data=self.k_sweep_rows(*self._sweep_batch))
        self._grid = self._sweep_batch = None

    @torch.no_grad()
    def k_sweep_rows(self, lq: Tensor, gt: Tensor) -> list[list[float]]:
        """Metrics of the shipped enhancer for each k of ``k_sweep`` on a few images.

        Args:
            lq: (B, 3, H, W) float in [0, 1].
            gt: (B, 3, H, W) float in [0, 1].

        Returns:
            One row per k: ``[k, mean PSNR, mean SSIM, mean SIFT F1, milliseconds per image]``.
        """
        rows = []
        for k in self.k_sweep:
            with self.gp_options(replace(self.enhancer.config.gp, k=k)):
                start = time.perf_counter()
                image, _, _ = self(lq)
                ms = 1000.0 * (time.perf_counter() - start) / lq.shape[0]
            f1 = [sift_score(image_features(image[i]), image_features(gt[i])).f1 for i in range(lq.shape[0])]
            psnr = psnr_per_image(image, gt)
            finite = psnr[torch.isfinite(psnr)]
            rows.append([
                float(k), float(finite.mean()) if finite.numel() else math.nan,
                float(ssim_per_image(image, gt).mean()), sum(f1) / len(f1), ms,
            ])
        return rows

    def configure_optimizers(self):  # noqa: ANN201 (Lightning's return type is a union)
        groups = [
            {"params": list(self.enhancer.net.parameters()), "lr": self.lr, "weight_decay": self.weight_decay},
            {"params": list(self.gp_layer.parameters()), "lr": self.gp_lr, "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def export_safetensors(self, path: Path, metadata: dict[str, str] | None = None) -> None:
        """Write the CNN, the learned GP tensors and the inference options as a shipped checkpoint.

        :meth:`lowlight.enhance.enhancer.Enhancer.from_checkpoint` (and so ``infer.py --checkpoint``) then
        enhances with the learned hyperparameters.
        """
        info = {
            "training": "end-to-end",
            **learned_gp_metadata(self.gp_layer, self.enhancer.config.gp),
            **(metadata or {}),
        }
        save_reference_cnn(self.enhancer.net, Path(path), self.channels,
                           extra=self.gp_layer.checkpoint_tensors(), metadata=info)


class ExportEndToEnd(ExportSafetensors):
    """At the end of ``fit``, export the best checkpoint of :class:`EndToEndModule` as safetensors.

    The best (else last) checkpoint of the first ``ModelCheckpoint`` is loaded back into the
    module (``torch.load(weights_only=True)``) and written by
    :meth:`EndToEndModule.export_safetensors` with provenance metadata.

    Args:
        path: destination; default ``<ModelCheckpoint.dirpath>/e2e.safetensors``.
    """

    default_name = "e2e.safetensors"

    def export(self, pl_module: L.LightningModule, source: Path, out: Path, metadata: dict[str, str]) -> None:
        if not isinstance(pl_module, EndToEndModule):
            raise TypeError(f"ExportEndToEnd needs an EndToEndModule, got {type(pl_module).__name__}")
        pl_module.load_state_dict(torch.load(source, map_location="cpu", weights_only=True)["state_dict"])
        pl_module.export_safetensors(out, metadata)
