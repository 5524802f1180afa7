#!/usr/bin/env bash
# Fuzzes the shepherd's SPAWN input (record reassembly and payload parser) with libFuzzer + ASan +
# UBSan (clang from Debian's packages). The harness is shepherd/fuzz/parse-spawn-fuzzer.c.
# Usage: scripts/fuzz-shepherd.sh [seconds]   (default 30; FUZZ_SECONDS overrides)
# Exit status is libFuzzer's: non-zero when it found a crash, leak or sanitizer report, whose
# reproducer it leaves in native/build/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-${FUZZ_SECONDS:-30}}"
out=native/build/fuzz
mkdir -p "$out/corpus"
if ! command -v clang >/dev/null; then
  echo "fuzz-shepherd: clang not found; install it with: apt-get install -y clang" >&2
  exit 1
fi
clang -g -O1 -std=gnu99 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Ishepherd shepherd/fuzz/parse-spawn-fuzzer.c -o "$out/parse-spawn-fuzzer"
# Seed corpus from the TypeScript encoder: each SPAWN as a payload (mode byte 0) and as the record
# stream that carries it (mode byte 1: u16 length + record), in small records so several follow.
node --input-type=module -e '
  import { encodeSpawn, encodeSpawnPayload } from "./dist/native/protocol.js";
  import { writeFileSync } from "node:fs";
  const seeds = [
    { stdio: [1, 0, 0], killGraceMs: 10000, cwd: "/tmp", argv: ["node", "server.js"], env: ["PATH=/usr/bin", "A=1"] },
    { stdio: [0, 1, 1], killGraceMs: 0, cwd: "", argv: ["/bin/true"], env: [] },
    { stdio: [0, 0, 0], killGraceMs: 5, cwd: "/", argv: ["sh", "-c", "echo hi"], env: ["X="] },
    { stdio: [0, 0, 0], killGraceMs: 5, cwd: "", argv: ["bash"], env: ["TERM=xterm"], pty: { columns: 120, rows: 40 },
      pipeSize: 1048576, cgroup: "/sys/fs/cgroup/drover-1/a-1", rlimits: [{ resource: 7, soft: 64, hard: 128 }, { resource: 4, soft: 0, hard: null }] },
  ];
  const framed = (records) => Buffer.concat([Buffer.from([1]), ...records.flatMap((r) => [Buffer.from([r.length & 0xff, r.length >> 8]), r])]);
  seeds.forEach((s, i) => {
    writeFileSync(`'"$out"'/corpus/seed-${i}`, Buffer.concat([Buffer.from([0]), encodeSpawnPayload(s)]));
    writeFileSync(`'"$out"'/corpus/seed-${i}-records`, framed(encodeSpawn(s, 32)));
    writeFileSync(`'"$out"'/corpus/seed-${i}-record`, framed(encodeSpawn(s)));
  });
'
cd "$out"
./parse-spawn-fuzzer -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 corpus
