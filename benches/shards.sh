#!/usr/bin/env bash
# Shards and resume, measured on this machine with the release binaries:
#  1. records/s of a 4-file backup restored by 1, 2 and 4 restorer processes at once
#     (`--shard i/N`), into one aerospike-test-node process (metadata only, so memory stays
#     small) or, with BENCH_HOSTS=host:port, into that server (it must have room: records reuse
#     BENCH_DISTINCT digests, carry no keys, and are written with --no-generation);
#  2. on one gzipped file of BENCH_MB MiB (default 1024): the time to restore it from zero with --resume, and the
#     time a resumed run takes to reach its checkpoint when the checkpoint is the file's end (the
#     run re-reads and inflates everything and writes nothing).
# Files go to $BENCH_DIR (default /tmp/shards-bench) and are removed at the end unless KEEP=1.
# The machine has few cores shared with the server: the figures are bounded by that; report them
# with `nproc` and the load.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${BENCH_MB:-1024}
DIR=${BENCH_DIR:-/tmp/shards-bench}
DISTINCT=${BENCH_DISTINCT:-200000}
PORT=${BENCH_PORT:-3310}
SHAPE=${BENCH_SHAPE:-mixed}
cargo build --release -q -p restorer -p aerospike-test-node -p benches --example gen_backup
BIN=target/release
mkdir -p "$DIR"
node_pid=
cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT
if [ -n "${BENCH_HOSTS:-}" ]; then
  HOSTS=$BENCH_HOSTS
else
  "$BIN/aerospike-test-node" --port "$PORT" --metadata-only >"$DIR/node.log" 2>&1 &
  node_pid=$!
  HOSTS=127.0.0.1:$PORT
  sleep 1
fi
bytes=$((MB * 1024 * 1024))
part=$((bytes / 4))
mkdir -p "$DIR/parts"
for i in 0 1 2 3; do
  [ -s "$DIR/parts/part-$i.asb" ] || "$BIN/examples/gen_backup" "$SHAPE" "$part" "$DIR/parts/part-$i.asb" --distinct "$DISTINCT" --no-keys 2>"$DIR/gen-$i.log"
done
records=$(awk '{s += $1} END {print s}' "$DIR"/gen-*.log)
echo "backup: 4 files, $(du -sh "$DIR/parts" | cut -f1), $records records; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
for shards in 1 2 4; do
  t0=$(now)
  pids=()
  for ((i = 0; i < shards; i++)); do
    "$BIN/restorer" -h "$HOSTS" -d "$DIR/parts" --no-generation --shard "$i/$shards" \
      --log-format logfmt >"$DIR/shard-$shards-$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "a shard failed: see $DIR/shard-$shards-*.log"; exit 1; }; done
  t1=$(now)
  awk -v n="$records" -v s="$shards" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "%d shard(s): %.1f s, %.0f records/s\n", s, b - a, n / (b - a) }'
done

# Resume: one gzipped file.
big="$DIR/big.asb.gz"
[ -s "$big" ] || cat "$DIR"/parts/part-*.asb | sed '1!{/^Version /d;/^# first-file/d;/^# namespace/d}' | gzip -1 >"$big"
state="$DIR/state.json"
rm -f "$state"
t0=$(now)
"$BIN/restorer" -h "$HOSTS" -i "$big" --no-generation --resume "$state" --log-format logfmt >"$DIR/resume-full.log" 2>&1
t1=$(now)
# The same state with the file not marked done: the resumed run reads and inflates it all and
# skips every record (its checkpoint is the end of the file).
python3 - "$state" <<'EOF'
import json, sys
p = sys.argv[1]
s = json.load(open(p))
for f in s["files"]:
    f["done"] = False
json.dump(s, open(p, "w"))
EOF
t2=$(now)
"$BIN/restorer" -h "$HOSTS" -i "$big" --no-generation --resume "$state" --log-format logfmt >"$DIR/resume-skip.log" 2>&1
t3=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v sz="$(stat -c %s "$big")" 'BEGIN {
  printf "resume, %.0f MB gzip: restore from zero %.1f s; resumed run reaching its checkpoint at the end %.1f s (%.0f%%)\n",
    sz / 1e6, b - a, d - c, 100 * (d - c) / (b - a) }'
grep -h "Expired" "$DIR/resume-full.log" "$DIR/resume-skip.log" | sed 's/^/  /'
