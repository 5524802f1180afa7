#!/usr/bin/env bash
# Builds the shepherd, the launcher and the addon with AddressSanitizer + UndefinedBehaviorSanitizer into
# native/build-sanitize/ (the normal build is untouched) and runs the test suite against them.
# Any sanitizer report fails the run. Usage: scripts/sanitize.sh [vitest args...]
#   npm run sanitize                    # the whole suite
#   npm run sanitize -- test/native     # a part of it
# The ASan runtime is preloaded into node (which is not instrumented) so the addon can load;
# leak detection is off for node processes, whose V8 heap is never freed at exit (the SPAWN
# parser's leak freedom is checked by the fuzzer, npm run fuzz). DROVER_SANITIZE=1 tells tests
# that bound a time that the instrumented binaries are slower.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$root/native/build-sanitize"
rm -rf "$out"
mkdir -p "$out/tree/native" "$out/reports"
cp -r native/binding.gyp native/src "$out/tree/native/"
cp -r shepherd "$out/tree/shepherd"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
nodedir="${DROVER_NODEDIR:-$(dirname "$(dirname "$(command -v node)")")}"
(
  cd "$out/tree/native"
  CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
    node "$root/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="$nodedir" >"$out/build.log" 2>&1 ||
    { tail -40 "$out/build.log"; exit 1; }
)
release="$out/tree/native/build/Release"
for binary in shepherd launcher; do
  if ! ldd "$release/$binary" | grep -q libasan; then
    echo "sanitize: the $binary was not linked with ASan (see $out/build.log)" >&2
    exit 1
  fi
done
npm run build:ts >/dev/null
preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
set +e
DROVER_SHEPHERD="$release/shepherd" DROVER_LAUNCHER_PATH="$release/launcher" DROVER_NATIVE_ADDON="$release/drover_native.node" \
  LD_PRELOAD="$preload" DROVER_SANITIZE=1 \
  ASAN_OPTIONS="detect_leaks=0:log_path=$out/reports/asan:abort_on_error=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$out/reports/ubsan" \
  DROVER_LEAK_CYCLES=200 npx vitest run --testTimeout=120000 --hookTimeout=120000 "$@"
status=$?
set -e
if compgen -G "$out/reports/*" >/dev/null; then
  echo "sanitize: sanitizer reports:" >&2
  for f in "$out"/reports/*; do echo "== $f" >&2; head -60 "$f" >&2; done
  exit 1
fi
if [ "$status" -ne 0 ]; then exit "$status"; fi
echo "sanitize: suite passed under ASan+UBSan with no sanitizer report"
