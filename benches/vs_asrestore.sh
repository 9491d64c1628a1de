#!/usr/bin/env bash
# Side-by-side restore benchmark of the restorer against asrestore, on any server, in
# interleaved rounds: for each (shape, --max-async-batches) the tools take turns round after
# round restoring the same generated backup. Every run records wall time, records/s, MB/s
# (backup bytes), client CPU (user+sys of the child, /usr/bin/time), server CPU (asd's
# utime+stime from /proc, when asd runs on this machine), peak RSS and the 1-minute load
# average into one CSV; `benches/report.py` then prints the medians and ratios and draws the
# SVG plot of BENCHMARKS.md.
#
#   eval "$(../shared/rigs/up aerospike)"
#   cargo build --release -p restorer --bin restorer --example asinfo -p benches --example gen_backup
#   benches/vs_asrestore.sh                                  # every part, then the report
#   PARTS=shapes SHAPES=mixed ASYNC=32 ROUNDS=5 benches/vs_asrestore.sh
#   TOOLS="asrestore old=/tmp/restorer-old new=target/release/restorer" PARTS=shapes benches/vs_asrestore.sh
#
# Parts (PARTS, default "shapes validate compression rss"):
#   shapes       SHAPES x ASYNC, every tool in TOOLS; each run restores into a fresh set of its
#                own (the backup's set renamed, same length), truncated afterwards.
#   validate     `--validate` of the RSS_GB[0] mixed backup by every tool.
#   compression  the mixed shapes-size backup as plain, gzip (gzip -6) and zstd (zstd -3)
#                input: restored by the restorer, and by asrestore for plain and zstd (it reads
#                no gzip); plus `--validate` of each by the restorer.
#   rss          mixed backups of RSS_GB GB (default "1 4") restored by the restorer (and by
#                asrestore for the first size when RSS_ASRESTORE=1). Their records reuse
#                RSS_DISTINCT (default 400000) digests cyclically and are restored with
#                --no-generation, so a 4 GB backup rewrites the same ~0.2 GB of records and
#                fits a 4 GiB namespace shared with others.
# Environment: AEROSPIKE_HOSTS (required), NS (target namespace, default bar), SHAPES (default
# "small mixed large_blobs many_bins"), ASYNC (--max-async-batches values given to both tools,
# default "8 32"), BYTES (backup size of the shapes and compression parts, default 150000000),
# ROUNDS (default 3), DIR (default /tmp/vs-asrestore; backups are generated there once and
# kept), OUT (CSV, default $DIR/results.csv; appended to, header written when new), TOOLS
# (space-separated; `asrestore` or NAME=PATH of a restorer binary), RESTORER_ARGS /
# ASRESTORE_ARGS (extra flags). Sets written are named p<3 hex digits> (as long as the generated `demo`) and truncated after
# each run, so concurrent users of the server are not disturbed.
set -euo pipefail
HOSTS=${AEROSPIKE_HOSTS:?set AEROSPIKE_HOSTS (eval "\$(../shared/rigs/up aerospike)")}
NS=${NS:-bar}
PARTS=${PARTS:-"shapes validate compression rss"}
SHAPES=${SHAPES:-"small mixed large_blobs many_bins"}
ASYNC=${ASYNC:-"8 32"}
BYTES=${BYTES:-150000000}
ROUNDS=${ROUNDS:-3}
RSS_GB=${RSS_GB:-"1 4"}
RSS_DISTINCT=${RSS_DISTINCT:-400000}
RSS_ASRESTORE=${RSS_ASRESTORE:-0}
DIR=${DIR:-/tmp/vs-asrestore}
OUT=${OUT:-$DIR/results.csv}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${TOOLS:-"asrestore restorer=$ROOT/target/release/restorer"}
GEN=${GEN:-$ROOT/target/release/examples/gen_backup}
ASINFO=${ASINFO:-$ROOT/target/release/examples/asinfo}
mkdir -p "$DIR"
[[ -s $OUT ]] || echo "part,shape,variant,tool,round,records,bytes,wall_s,rec_per_s,mb_per_s,cpu_s,us_per_rec,srv_cpu_s,rss_kib,load1" > "$OUT"

asd_pid=$(pgrep -x asd | head -1 || true)
asd_cpu() { # clock ticks of asd so far
  if [[ -n $asd_pid && -r /proc/$asd_pid/stat ]]; then awk '{print $14 + $15}' "/proc/$asd_pid/stat"; else echo 0; fi
}
tick=$(getconf CLK_TCK)

# gen SHAPE BYTES [gen_backup flags]: path of a generated backup (made once).
gen() {
  local shape=$1 bytes=$2
  shift 2
  local tag
  tag=$(echo "$*" | tr -d ' -')
  local f=$DIR/$shape-$bytes${tag:+-$tag}.asb
  if [[ ! -s $f ]]; then
    echo "generating $f" >&2
    "$GEN" "$shape" "$bytes" "$f.tmp" --no-keys "$@" >&2
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}
# count FILE: records in a plain backup (cached).
count() {
  [[ -s $1.records ]] || grep -c '^+ d ' "$1" > "$1.records"
  cat "$1.records"
}
src_ns_of() { sed -n 's/^# namespace //p;/^+/q' "$1"; }
new_set() { printf 'p%03x' $(( (RANDOM * 7 + $$ + SECONDS) % 4096 )); }
truncate_set() { "$ASINFO" "$HOSTS" "truncate:namespace=$NS;set=$1" > /dev/null; sleep 2; }

# cmd_for TOOL FILE SRC_NS ASYNC MODE [extra...]: the command line in array CMD.
cmd_for() {
  local tool=$1 file=$2 src_ns=$3 async=$4 mode=$5
  shift 5
  if [[ $tool == asrestore ]]; then
    CMD=(asrestore -i "$file")
    [[ $mode == validate ]] && CMD+=(--validate) || CMD+=(-h "$HOSTS" -n "$src_ns,$NS" --max-async-batches "$async")
    CMD+=("$@" ${ASRESTORE_ARGS:-})
  else
    CMD=("${tool#*=}" -i "$file" --log-format logfmt)
    [[ $mode == validate ]] && CMD+=(--validate) || CMD+=(-h "$HOSTS" -n "$src_ns,$NS" --max-async-batches "$async")
    CMD+=("$@" ${RESTORER_ARGS:-})
  fi
}

# measure PART SHAPE VARIANT NAME ROUND RECORDS BYTES: runs CMD, appends a CSV row, prints it.
measure() {
  local part=$1 shape=$2 variant=$3 name=$4 round=$5 records=$6 bytes=$7
  local log=$DIR/$name.log
  sync
  local s0 s1
  s0=$(asd_cpu)
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f "%e %U %S %M" -o "$DIR/time.txt" "${CMD[@]}" > "$log" 2>&1 || {
    echo "$name failed: ${CMD[*]}"; tail -5 "$log"; exit 1; }
  s1=$(asd_cpu)
  local wall user sys rss
  read -r wall user sys rss < <(tail -1 "$DIR/time.txt")
  local row
  row=$(awk -v p="$part" -v sh="$shape" -v va="$variant" -v n="$name" -v r="$round" \
    -v recs="$records" -v by="$bytes" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
    -v srv=$(( s1 - s0 )) -v tk="$tick" -v ld="$load" 'BEGIN {
      if (w < 0.01) w = 0.01
      printf "%s,%s,%s,%s,%d,%d,%d,%.2f,%.0f,%.1f,%.2f,%.3f,%.2f,%d,%s", p, sh, va, n, r, recs, by,
        w, recs / w, by / w / 1e6, u + s, (u + s) * 1e6 / recs, srv / tk, m, ld }')
  echo "$row" >> "$OUT"
  printf "  %-12s %-12s %-9s %-10s r%-2s %7ss %9s rec/s %7s MB/s %6s us/rec rss %s KiB\n" \
    "$part" "$shape" "$variant" "$name" "$round" "$wall" \
    "$(cut -d, -f9 <<< "$row")" "$(cut -d, -f10 <<< "$row")" "$(cut -d, -f12 <<< "$row")" "$rss"
  if [[ $part != validate ]]; then
    # Every record must have been written: asrestore and the restorer both print this line.
    local inserted
    inserted=$(grep -o 'inserted [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
    local failed
    failed=$(grep -o 'failed [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
    if [[ -n $failed && $failed != 0 ]]; then echo "$name: $failed records failed"; tail -3 "$log"; exit 1; fi
    [[ -z $inserted || $inserted == "$records" || $part == rss ]] || echo "  warning: $name inserted $inserted of $records"
  fi
}

echo "load: $(cat /proc/loadavg); nproc $(nproc); $(uname -srm)"

for part in $PARTS; do
  case $part in
  shapes)
    for shape in $SHAPES; do
      base=$(gen "$shape" "$BYTES")
      records=$(count "$base")
      bytes=$(stat -c %s "$base")
      src_ns=$(src_ns_of "$base")
      echo "shape $shape: $records records, $bytes bytes"
      for async in $ASYNC; do
        for round in $(seq 1 "$ROUNDS"); do
          for tool in $TOOLS; do
            set_name=$(new_set)
            file=$DIR/run.asb
            sed "s/^+ s demo\$/+ s $set_name/" "$base" > "$file"
            cmd_for "$tool" "$file" "$src_ns" "$async" restore
            measure shapes "$shape" "async=$async" "${tool%%=*}" "$round" "$records" "$bytes"
            truncate_set "$set_name"
          done
        done
      done
    done
    rm -f "$DIR/run.asb"
    ;;
  validate)
    gb=${RSS_GB%% *}
    base=$(gen mixed "${gb}000000000" --distinct "$RSS_DISTINCT")
    records=$(count "$base")
    bytes=$(stat -c %s "$base")
    echo "validate: $base, $records records, $bytes bytes"
    for round in $(seq 1 "$ROUNDS"); do
      for tool in $TOOLS; do
        cmd_for "$tool" "$base" "" 0 validate
        measure validate mixed "${gb}GB" "${tool%%=*}" "$round" "$records" "$bytes"
      done
    done
    ;;
  compression)
    base=$(gen mixed "$BYTES")
    records=$(count "$base")
    bytes=$(stat -c %s "$base")
    src_ns=$(src_ns_of "$base")
    set_name=$(new_set)
    plain=$DIR/compression-$BYTES.asb
    [[ -s $plain.gz && -s $plain.zst ]] || {
      sed "s/^+ s demo\$/+ s $set_name/" "$base" > "$plain"
      gzip -6 -c "$plain" > "$plain.gz"
      zstd -q -3 -f -o "$plain.zst" "$plain"
    }
    set_name=$(sed -n '/^+ s /{s/^+ s //p;q}' "$plain")
    echo "compression: $plain ($bytes bytes) gzip $(stat -c %s "$plain.gz") zstd $(stat -c %s "$plain.zst"), set $set_name"
    async=${ASYNC##* }
    for round in $(seq 1 "$ROUNDS"); do
      for tool in $TOOLS; do
        for variant in plain gzip zstd; do
          f=$plain
          extra=()
          case $variant in
          gzip) f=$plain.gz; [[ $tool == asrestore ]] && continue ;;
          zstd) f=$plain.zst; [[ $tool == asrestore ]] && extra=(-z zstd) ;;
          esac
          cmd_for "$tool" "$f" "$src_ns" "$async" restore --no-generation "${extra[@]}"
          measure compression mixed "$variant" "${tool%%=*}" "$round" "$records" "$bytes"
          truncate_set "$set_name"
          if [[ $tool != asrestore ]]; then
            cmd_for "$tool" "$f" "$src_ns" 0 validate
            measure compression mixed "$variant-validate" "${tool%%=*}" "$round" "$records" "$bytes"
          fi
        done
      done
    done
    ;;
  rss)
    set_name=$(new_set)
    files=()
    for gb in $RSS_GB; do
      base=$(gen mixed "${gb}000000000" --distinct "$RSS_DISTINCT")
      f=$DIR/rss-${gb}GB.asb
      [[ -s $f ]] || sed "s/^+ s demo\$/+ s $set_name/" "$base" > "$f"
      files+=("$f")
    done
    set_name=$(sed -n '/^+ s /{s/^+ s //p;q}' "${files[0]}")
    async=${ASYNC##* }
    for round in $(seq 1 "$ROUNDS"); do
      for f in "${files[@]}"; do
        gb=${f##*rss-}
        gb=${gb%GB.asb}
        records=$(count "$f")
        bytes=$(stat -c %s "$f")
        src_ns=$(src_ns_of "$f")
        for tool in $TOOLS; do
          [[ $tool == asrestore && ( $RSS_ASRESTORE != 1 || $f != "${files[0]}" ) ]] && continue
          cmd_for "$tool" "$f" "$src_ns" "$async" restore --no-generation
          measure rss mixed "${gb}GB" "${tool%%=*}" "$round" "$records" "$bytes"
          truncate_set "$set_name"
        done
      done
    done
    ;;
  *) echo "unknown part $part"; exit 2 ;;
  esac
done
echo "load: $(cat /proc/loadavg)"
python3 "$ROOT/benches/report.py" "$OUT" --svg "${SVG:-$DIR/restore-vs-asrestore.svg}"
