"""LightningModule training a reference CNN (luma or RGB) on (low-light, bright) pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from lowlight.enhance.checkpoints import load_reference_cnn
from lowlight.ops.color import rgb_to_luma

#: metric prefixes of the validation loaders, in the order the datamodule returns them
VAL_PREFIXES = ("val", "val_b", "val_real")


class ReferenceCNNModule(L.LightningModule):
    """Trains ``net`` to map a darkened image to its bright original.

    Batches are dicts ``{"lq": (B, 3, H, W), "gt": (B, 3, H, W), "path": list[str]}`` with
    float images in [0, 1]. With ``channels="y"`` the net sees and predicts BT.601 luma
    (``lowlight.ops.color.rgb_to_luma``) and the loss and metrics are on Y; with ``"rgb"`` on RGB.

    Logged: ``train/loss``; per validation loader ``val/psnr``, ``val/ssim`` (then ``val_b/...``
    for a second loader), PSNR per image as in PROTOCOL.md; an image grid (dark | reference |
    ground truth) each validation epoch when the logger can show images. Every validation figure
    is a torchmetrics module: under DDP each covers the images of all ranks, as one process would.

    Args:
        net: the reference CNN, (B, C, H, W) -> (B, C, H, W) with C = 1 or 3.
        channels: ``"y"`` or ``"rgb"``; must match ``net``'s input channels.
        loss: ``"mse"`` (GPE's) or ``"l1"``.
        lr: peak learning rate of Adam, decayed by a cosine schedule to 1% over training.
        weight_decay: AdamW weight decay.
        num_logged_images: images in the logged validation grid.
        init_weights: start from the CNN weights of a shipped safetensors checkpoint (fine-tuning).
        ssim_weight: adds ``ssim_weight * (1 - SSIM)`` to the loss (kornia's SSIM, window 11), which
            rewards kept contrast and structure where L1 alone accepts lifted, flat blacks.
    """

    def __init__(
        self,
        net: nn.Module,
        channels: Literal["y", "rgb"] = "rgb",
        loss: Literal["mse", "l1"] = "mse",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        num_logged_images: int = 4,
        init_weights: Path | None = None,
        ssim_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if not ssim_weight >= 0:
            raise ValueError(f"ssim_weight must be >= 0, got {ssim_weight!r}")
        expected = 1 if channels == "y" else 3
        in_channels = getattr(net, "in_channels", expected)
        if in_channels != expected:
            raise ValueError(f"channels={channels!r} needs a {expected}-channel net, got {in_channels}")
        self.save_hyperparameters(ignore=["net", "init_weights"])
        if init_weights is not None:
            net.load_state_dict(load_reference_cnn(Path(init_weights)).net.state_dict())
        self.net = net
        self.channels = channels
        self.loss_name = loss
        self.lr = lr
        self.weight_decay = weight_decay
        self.num_logged_images = num_logged_images
        self.ssim_weight = ssim_weight
        self.val_psnr = nn.ModuleList(
            [PeakSignalNoiseRatio(data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3))
             for _ in VAL_PREFIXES]
        )
        self.val_ssim = nn.ModuleList(
            [StructuralSimilarityIndexMeasure(data_range=1.0) for _ in VAL_PREFIXES]
        )
        self.val_loss = nn.ModuleList([MeanMetric() for _ in VAL_PREFIXES])
        self._grid_batch: tuple[Tensor, Tensor, Tensor] | None = None

    def to_net_space(self, rgb: Tensor) -> Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> the net's input space: (B, 1, H, W) Y or the RGB itself."""
        return rgb_to_luma(rgb) if self.channels == "y" else rgb

    def forward(self, lq: Tensor) -> Tensor:
        """lq: (B, 3, H, W) float in [0, 1] -> reference (B, C, H, W) in [0, 1], C = 1 or 3."""
        return self.net(self.to_net_space(lq))

    def _loss(self, pred: Tensor, target: Tensor) -> Tensor:
        loss = F.l1_loss(pred, target) if self.loss_name == "l1" else F.mse_loss(pred, target)
        if self.ssim_weight > 0:
            import kornia  # kornia's ssim_loss is (1 - SSIM) / 2

            loss = loss + self.ssim_weight * 2 * kornia.losses.ssim_loss(pred, target, window_size=11)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        pred = self(batch["lq"])
        loss = self._loss(pred, self.to_net_space(batch["gt"]))
        self.log("train/loss", loss, prog_bar=True, batch_size=pred.shape[0])
        return loss

    def validation_step(
        self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if dataloader_idx >= len(VAL_PREFIXES):
            raise ValueError(f"at most {len(VAL_PREFIXES)} validation loaders, got index {dataloader_idx}")
        prefix = VAL_PREFIXES[dataloader_idx]
        pred = self(batch["lq"]).clamp(0, 1)
        target = self.to_net_space(batch["gt"])
        psnr, ssim = self.val_psnr[dataloader_idx], self.val_ssim[dataloader_idx]
        loss = self.val_loss[dataloader_idx]
        psnr.update(pred, target)
        ssim.update(pred, target)
        n = pred.shape[0]
        loss.update(self._loss(pred, target), weight=n)
        self.log(f"{prefix}/loss", loss, batch_size=n, add_dataloader_idx=False)
        self.log(f"{prefix}/psnr", psnr, batch_size=n, prog_bar=dataloader_idx == 0,
                 add_dataloader_idx=False)
        self.log(f"{prefix}/ssim", ssim, batch_size=n, add_dataloader_idx=False)
        if batch_idx == 0 and dataloader_idx == 0:
            k = self.num_logged_images
            lq = self.to_net_space(batch["lq"][:k])
            self._grid_batch = (lq.detach(), pred[:k].detach(), target[:k].detach())

    def on_validation_epoch_end(self) -> None:
        if self._grid_batch is None or self.trainer.sanity_checking:
            return
        log_image = getattr(self.logger, "log_image", None)
        if log_image is not None:
            # One row per image: dark | reference | ground truth.
            rows = torch.stack(self._grid_batch, dim=1).flatten(0, 1)  # (3k, C, H, W)
            grid = torchvision.utils.make_grid(rows.float().cpu(), nrow=3, padding=2)
            # wandb reads image tensors as 0-255 values: a float grid in [0, 1] would log black.
            grid = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
            log_image(key="val/examples", images=[grid], caption=["dark | reference | ground truth"])
        self._grid_batch = None

    def configure_optimizers(self):  # noqa: ANN201 (Lightning's return type is a union)
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=self.lr / 100)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
