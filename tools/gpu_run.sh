#!/bin/bash
# Build, test and benchmark clformer on a machine with an NVIDIA GPU but no OpenCL set up and no
# package registry (README, "Running on NVIDIA").
#
#   tools/gpu_run.sh fetch        on a Debian 12 machine with a registry: download the packages the
#                                 build needs into .debs/ (ignored by git; carry it to the GPU machine)
#   tools/gpu_run.sh run [OUT]    on the GPU machine, in the checkout: unpack .debs/ into a private
#                                 prefix (never into /), register NVIDIA's OpenCL driver with the ICD
#                                 loader through OCL_ICD_VENDORS, build, run the tests on the GPU, the
#                                 kernel benchmark and the side-by-side benchmark against PyTorch CUDA.
#                                 Logs go to OUT (default gpu-out/): summary.txt first.
#
# Each stage has its own time limit (build 120 s, tests STAGE_S, default 180 s, bench 90 s, PyTorch
# comparison 150 s), so the whole run stays under ten minutes; a stage that fails is recorded and the
# next still runs. GPU_RUN_ICD (a
# driver library) and GPU_RUN_DEVICE (a device selector) stand in for NVIDIA's for a dry run elsewhere.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
debs="$here/.debs"
packages=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers libclblast1 libclblast-dev
          libjansson4 libjansson-dev check libsubunit0 libsubunit-dev clinfo pkgconf pkgconf-bin libpkgconf3)

fetch() {
    mkdir -p "$debs" && cd "$debs" || exit 1
    apt-get download "${packages[@]}" || { echo "gpu_run: apt-get download failed" >&2; exit 1; }
    du -sh "$debs"
}

# Unpack a .deb without dpkg if the machine has none: data.tar.* inside an ar archive.
unpack() {
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$2"; return; fi
    local tmp
    tmp=$(mktemp -d) && (cd "$tmp" && ar x "$1") && tar -xf "$tmp"/data.tar.* -C "$2"
    local rc=$?
    rm -rf "$tmp"
    return $rc
}

run() {
    local out=${1:-$here/gpu-out}
    mkdir -p "$out"
    local sum="$out/summary.txt" prefix=/tmp/clformer-prefix
    : >"$sum"
    note() { echo "$*" | tee -a "$sum"; }
    stage() { # stage NAME LIMIT LOG CMD...: run with a time limit, record the exit status
        local name=$1 limit=$2 log=$3 t0 rc
        shift 3
        t0=$(date +%s)
        timeout -k 10 "$limit" "$@" >>"$log" 2>&1
        rc=$?
        note "stage $name: exit $rc in $(($(date +%s) - t0)) s (log: $(basename "$log"))"
        return $rc
    }
    note "gpu_run on $(hostname), $(date -u +%FT%TZ), $(nproc) cores"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$sum"

    ls "$debs"/*.deb >/dev/null 2>&1 || { note "no packages in $debs: run 'tools/gpu_run.sh fetch' first and carry .debs"; return 1; }
    mkdir -p "$prefix"
    for f in "$debs"/*.deb; do unpack "$f" "$prefix" || note "cannot unpack $f"; done
    local lib=$prefix/usr/lib/x86_64-linux-gnu
    export PATH="$prefix/usr/bin:$PATH" LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PKG_CONFIG_PATH="$lib/pkgconfig:$prefix/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$prefix"
    # pkgconf drops /usr/include and /usr/lib from its flags as system folders: name them to gcc
    export PKG_CONFIG_LIBDIR="$PKG_CONFIG_PATH" C_INCLUDE_PATH="$prefix/usr/include" LIBRARY_PATH="$lib"
    # pkgconf's own library is in the prefix too
    export PKG_CONFIG="$prefix/usr/bin/pkgconf"

    # meson and ninja may be there as Python packages only
    for tool in meson:mesonbuild.mesonmain ninja:ninja; do
        if ! command -v "${tool%%:*}" >/dev/null; then
            printf '#!/bin/sh\nexec python3 -m %s "$@"\n' "${tool#*:}" >"$prefix/usr/bin/${tool%%:*}"
            chmod +x "$prefix/usr/bin/${tool%%:*}"
        fi
    done
    command -v cc >/dev/null || note "no C compiler (cc) on this machine: the build will fail"

    # NVIDIA's OpenCL driver: a library beside the driver; the loader learns of it from a .icd file.
    local icd
    icd=${GPU_RUN_ICD:-}
    [ -n "$icd" ] || icd=$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib -name 'libnvidia-opencl.so*' 2>/dev/null | sort | head -1)
    if [ -z "$icd" ]; then note "no libnvidia-opencl.so found"; else note "NVIDIA OpenCL driver: $icd"; fi
    mkdir -p "$prefix/etc/OpenCL/vendors"
    [ -n "$icd" ] && echo "$icd" >"$prefix/etc/OpenCL/vendors/nvidia.icd"
    export OCL_ICD_VENDORS="$prefix/etc/OpenCL/vendors"
    clinfo -l 2>&1 | tee "$out/clinfo.txt" | tee -a "$sum"
    clinfo >>"$out/clinfo.txt" 2>&1

    local dev=${GPU_RUN_DEVICE:-gpu}
    export CLFORMER_DEVICE=$dev XDG_CACHE_HOME=/tmp/clformer-cache
    cd "$here" || return 1
    stage build 120 "$out/build.log" sh -c 'meson setup --wipe build-gpu -Dbuildtype=release >/dev/null 2>&1 || meson setup build-gpu -Dbuildtype=release; ninja -C build-gpu' || return 1
    build-gpu/clformer devices 2>&1 | tee -a "$sum"
    # test_cli and test_compare need PoCL's two CPU devices, which this machine lacks
    stage tests "${STAGE_S:-180}" "$out/tests.log" meson test -C build-gpu --print-errorlogs --num-processes 8 --timeout-multiplier 2
    grep -E "^(Ok|Fail|Skipped|Timeout|Expected Fail|Unexpected Pass):" "$out/tests.log" | tee -a "$sum"
    grep -E " (FAIL|TIMEOUT) " "$out/tests.log" | tee -a "$sum"
    stage bench 90 "$out/bench.txt" build-gpu/clformer bench --device "$dev"
    stage vs_torch 150 "$out/vs_torch.md" python3 tools/bench_vs_torch.py --clformer build-gpu/clformer --device "$dev" \
        --torch-device cuda --python python3 --rounds 2 --no-startup --json "$out/vs_torch.json"
    note "done $(date -u +%FT%TZ)"
}

case "${1:-}" in
fetch) fetch ;;
run) shift; run "$@" ;;
*) echo "usage: tools/gpu_run.sh fetch | run [OUT]" >&2; exit 2 ;;
esac
