#!/usr/bin/env bash
# Installs Debian's Chromium for the web-page tests (tests/test_web_page.py drive it headless through
# Playwright). Nothing is downloaded by the test tool itself: Playwright is pointed at /usr/bin/chromium.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_test_browser: no apt-get here; install Chromium yourself (or set ASR_CHROMIUM=/path/to/chrome)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install_test_browser: $(chromium --version)"
