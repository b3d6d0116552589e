"""Shipped weights: safetensors files with the architecture and provenance in their metadata.

A file trained end to end also holds the GP's learned hyperparameters (tensors ``gp.*``,
:data:`lowlight.gp.learnable.CHECKPOINT_TENSORS`), their parametrisation and the GP options they
were learned for (metadata ``gp.parametrisation``, ``gp.options``).

safetensors holds only tensors and strings, so loading a file can never run code (unlike a
pickle). Lightning's training checkpoints (``.ckpt``) are read with ``weights_only=True``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from lowlight.archs import ARCHITECTURES
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.gp.learnable import LearnedHyperparameters
from lowlight.io.atomic import atomic_path


def _shipped_dir() -> Path:
    """The shipped weights: the repository's ``checkpoints/``, installed as ``lowlight.weights``."""
    folder = Path(str(resources.files("lowlight.weights")))
    if not folder.is_dir():  # e.g. imported from a zip file
        raise FileNotFoundError(f"the shipped weights are not a folder on disk: {folder}")
    return folder


#: the folder of shipped checkpoints (top-level ``checkpoints/``; package data in a wheel)
CHECKPOINT_DIR = _shipped_dir()
#: the two-stage reference CNNs (the paper's training: CNN first, GP hyperparameters by heuristic):
#: RGB v2 (wider CurveNet, trained on the v2 data mix with real bracket pairs; checkpoints/README.md)
DEFAULT_Y_CNN = CHECKPOINT_DIR / "y_cnn.safetensors"
DEFAULT_RGB_CNN = CHECKPOINT_DIR / "rgb_cnn_v2.safetensors"
#: the enhancer's defaults: the same CNNs trained on end to end through the GP head, with the
#: GP's learned hyperparameters (CM: configs/e2e_cm_v2.yaml; docs/e2e.md for the method)
DEFAULT_LM = CHECKPOINT_DIR / "e2e_lm.safetensors"
DEFAULT_CM = CHECKPOINT_DIR / "e2e_cm_v2.safetensors"
#: the v1 RGB files (512 photos, 128 x 128 crops, 40 CPU-minutes), kept for comparison
RGB_CNN_V1 = CHECKPOINT_DIR / "rgb_cnn.safetensors"
CM_V1 = CHECKPOINT_DIR / "e2e_cm.safetensors"
#: v1 CM trained end to end with an SSIM term in the loss (docs/e2e.md)
CM_SSIM = CHECKPOINT_DIR / "e2e_cm_ssim.safetensors"

def default_checkpoint(mode: str) -> Path:
    """The shipped checkpoint the enhancer uses for ``mode`` (``"lm"`` or ``"cm"``)."""
    if mode not in ("lm", "cm"):
        raise ValueError(f"mode must be 'lm' or 'cm', got {mode!r}")
    return DEFAULT_LM if mode == "lm" else DEFAULT_CM


@dataclass
class ReferenceCheckpoint:
    """A reference CNN and what its file says about it.

    Attributes:
        net: the CNN in eval mode.
        channels: ``"y"`` or ``"rgb"``.
        extra: other tensors saved beside the CNN (e.g. ``gp.*`` hyperparameters), by name.
        metadata: free-form provenance strings (data, steps, metrics).
    """

    net: nn.Module
    channels: str
    extra: dict[str, Tensor] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


def save_reference_cnn(
    net: nn.Module,
    path: Path,
    channels: str,
    extra: dict[str, Tensor] | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write ``net``'s weights (prefix ``net.``) and ``extra`` tensors to a safetensors file.

    Args:
        net: an architecture of :data:`lowlight.archs.ARCHITECTURES` with a ``config()``.
        path: destination, written through a temporary file and renamed.
        channels: ``"y"`` or ``"rgb"``.
        extra: more tensors to store, e.g. learned GP hyperparameters.
        metadata: provenance strings.
    """
    arch = type(net).__name__
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    if channels not in ("y", "rgb"):
        raise ValueError(f"channels must be 'y' or 'rgb', got {channels!r}")
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors.update({k: v.detach().cpu().contiguous() for k, v in (extra or {}).items()})
    header = {
        "arch": arch,
        "arch_config": json.dumps(net.config()),
        "channels": channels,
        **(metadata or {}),
    }
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def load_reference_cnn(path: Path, device: torch.device | str = "cpu") -> ReferenceCheckpoint:
    """Read a file written by :func:`save_reference_cnn`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a lowlight checkpoint (no or unknown ``arch`` metadata, wrong tensors).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            header = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as err:  # safetensors raises its own SafetensorError for malformed files
        raise ValueError(f"{path}: not a safetensors checkpoint ({err})") from err
    arch = header.get("arch")
    if arch not in ARCHITECTURES:
        raise ValueError(f"{path}: unknown or missing architecture {arch!r}")
    net = _build_net(path, arch, header.get("arch_config", "{}"))
    state = {k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")}
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit {arch}: {_state_dict_summary(net, state)}") from err
    extra = {k: v for k, v in tensors.items() if not k.startswith("net.")}
    skip = {"arch", "arch_config", "channels"}
    metadata = {k: v for k, v in header.items() if k not in skip}
    return ReferenceCheckpoint(net.to(device).eval(), header.get("channels", "rgb"), extra, metadata)


def _build_net(path: Path, arch: str, arch_config: str) -> nn.Module:
    """The architecture ``arch`` built from the checkpoint's JSON ``arch_config``; a one-line ``ValueError`` if it cannot be."""
    try:
        config = json.loads(arch_config)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: arch_config is not JSON ({err})") from err
    if not isinstance(config, dict):
        raise ValueError(f"{path}: arch_config must be a JSON object, got {arch_config!r}")
    try:
        return ARCHITECTURES[arch](**config)
    except (TypeError, ValueError) as err:  # an unknown key, a bad value
        raise ValueError(f"{path}: arch_config {arch_config} does not fit {arch} ({err})") from err


def _state_dict_summary(net: nn.Module, state: dict[str, Tensor]) -> str:
    """One line saying how ``state`` differs from ``net``'s own weights (names and shapes)."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{name} {tuple(state[name].shape)} (expected {tuple(own[name].shape)})"
              for name in sorted(set(own) & set(state)) if state[name].shape != own[name].shape]
    parts = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            parts.append(f"{label}: {', '.join(names[:3])}{more}")
    return "; ".join(parts) or "tensors do not load"


def export_lightning_checkpoint(ckpt_path: Path, out_path: Path, net: nn.Module, channels: str,
                                metadata: dict[str, str] | None = None) -> None:
    """Copy the ``net.*`` weights of a Lightning ``.ckpt`` into a shipped safetensors file.

    The ``.ckpt`` is read with ``torch.load(weights_only=True)``: no code in it can run.

    Args:
        ckpt_path: a checkpoint written by Lightning's ModelCheckpoint for ReferenceCNNModule.
        out_path: the safetensors destination.
        net: an instance of the trained architecture (its weights are overwritten).
        channels: ``"y"`` or ``"rgb"``.
        metadata: provenance strings.
    """
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True)["state_dict"]
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
    save_reference_cnn(net, out_path, channels, metadata=metadata)


#: metadata keys written beside the learned GP tensors
PARAMETRISATION_KEY = "gp.parametrisation"
OPTIONS_KEY = "gp.options"
#: GP options that shape what the learned hyperparameters mean; a checkpoint's values win
STRUCTURAL_OPTIONS = ("patch", "per_channel", "coordinates", "coordinate_weight", "inputs", "target",
                      "noise_fraction")


def learned_gp_metadata(learned: LearnedHyperparameters, options: GPOptions) -> dict[str, str]:
    """Strings to store beside the learned tensors: the parametrisation and the inference options."""
    return {PARAMETRISATION_KEY: learned.parametrisation, OPTIONS_KEY: json.dumps(asdict(options))}


def load_learned_gp(checkpoint: ReferenceCheckpoint) -> LearnedHyperparameters | None:
    """The learned GP hyperparameters a checkpoint holds, or ``None`` (a two-stage file).

    Raises:
        ValueError: some but not all learned tensors, or inconsistent shapes.
    """
    parametrisation = checkpoint.metadata.get(PARAMETRISATION_KEY, "relative")
    return LearnedHyperparameters.from_checkpoint_tensors(checkpoint.extra, parametrisation)  # type: ignore[arg-type]


def stored_gp_options(metadata: dict[str, str]) -> GPOptions | None:
    """The :class:`GPOptions` a checkpoint was trained for (its metadata), or ``None``.

    Fields this version of :class:`GPOptions` does not know are ignored; missing ones default.
    """
    text = metadata.get(OPTIONS_KEY)
    if text is None:
        return None
    known = {f.name for f in fields(GPOptions)}
    return GPOptions(**{k: v for k, v in json.loads(text).items() if k in known})


def options_for_checkpoint(requested: GPOptions, learned: LearnedHyperparameters,
                           metadata: dict[str, str]) -> GPOptions:
    """The GP options to run a learned checkpoint with.

    The :data:`STRUCTURAL_OPTIONS` come from the checkpoint (its hyperparameters were learned for
    that input layout, target and patch; ``per_channel`` also follows its number of groups); the
    rest (k, seed, sampling, chunking) from ``requested``.
    """
    trained = stored_gp_options(metadata)
    structural = {} if trained is None else {name: getattr(trained, name) for name in STRUCTURAL_OPTIONS}
    structural["per_channel"] = learned.n_groups > 1
    return replace(requested, **structural)
