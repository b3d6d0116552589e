from __future__ import annotations

import pytest
import torch

from lowlight.baselines import classic as baselines
from lowlight.evaluation import methods as registry
from lowlight.evaluation.methods import (
    DEFAULT_METHODS,
    Method,
    MethodOptions,
    UnknownMethodError,
    available_methods,
    build_methods,
    register_method,
)
from lowlight.protocols import ImageContext, darken_a


def test_baselines_are_registered() -> None:
    assert set(DEFAULT_METHODS) <= set(available_methods())
    built = build_methods(list(DEFAULT_METHODS))
    assert [m.name for m in built] == list(DEFAULT_METHODS)
    assert [m.name for m in built if m.needs_truth] == ["oracle"]


def test_methods_wrap_the_baseline_functions() -> None:
    x = torch.rand(1, 3, 12, 12) * 0.3
    context = ImageContext("a", 0, "x.png", 0, 2.0)
    (method,) = build_methods(["auto-gamma"])
    torch.testing.assert_close(method(x, context), baselines.auto_gamma(x))


def test_unknown_method_lists_known_ones() -> None:
    with pytest.raises(UnknownMethodError, match="unknown method\\(s\\) nope; known: dark, "):
        build_methods(["dark", "nope"])


def test_duplicates_dropped() -> None:
    assert [m.name for m in build_methods(["dark", "dark", "clahe"])] == ["dark", "clahe"]


def test_oracle_uses_the_context() -> None:
    gt = torch.rand(1, 3, 8, 8)
    dark = darken_a(gt, 3.0)
    (oracle,) = build_methods(["oracle"])
    restored = oracle(dark, ImageContext("a", 0, "x", 0, 3.0))
    torch.testing.assert_close(restored, dark.double().pow(1 / 3.0).float())
    with pytest.raises(ValueError, match="oracle needs the true darkening; real.jpg has none"):
        oracle(dark, ImageContext("none", 0, "real.jpg"))


def test_factory_with_k_gives_one_row_per_k(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "METHOD_FACTORIES", dict(registry.METHOD_FACTORIES))

    def factory(options: MethodOptions) -> list[Method]:
        return [Method(f"fake k={k}", lambda x, c, k=k: x * 0 + k / 100) for k in options.k]

    register_method("fake", factory)
    built = build_methods(["fake"], MethodOptions(k=(10, 30)))
    assert [m.name for m in built] == ["fake k=10", "fake k=30"]
    output = built[1](torch.zeros(1, 3, 2, 2), ImageContext("a", 0, "x"))
    assert output.max().item() == pytest.approx(0.3)
    with pytest.raises(ValueError, match="method 'fake' is already registered"):
        register_method("fake", factory)
    register_method("fake", factory, replace=True)
    with pytest.raises(ValueError, match="without commas, got 'a,b'"):
        register_method("a,b", factory)
