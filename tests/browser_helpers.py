"""Headless Chromium for tests that look at pages (the HTML backtest report): a screenshot per page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def chromium() -> str | None:
    """The Chromium binary on PATH (``scripts/install_chromium.sh`` installs Debian's), or None."""
    return next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2600) -> Path:
    """Render ``page`` (a local HTML file) with JavaScript run to completion and write ``png``."""
    exe = chromium()
    if exe is None:
        pytest.skip("chromium is not installed (scripts/install_chromium.sh)")
    png.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
           f"--user-data-dir={png.parent / '.chromium-profile'}", f"--window-size={width},{height}",
           "--virtual-time-budget=15000", f"--screenshot={png}", page.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    shutil.rmtree(png.parent / ".chromium-profile", ignore_errors=True)
    return png
