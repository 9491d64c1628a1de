#!/usr/bin/env bash
# Side-by-side restore of one generated backup into a real server by asrestore and by one or
# more restorer binaries, in interleaved rounds: wall time, records/s, client CPU (user+sys of
# the child, /usr/bin/time), server CPU (asd's utime+stime from /proc) and peak RSS; then the
# median of each over the rounds.
#
#   eval "$(../shared/rigs/up aerospike)"
#   cargo build --release -p restorer -p benches --example gen_backup --example asinfo
#   benches/vs_asrestore.sh                       # asrestore vs target/release/restorer
#   TOOLS="asrestore old=/tmp/restorer-old new=target/release/restorer" benches/vs_asrestore.sh
#   RESTORER_ARGS="--batch-size 512 --max-async-batches 8" benches/vs_asrestore.sh
#
# Environment: AEROSPIKE_HOSTS (required), NS (target namespace, default bar), SHAPE (default
# mixed), BYTES (backup size, default 186000000), ROUNDS (default 5), DIR (default
# /tmp/vs-asrestore), TOOLS (space-separated; `asrestore` or NAME=PATH of a restorer binary),
# RESTORER_ARGS / ASRESTORE_ARGS (extra flags). Each run writes a set of its own (the backup's
# set renamed, same length) and truncates it afterwards, so concurrent users of the server
# are not disturbed and no run sees another's records.
set -euo pipefail
HOSTS=${AEROSPIKE_HOSTS:?set AEROSPIKE_HOSTS (eval "\$(../shared/rigs/up aerospike)")}
NS=${NS:-bar}
SHAPE=${SHAPE:-mixed}
BYTES=${BYTES:-186000000}
ROUNDS=${ROUNDS:-5}
DIR=${DIR:-/tmp/vs-asrestore}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${TOOLS:-"asrestore restorer=$ROOT/target/release/restorer"}
GEN=$ROOT/target/release/examples/gen_backup
ASINFO=$ROOT/target/release/examples/asinfo
mkdir -p "$DIR"

base=$DIR/$SHAPE-$BYTES.asb
if [[ ! -s $base ]]; then
  # No user keys: the generated digests are random, and a server checks keys against them.
  "$GEN" "$SHAPE" "$BYTES" "$base.tmp" --no-keys
  mv "$base.tmp" "$base"
fi
src_ns=$(sed -n 's/^# namespace //p;/^+/q' "$base")
records=$(grep -c '^+ d ' "$base")
asd_pid=$(pgrep -x asd | head -1 || true)
asd_cpu() { # clock ticks of asd so far
  if [[ -n $asd_pid ]]; then awk '{print $14 + $15}' "/proc/$asd_pid/stat"; else echo 0; fi
}
tick=$(getconf CLK_TCK)
results=$DIR/results.tsv
: > "$results"
echo "records=$records shape=$SHAPE file=$base ($(stat -c %s "$base") bytes) ns=$src_ns->$NS"
printf "%-10s %5s %8s %10s %9s %9s %9s %8s\n" tool round wall_s rec_per_s cli_cpu_s us_per_rec srv_cpu_s rss_mb
run=0
for round in $(seq 1 "$ROUNDS"); do
  for tool in $TOOLS; do
    run=$((run + 1))
    set_name=$(printf 'v%03x' $(( (RANDOM + run) % 4096 )))
    file=$DIR/run.asb
    sed "s/^+ s demo\$/+ s $set_name/" "$base" > "$file"
    name=${tool%%=*}
    if [[ $tool == asrestore ]]; then
      cmd=(asrestore -h "$HOSTS" -n "$src_ns,$NS" -i "$file" ${ASRESTORE_ARGS:-})
    else
      cmd=("${tool#*=}" -h "$HOSTS" -n "$src_ns,$NS" -i "$file" --log-format logfmt ${RESTORER_ARGS:-})
    fi
    sync
    s0=$(asd_cpu)
    /usr/bin/time -f "%e %U %S %M" -o "$DIR/time.txt" "${cmd[@]}" > "$DIR/$name.log" 2>&1 || {
      echo "$name failed:"; tail -5 "$DIR/$name.log"; exit 1; }
    s1=$(asd_cpu)
    read -r wall user sys rss < "$DIR/time.txt"
    line=$(awk -v n="$name" -v r="$round" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
      -v recs="$records" -v srv=$(( s1 - s0 )) -v tk="$tick" 'BEGIN {
        printf "%-10s %5d %8.2f %10.0f %9.2f %9.2f %9.2f %8.0f\n", n, r, w, recs / w, u + s,
          (u + s) * 1e6 / recs, srv / tk, m / 1024 }')
    echo "$line"
    echo "$line" >> "$results"
    inserted=$(grep -o 'inserted [0-9]*' "$DIR/$name.log" | tail -1 | awk '{print $2}' || true)
    [[ -z $inserted || $inserted == "$records" ]] || echo "  warning: $name inserted $inserted of $records"
    "$ASINFO" "$HOSTS" "truncate:namespace=$NS;set=$set_name" > /dev/null
    sleep 2
  done
done
echo "medians over $ROUNDS rounds:"
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for tool in $TOOLS; do
  name=${tool%%=*}
  cols=()
  for c in 3 4 5 6 7 8; do
    cols+=("$(awk -v n="$name" -v c="$c" '$1 == n { print $c }' "$results" | median)")
  done
  printf "%-10s %5s %8.2f %10.0f %9.2f %9.2f %9.2f %8.0f\n" "$name" med "${cols[@]}"
done
