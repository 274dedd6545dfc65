"""A real headless Chromium for the dashboard tests, and the dashboard as a real process.

Playwright drives Debian's ``chromium`` (``scripts/install_chromium.sh``, called by ``make
setup-full``) through ``executable_path``; it never downloads a browser of its own. Without
Playwright or a Chromium the browser tests are skipped with the reason, never silently passed.

Every process started here is stopped by its own PID; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def missing(reason: str) -> Any:
    """Skip where a developer lacks the browser; fail in CI, whose setup installs it (no silent gaps)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI's setup (make test) must provide it")
    pytest.skip(reason)


def chromium_path() -> str | None:
    for cand in (os.environ.get("AMM500_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and Path(cand).exists():
            return cand
    return None


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright sync API), or skip the test saying what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[dev]')")
    exe = chromium_path()
    if exe is None:
        missing("no chromium: run scripts/install_chromium.sh (make setup-full does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@contextmanager
def child(args: list[str], env: dict[str, str], ready: re.Pattern[str] | None = None,
          timeout_s: float = 300) -> Iterator[tuple[subprocess.Popen[str], list[str], str]]:
    """``python -m amm500 ARGS``; yields (process, its output lines, the first ``ready`` match)."""
    proc = subprocess.Popen([sys.executable, "-m", "amm500", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    lines: list[str] = []
    found = threading.Event()
    match: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = ready.search(line) if ready is not None else None
            if m and not match:
                match.append(m.group(1))
                found.set()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        if ready is not None:
            deadline = time.monotonic() + timeout_s
            while not found.wait(0.2):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{args[0]} did not start:\n" + "".join(lines[-40:]))
        yield proc, lines, match[0] if match else ""
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        t.join(5)


@contextmanager
def dashboard_process(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``amm500 dashboard ARGS --port 0`` as a child process; yields its URL; stops it by its PID."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200", **(env or {})}
    with child(["dashboard", *args, "--port", "0"], full_env, re.compile(r"^dashboard: (http\S+)"), 120) as (_, _, url):
        yield url


def value(page: Any, element_id: str) -> str:
    """The raw figure behind a formatted number on the page (its ``data-value``)."""
    return str(page.get_attribute(f"#{element_id}", "data-value") or "")


def save_screenshot(page: Any, path: Path, name: str) -> Path:
    """Under the test's output; also under $AMM500_SCREENSHOT_DIR when set (how docs/img/ is refreshed)."""
    shot = path / name
    page.screenshot(path=str(shot), full_page=True)
    extra = os.environ.get("AMM500_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(extra) / name)
    return shot


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2600) -> Path:
    """Render ``page`` (a local HTML file, e.g. the backtest report) with its JavaScript run to completion
    and write ``png`` (Chromium's own --screenshot: no Playwright needed for a static page)."""
    exe = chromium_path()
    if exe is None:
        missing("no chromium: run scripts/install_chromium.sh (make setup-full does)")
    png.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
           f"--user-data-dir={png.parent / '.chromium-profile'}", f"--window-size={width},{height}",
           "--virtual-time-budget=15000", f"--screenshot={png}", page.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    shutil.rmtree(png.parent / ".chromium-profile", ignore_errors=True)
    return png
