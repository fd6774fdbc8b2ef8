#!/usr/bin/env bash
# The benchmarks' baseline browser: Debian's full `chromium` package (not the headless shell the
# product uses), driven by plain Playwright with default flags. Installed here, by the benches'
# own set-up step, never by scripts/setup.sh: the product must not depend on it.
#   sudo bash bench/setup-baseline.sh      (root: apt-get)
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "baseline browser present: $(chromium --version 2>/dev/null || echo chromium)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Other jobs may hold the dpkg lock for a while: wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=600 update
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium
echo "baseline browser installed: $(chromium --version)"
