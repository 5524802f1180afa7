#!/usr/bin/env bash
# Installs the Debian packages the tests use as real peers, where they are missing:
#   prometheus    test/telemetry/e2e-prometheus.test.ts (a real server scraping `drover up`)
#   tmux          test/cli/status-view.test.ts (the live footer on a real terminal)
#   redis-server  test/cluster/redis.test.ts (a primary and 2 replicas run by drover)
#   etcd-server   test/network/etcd.test.ts (3 members through drover's relay: a partitioned leader)
#   etcd-client   (etcdctl, for the same test)
#   clang         npm run sanitize and npm run fuzz (ASan/UBSan, libFuzzer); .ci/run uses both
#   libfaketime   test/cluster/clock-fault.test.ts (clock faults: LD_PRELOAD, timestamp-file mode)
#   faketime      its command-line wrapper (handy to try a clock by hand)
#   supervisor    npm run bench, the peers scenario (supervisord as a peer drover is measured against)
# Usage: bash scripts/install-test-deps.sh   (as root, or with sudo available)
set -euo pipefail
# prometheus without its Recommends (they pull in a long tail); the others with them: clang's
# sanitizer and libFuzzer runtimes (libclang-rt-*-dev) are only a Recommends of clang.
lean=()
full=()
command -v prometheus >/dev/null || lean+=(prometheus)
command -v tmux >/dev/null || full+=(tmux)
{ command -v redis-server >/dev/null && command -v redis-cli >/dev/null; } || full+=(redis-server)
command -v clang >/dev/null || full+=(clang)
command -v etcd >/dev/null || lean+=(etcd-server)
command -v etcdctl >/dev/null || lean+=(etcd-client)
{ [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || dpkg -s libfaketime >/dev/null 2>&1; } || full+=(libfaketime)
command -v faketime >/dev/null || full+=(faketime)
command -v supervisord >/dev/null || lean+=(supervisor)
if [ ${#lean[@]} -eq 0 ] && [ ${#full[@]} -eq 0 ]; then
  echo "install-test-deps: nothing missing"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-test-deps: installing ${lean[*]} ${full[*]}"
$sudo apt-get update -qq
if [ ${#lean[@]} -gt 0 ]; then
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
fi
if [ ${#full[@]} -gt 0 ]; then
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${full[@]}" >/dev/null
fi
