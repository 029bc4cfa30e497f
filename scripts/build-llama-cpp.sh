#!/usr/bin/env bash
# Build llama-cpp-python once, portably, and keep the wheel in a cache.
#
# The wheel carries every CPU variant of ggml (x86-64 baseline up to AVX-512/AMX, or the
# ARM ones) and picks the best one for the running CPU at load time, so a wheel built here
# runs on any CPU of the same architecture. The build takes a while on 2 cores; the wheel is
# keyed on this script's content, so `make` rebuilds only when the script changes.
#
# Usage: scripts/build-llama-cpp.sh PYTHON   (prints the wheel's path)
set -euo pipefail

VERSION=0.3.36
PY=${1:-python3}
CACHE=${NEWSDESK_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/newsdesk/wheels}
KEY=$(sha256sum "$0" | cut -c1-12)
OUT="$CACHE/llama-cpp-python-$VERSION-$KEY"

if compgen -G "$OUT/*.whl" >/dev/null; then
    ls "$OUT"/*.whl
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "building llama-cpp-python $VERSION (portable CPU variants); this takes several minutes" >&2
"$PY" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$work" >&2
tar xzf "$work/llama_cpp_python-$VERSION.tar.gz" -C "$work"
src="$work/llama_cpp_python-$VERSION"

# Upstream installs libggml-cpu only; the variant libraries must sit next to libggml too.
cat >>"$src/CMakeLists.txt" <<'CMAKE'
if (LLAMA_BUILD)
    foreach(variant x64 sse42 sandybridge ivybridge piledriver haswell skylakex cannonlake
            cascadelake icelake cooperlake zen4 alderlake sapphirerapids
            armv8.0_1 armv8.2_1 armv8.2_2 armv8.2_3 armv8.6_1 armv8.6_2 armv9.2_1 armv9.2_2)
        llama_cpp_python_install_target(ggml-cpu-${variant})
    endforeach()
endif()
CMAKE

export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON \
 -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
 -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
"$PY" -m pip wheel -q --no-deps "$src" -w "$work/dist" >&2

mkdir -p "$CACHE"
tmp=$(mktemp -d "$CACHE/.partial.XXXXXX")
mv "$work"/dist/*.whl "$tmp/"
rm -rf "$OUT"
mv "$tmp" "$OUT"
ls "$OUT"/*.whl
