"""The method registry: names -> enhancers the evaluation runs.

A :class:`Method` is a name and a callable ``(image, context) -> enhanced`` with ``image`` (B, 3,
H, W) float in [0, 1] and ``context`` the :class:`~lowlight.protocols.ImageContext` of
that batch (the runner passes one image at a time). Only reference points such as the oracle look
at the context; they set ``needs_truth`` so that runs without ground truth skip them. Images
arrive on the CPU as float32; a method that runs elsewhere moves them to its device and may
return its result there (the runner brings outputs back to the CPU).

Registering a method (how "cnn", "lm", "cm", "gpe" plug in)::

    def _cm_factory(options: MethodOptions) -> list[Method]:
        from lowlight.gp import ...          # heavy imports inside the factory
        return [Method(f"cm k={k}", make_cm(k, options.device)) for k in options.k]

    register_method("cm", _cm_factory)       # in this module, beside the baselines below

A factory takes the run's :class:`MethodOptions` and returns one or more methods: GP methods
return one per value of ``options.k`` (rows "cm k=10", "cm k=30"); baselines ignore ``k``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from lowlight.baselines import classic as baselines
from lowlight.protocols import ImageContext, invert_darkening

Enhancer = Callable[[Tensor, ImageContext], Tensor]


@dataclass(frozen=True)
class Method:
    """One row of the results.

    Attributes:
        name: the row label, e.g. ``"auto-gamma"`` or ``"cm k=30"``.
        enhance: ``(image (B, 3, H, W) float in [0, 1], context) -> (B, 3, H, W) float in [0, 1]``.
        needs_truth: the method reads the true darkening from the context (a reference point,
            not a method); skipped on images without ground truth.
    """

    name: str
    enhance: Enhancer
    needs_truth: bool = False

    def __call__(self, image: Tensor, context: ImageContext) -> Tensor:
        return self.enhance(image, context)


@dataclass(frozen=True)
class MethodOptions:
    """Options every factory receives (each uses what it needs).

    Attributes:
        device: torch device for learned methods (``"cpu"``, ``"cuda"``).
        k: cluster counts of the GP methods, one row per value.
        checkpoint_dir: folder of trained checkpoints (the reference CNN), or ``None``.
        gpe_mat: GPE's MatConvNet CNN file (``../shared/reference/gpe_cnnmodel.mat``), or ``None``.
        seed: seed for methods with randomness (k-means++ initialisation).
    """

    device: str = "cpu"
    k: tuple[int, ...] = (10, 30)
    checkpoint_dir: Path | None = None
    gpe_mat: Path | None = None
    seed: int = 0


MethodFactory = Callable[[MethodOptions], list[Method]]

METHOD_FACTORIES: dict[str, MethodFactory] = {}


class UnknownMethodError(ValueError):
    """A method name that is not registered (a user mistake)."""


def register_method(name: str, factory: MethodFactory, *, replace: bool = False) -> None:
    """Add ``factory`` under ``name``; an existing name needs ``replace=True``."""
    if not name or "," in name:
        raise ValueError(f"method name must be non-empty without commas, got {name!r}")
    if name in METHOD_FACTORIES and not replace:
        raise ValueError(f"method {name!r} is already registered")
    METHOD_FACTORIES[name] = factory


def available_methods() -> list[str]:
    """Registered names, in registration order."""
    return list(METHOD_FACTORIES)


def build_methods(names: Sequence[str], options: MethodOptions | None = None) -> list[Method]:
    """The methods for ``names``, in that order (duplicates dropped).

    Raises:
        UnknownMethodError: a name is not registered (the message lists the known ones).
    """
    options = MethodOptions() if options is None else options
    unknown = [name for name in names if name not in METHOD_FACTORIES]
    if unknown:
        raise UnknownMethodError(
            f"unknown method(s) {', '.join(unknown)}; known: {', '.join(available_methods())}"
        )
    methods: list[Method] = []
    for name in dict.fromkeys(names):
        methods.extend(METHOD_FACTORIES[name](options))
    return methods


def _oracle(image: Tensor, context: ImageContext) -> Tensor:
    if context.gamma is None:
        raise ValueError(f"oracle needs the true darkening; {context.image_name} has none")
    return invert_darkening(image, context.gamma, context.light)


def _context_free(function: Callable[[Tensor], Tensor]) -> Enhancer:
    """Adapt a plain ``(B, 3, H, W) -> (B, 3, H, W)`` function to the method signature."""

    def enhance(image: Tensor, context: ImageContext) -> Tensor:
        return function(image)

    enhance.__name__ = getattr(function, "__name__", "enhance")
    return enhance


def _single(name: str, function: Callable[[Tensor], Tensor]) -> MethodFactory:
    return lambda options: [Method(name, _context_free(function))]


register_method("dark", _single("dark", baselines.dark))
register_method("auto-gamma", _single("auto-gamma", baselines.auto_gamma))
register_method("oracle", lambda options: [Method("oracle", _oracle, needs_truth=True)])
register_method("hist-eq", _single("hist-eq", baselines.histogram_equalization))
register_method("clahe", _single("clahe", baselines.clahe))
register_method("lime", _single("lime", baselines.lime))

DEFAULT_METHODS: tuple[str, ...] = ("dark", "auto-gamma", "oracle", "hist-eq", "clahe", "lime")


def _register_learned() -> None:
    # The project's CNN/GP rows live in their own module; imported here so that every user of
    # the registry (the CLI, tests) sees them. Their heavy imports stay inside the factories.
    from lowlight.evaluation.learned_methods import register_learned_methods

    register_learned_methods()


_register_learned()
