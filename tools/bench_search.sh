#!/usr/bin/env bash
# Gallery search at scale (BENCHMARKS.md "Search"): synthetic L2-normalised 2048-d features with identity
# structure (`occreid bench features`: ROWS/10 identities, noise 1, 1000 queries), then, each a separate
# process under /usr/bin/time -v:
#   exact           occreid search --index exact           (every shard, one at a time)
#   hnsw build      occreid search --index hnsw --recall R  (builds the index beside the gallery; recall of
#                                                            the top 10 against exact search on R queries)
#   hnsw search     occreid search --index hnsw            (the index loaded from disk)
#
#   tools/bench_search.sh [ROWS ...]      (default 100000; the data goes to $WORK, default a temporary folder)
#   env: DIM=2048 QUERIES=1000 RECALL=200 EF=64 EFC=200 (the build's efConstruction) M=16
#        WORK=<folder kept after the run> EXACT_ONLY=1 (no HNSW)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS_LIST="${*:-100000}"
DIM="${DIM:-2048}"
QUERIES="${QUERIES:-1000}"
RECALL="${RECALL:-200}"
EF="${EF:-64}"
EFC="${EFC:-200}"
M="${M:-16}"
cargo build --release -p occreid-cli --quiet
BIN="$PWD/target/release/occreid"
if [ -z "${WORK:-}" ]; then
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
fi
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem/ {print $2}') GB"
echo "== tree: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + uncommitted changes')"

measure() {  # label, command...: the command's JSON summary and its wall time and peak RSS
    local label="$1"; shift
    /usr/bin/time -v "$@" > "$WORK/out.json" 2> "$WORK/time.txt" || { cat "$WORK/time.txt" >&2; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.2f GiB", $2 / 1048576}' "$WORK/time.txt")
    python3 - "$label" "$wall" "$rss" "$WORK/out.json" <<'PY'
import json, sys
label, wall, rss, path = sys.argv[1:5]
d = json.load(open(path))
i, t, r = d["index"], d["timing"], d.get("recall")
parts = [f"{label:12s} wall {wall}, peak RSS {rss}", f"search {t['search_seconds']:.1f} s = {t['per_query_ms']:.2f} ms/query"]
if i["kind"] == "hnsw":
    parts.append(f"index: built now {i['built_now']}, build {i['build_seconds']:.0f} s, load {i['load_seconds']:.1f} s, {i['per_query_ms']:.3f} ms/query at ef {i['ef']}")
if r:
    parts.append(f"recall@1 {r['at1']:.3f} @10 {r['at10']:.3f} on {r['queries']} queries (exact {r['exact_per_query_ms']:.1f} ms/query there)")
print("; ".join(parts))
PY
}

for ROWS in $ROWS_LIST; do
    D="$WORK/r$ROWS"
    echo "== $ROWS x $DIM gallery, $QUERIES queries, $((ROWS / 10)) identities"
    if [ ! -f "$D/gallery/gallery.json" ]; then
        OCCREID_LOG=warn "$BIN" bench features --out "$D" --rows "$ROWS" --dim "$DIM" --ids $((ROWS / 10)) \
            --queries "$QUERIES" --overwrite
    fi
    du -ch "$D"/gallery/shard-*.safetensors | tail -n 1 | sed 's/^/   features on disk: /'
    q=(--query-features "$D/queries.safetensors" --gallery "$D/gallery" --top 10 --json)
    measure exact "$BIN" search "${q[@]}" --index exact
    [ -n "${EXACT_ONLY:-}" ] && continue
    measure "hnsw build (M $M, efC $EFC)" "$BIN" search "${q[@]}" --index hnsw --ef "$EF" --recall "$RECALL" --rebuild-index \
        --hnsw-m "$M" --hnsw-ef-construction "$EFC"
    measure "hnsw search" "$BIN" search "${q[@]}" --index hnsw --ef "$EF"
    du -sh "$D/gallery/hnsw" | sed 's/^/   index on disk: /'
done
