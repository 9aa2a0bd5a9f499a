#!/usr/bin/env bash
# Installs, only when missing, what Sluice needs to build, run, test and bench
# on Debian 12. Idempotent and quiet: a machine that has everything runs no apt.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang-format
    librdkafka-dev libjansson-dev libcurl4-openssl-dev libpq-dev libmicrohttpd-dev
    check libsubunit-dev libssl-dev zlib1g-dev libjose-dev
    clang libclang-rt-14-dev
    postgresql postgresql-contrib
    python3 python3-aiosmtpd python3-yaml python3-prometheus-client python3-cryptography curl kcat
    docker-compose
    chromium
)
# npm fetches Swagger UI (GET /docs) at build time and playwright-core for the
# browser tests (tests/browser/), which drive Debian's chromium. A machine
# whose Node.js comes from elsewhere has npm with it, and Debian's npm would
# conflict with that nodejs: ask for the package only when there is no npm.
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [ "${1:-}" = "--bench" ]; then
    packages+=(wrk valgrind python3-fastapi python3-uvicorn python3-confluent-kafka)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists; one update before the first install.
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || [ -n "${SLUICE_APT_UPDATE:-}" ]; then
    $sudo apt-get update -qq >/dev/null
fi
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/sluice-apt.log 2>&1; then
    # Lists may be stale (a package moved to a newer version): refresh once and retry.
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/sluice-apt.log 2>&1 ||
        { tail -n 30 /tmp/sluice-apt.log >&2; exit 1; }
fi
# Debian starts a default cluster on 5432 when postgresql is installed; Sluice
# runs its own throw-away clusters, so the packaged one is not needed.
