"""The method registry: names -> enhancers the evaluation runs.

The built-in rows are a table (:data:`METHOD_FACTORIES`): the classic baselines here, the learned
rows of :mod:`lowlight.evaluation.learned_rows`; importing this module registers nothing else. A
factory takes the run's :class:`MethodOptions` and returns one or more methods: GP methods return
one per value of ``options.k`` (rows "cm k=10", "cm k=30"); baselines ignore ``k``. More rows can
be added with :func:`register_method`, e.g.::

    register_method("mine", lambda options: [Method(f"mine k={k}", make(k)) for k in options.k])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from lowlight.baselines import classic as baselines
from lowlight.evaluation.learned_rows import LEARNED_FACTORIES
from lowlight.evaluation.method import EnhanceFn, Method, MethodFactory, MethodOptions
from lowlight.protocols import ImageContext, invert_darkening

__all__ = [
    "DEFAULT_METHODS", "METHOD_FACTORIES", "EnhanceFn", "Method", "MethodFactory", "MethodOptions",
    "UnknownMethodError", "available_methods", "build_methods", "register_method",
]


class UnknownMethodError(ValueError):
    """A method name that is not registered (a user mistake)."""


def _oracle(image: Tensor, context: ImageContext) -> Tensor:
    if context.gamma is None:
        raise ValueError(f"oracle needs the true darkening; {context.image_name} has none")
    return invert_darkening(image, context.gamma, context.light)


def _context_free(function: Callable[[Tensor], Tensor]) -> EnhanceFn:
    """Adapt a plain ``(B, 3, H, W) -> (B, 3, H, W)`` function to the method signature."""

    def enhance(image: Tensor, context: ImageContext) -> Tensor:
        return function(image)

    enhance.__name__ = getattr(function, "__name__", "enhance")
    return enhance


def _single(name: str, function: Callable[[Tensor], Tensor]) -> MethodFactory:
    return lambda options: [Method(name, _context_free(function))]


#: every registered row: name -> factory, in the order ``--help`` lists them
METHOD_FACTORIES: dict[str, MethodFactory] = {
    "dark": _single("dark", baselines.dark),
    "auto-gamma": _single("auto-gamma", baselines.auto_gamma),
    "oracle": lambda options: [Method("oracle", _oracle, needs_truth=True)],
    "hist-eq": _single("hist-eq", baselines.histogram_equalization),
    "clahe": _single("clahe", baselines.clahe),
    "lime": _single("lime", baselines.lime),
    **LEARNED_FACTORIES,
}

DEFAULT_METHODS: tuple[str, ...] = ("dark", "auto-gamma", "oracle", "hist-eq", "clahe", "lime")


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
