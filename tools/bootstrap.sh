#!/usr/bin/env bash
# Install what clformer needs on Debian/Ubuntu (with sudo when not root), then configure and build
# build/. Idempotent: quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  gcc libc6-dev pkg-config meson ninja-build python3   # the build
  ocl-icd-opencl-dev opencl-headers clinfo           # the OpenCL ICD loader and headers
  pocl-opencl-icd                                    # the CPU device (and CI's device)
  libclblast-dev                                     # GEMM
  libjansson-dev                                     # JSON (safetensors headers, --json output)
  check                                              # unit tests
  chromium                                           # the test that opens compare's HTML page
  clang                                              # .ci/run's sanitizer and fuzz build (build-asan/)
  libclang-rt-dev                                    # its libFuzzer and ASan/UBSan runtimes (Debian 12:
                                                     # libclang-rt-14-dev, not pulled in without recommends)
  llvm                                               # llvm-symbolizer: file:line in sanitizer reports
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f build/build.ninja ]; then
  meson setup build
else
  # sources are found by a glob when configuring: pick up files added since
  meson setup --reconfigure build >/dev/null
fi
ninja -C build
