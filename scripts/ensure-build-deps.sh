#!/usr/bin/env bash
# Make sure the system libraries that pip needs to build the project's dependencies are present.
# normality (OpenSanctions' name normalisation, used through rigour) depends on PyICU, which PyPI
# ships only as source: building it needs ICU's headers (libicu-dev), pkg-config and a C++ compiler.
# Idempotent: does nothing when pkg-config finds ICU and g++ exists. Installs Debian's packages with
# apt-get only when running as root; otherwise says what to run and exits 1.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists icu-uc icu-i18n && command -v g++ >/dev/null 2>&1; then
  echo "ensure-build-deps: ICU $(pkg-config --modversion icu-uc), pkg-config and g++ found"
  exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
  echo "ensure-build-deps: PyICU (needed by normality) builds from source and needs ICU's headers." >&2
  echo "  Install them first: sudo apt-get install -y libicu-dev pkg-config g++" >&2
  exit 1
fi
echo "ensure-build-deps: installing libicu-dev, pkg-config and g++ (PyICU builds from source)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends libicu-dev pkg-config g++ >/dev/null
echo "ensure-build-deps: ICU $(pkg-config --modversion icu-uc) installed"
