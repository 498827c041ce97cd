"""Shared fixtures. Real data lives in ../shared/data (or $BURSTCAP_DATA); tests needing it skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The shared real-data folder: $BURSTCAP_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get("BURSTCAP_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"real data folder {root} is absent (set BURSTCAP_DATA to point at it)")
    return root


@pytest.fixture(autouse=True, scope="session")
def _few_torch_threads() -> None:
    """Tests run on small CPUs: keep torch from oversubscribing them."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(min(2, os.cpu_count() or 1))
