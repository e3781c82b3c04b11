#!/usr/bin/env bash
# Cold-storage figures (BENCHMARKS.md, "Cold storage"): intercept latency with evacuation on
# and off, evacuation throughput to a local directory (with and without fsync) and to moto
# on 127.0.0.1, and the queue's and spool's memory with the store unreachable.
# Needs moto from ./scripts/test (target/venv). About four minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p tracehound-benches --bin cold-bench
bench=target/release/cold-bench
moto=${TRACEHOUND_MOTO_SERVER:-target/venv/bin/moto_server}
# Every directory the bench writes, removed only at the end: a round right after a mass
# delete would measure ext4 skipping the freed inodes (see BENCHMARKS.md).
TMPDIR=$(mktemp -d "$PWD/target/cold-bench.XXXXXX")
export TMPDIR
moto_pid=
trap 'if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; fi; rm -rf "$TMPDIR"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
for _ in $(seq 1 600); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
done
curl -s -X PUT "http://127.0.0.1:$port/bench" >/dev/null
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

echo "## throughput of 1 KB evidence (median of rounds)"
echo "| store | writers | pieces | rounds | median time | pieces/s | objects/s | objects/s, slowest–fastest round | lost |"
echo "|---|---|---|---|---|---|---|---|---|"
"$bench" throughput local --count 20000 --concurrency 8 --rounds 5
"$bench" throughput local --count 20000 --concurrency 2 --rounds 5
"$bench" throughput local-nosync --count 20000 --concurrency 8 --rounds 5
"$bench" throughput object-store-local --count 20000 --concurrency 8 --rounds 3
"$bench" throughput "s3://bench" --endpoint "http://127.0.0.1:$port" --count 2000 --concurrency 8 --rounds 1
"$bench" throughput "s3://bench" --endpoint "http://127.0.0.1:$port" --count 2000 --concurrency 1 --rounds 1
echo
echo "## intercept at full buffer, evacuation off and on"
"$bench" intercept
echo
echo "## memory with the store unreachable"
"$bench" memory
