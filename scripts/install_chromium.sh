#!/bin/sh
# Headless Chromium for the browser tests (report screenshots). Skipped when a chromium is already on
# PATH; installed with apt-get as root (or with passwordless sudo); otherwise a note, never a failure:
# the tests that need it skip themselves without it on a developer machine (and fail under CI=true).
set -e
for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1; then
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: no chromium and no apt-get; install Chromium yourself to run the browser tests" >&2
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "note: chromium is missing and installing it needs root: sudo apt-get install chromium" >&2
    exit 0
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
