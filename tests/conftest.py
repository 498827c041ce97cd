"""Shared fixtures. Real data lives in ../shared/data (or $BURSTCAP_DATA); tests needing it skip."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The shared real-data folder: $BURSTCAP_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get("BURSTCAP_DATA", REPO_ROOT.parent / "shared" / "data"))


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/NAME.py`` (a script folder, not a package) imported as module NAME. It is in
    ``sys.modules`` from before it runs (a dataclass looks its module up while being built)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def settled(name: str = "deblur-rnn", gain: float | None = None) -> Any:
    """An untrained model ready for eval (``deblurnet.inference.untrained_model``, CPU, one thread);
    ``gain`` overrides the residual gains (1.0 makes the network change the image a lot, 0.0 makes it
    return its short input exactly)."""
    from deblurnet.inference import untrained_model

    overrides = {} if gain is None else {"residual_gain": gain}
    return untrained_model(name, device="cpu", threads=1, **overrides)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"real data folder {root} is absent (set BURSTCAP_DATA to point at it)")
    return root


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """One torch thread for the whole suite: its workloads are tiny, where one thread is faster, and
    two OpenMP threads on a busy 2-core machine spin-wait for each other (measured: 0.03 s vs 2 s per
    training step). Tests that time or need threads set their own count and restore it."""
    import torch

    torch.set_num_threads(1)
