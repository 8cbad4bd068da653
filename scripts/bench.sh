#!/usr/bin/env bash
# Runs duet's whole benchmark set on this machine (loopback only) and prints a table shaped
# like docs/BENCHMARKS.md. Every run is bounded; the set takes about 9 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

scripts/setup.sh --test
if ! command -v wrk >/dev/null; then
  echo "==> wrk (Debian package) for the SSR benchmark"
  if [[ $(id -u) -eq 0 ]]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
  else sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; fi
fi

echo "==> building the release site, server and load generator"
cargo leptos build --release --precompress --split
# Its own target folder: cargo-leptos builds the same crate with other environment variables,
# and sharing one folder would make each build redo the other's work.
cargo build --release --features ssr --example loadgen --target-dir target/bench
LOADGEN=target/bench/release/examples/loadgen

# As many open files as this machine allows (the sessions scenarios need tens of thousands).
ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)
SOURCES=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# The benchmarks measure the machinery, not the abuse limits: those are lifted here. The
# proof of work is off too (DUET_POW_BITS=0 in start_server; a flag overrides it), except in
# its own row, 11.
BENCH_FLAGS=(--message-rate 1e9 --message-burst 1000000000 --next-rate 1e9 --next-burst 1000000000
  --max-connections-per-ip 1000000 --max-connections 1000000 --connections-per-minute 1000000000
  --heartbeat-interval 60s)

# Waits, 20 s at most, until the log file $1 holds a line matching $2. grep stops at the first
# match; tail then dies of SIGPIPE, which is expected.
await_line() { { timeout 20 tail -n +1 -f "$1" || true; } | grep -q -m1 "$2" || true; }

SERVERS_STARTED=0
start_server() {
  # A log and a data folder of its own: two may run at once (the several-nodes benchmark).
  SERVERS_STARTED=$((SERVERS_STARTED + 1))
  local log="$WORK/server-$SERVERS_STARTED.log"
  DUET_POW_BITS=0 LEPTOS_SITE_ADDR=127.0.0.1:0 LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg \
    LEPTOS_OUTPUT_NAME=duet LEPTOS_ENV=PROD RUST_LOG=warn,duet::server=info \
    target/release/duet --data-dir "$WORK/data-$SERVERS_STARTED" "${BENCH_FLAGS[@]}" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  await_line "$log" 'listening on'
  ADDR=$(grep -o 'listening on http://[0-9.:]*' "$log" | sed 's#.*http://##')
  if [[ -z "$ADDR" ]]; then echo "the server did not start:"; cat "$log"; exit 1; fi
  URL="ws://$ADDR/ws"
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }
result() { grep '^RESULT' | tail -1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# A latency field in ms, or "not reached" where too few matched to have that percentile.
ms() { local v; v=$(field "$1" "$2"); [[ "$v" == none ]] && echo "not reached" || echo "$v ms"; }

echo "==> 1. time to match, and 2. the seed's rule simulated"
declare -A MATCH SEED
for n in 10 1000 10000; do
  start_server --interest-wait 1h
  MATCH[$n]=$($LOADGEN match --url "$URL" --waiting "$n" --probes 300 --sources "$SOURCES" | result)
  stop_server
  SEED[$n]=$($LOADGEN seed-sim --searchers "$n" --max-seconds 600 | result)
  echo "   $n: ${MATCH[$n]}"
  echo "   $n: ${SEED[$n]}"
done

echo "==> 3. relay throughput, and latency at half of it, with 10,000 sockets open"
declare -A RELAY_MAX RELAY_HALF
for size in ice sdp; do
  start_server
  RELAY_MAX[$size]=$($LOADGEN relay --url "$URL" --pairs 100 --idle 9800 --size "$size" --seconds 10 --sources "$SOURCES" --server-pid "$SERVER_PID" | result)
  max=$(field msgs_per_s "${RELAY_MAX[$size]}")
  RELAY_HALF[$size]=$($LOADGEN relay --url "$URL" --pairs 100 --idle 9800 --size "$size" --seconds 10 --rate "$((max / 2))" --sources "$SOURCES" --server-pid "$SERVER_PID" | result)
  stop_server
  echo "   $size max:  ${RELAY_MAX[$size]}"
  echo "   $size half: ${RELAY_HALF[$size]}"
done
# The runs above keep up to 64 offers in flight per sender, so both processes take several
# per system call. A page sends one offer and waits for the answer: --window 1 sends that way,
# and its half load is half of what the two cores sustain for such traffic.
start_server
RELAY_PAGE_MAX=$($LOADGEN relay --url "$URL" --pairs 100 --idle 9800 --size sdp --window 1 --seconds 10 --sources "$SOURCES" --server-pid "$SERVER_PID" | result)
max=$(field msgs_per_s "$RELAY_PAGE_MAX")
RELAY_PAGE_HALF=$($LOADGEN relay --url "$URL" --pairs 100 --idle 9800 --size sdp --window 1 --seconds 10 --rate "$((max / 2))" --sources "$SOURCES" --server-pid "$SERVER_PID" | result)
stop_server
echo "   sdp, one in flight, max:  $RELAY_PAGE_MAX"
echo "   sdp, one in flight, half: $RELAY_PAGE_HALF"
# The cross-check: the issue's own kind of client (Node.js and ws, one thread), its shape (500
# pairs, 10,000 sockets), and half of the most it sends.
NODE_LOADGEN=(node scripts/node-loadgen.mjs)
start_server
NODE_RELAY_MAX=$("${NODE_LOADGEN[@]}" relay --url "$URL" --pairs 500 --idle 9000 --seconds 10 --server-pid "$SERVER_PID" | result)
stop_server
start_server
max=$(field msgs_per_s "$NODE_RELAY_MAX")
NODE_RELAY_HALF=$("${NODE_LOADGEN[@]}" relay --url "$URL" --pairs 500 --idle 9000 --seconds 10 --rate "$((max / 2))" --server-pid "$SERVER_PID" | result)
stop_server
echo "   Node.js, max:  $NODE_RELAY_MAX"
echo "   Node.js, half: $NODE_RELAY_HALF"

echo "==> 4. idle sessions held and memory per session (bounded by this machine's open-files limit: $FD_LIMIT)"
IDLE_N=$((FD_LIMIT - 500))
start_server
IDLE=$($LOADGEN idle --url "$URL" --sessions "$IDLE_N" --server-pid "$SERVER_PID" --sources "$SOURCES" | result)
stop_server
echo "   $IDLE"

# Runs the Playwright test named $1 three times and reads the milliseconds it prints after
# "$2: "; sets RUNS and MEDIAN.
# runs N TEST KEY: runs the Playwright test matching TEST N times (each with its own server
# and fresh browsers), collects the numbers it prints after "KEY: ", and takes their median.
runs() {
  mapfile -t RUNS < <(cd end2end && npx playwright test -g "$2" --repeat-each "$1" 2>&1 | sed -n "s/^$3: \([0-9]*\) ms.*/\1/p")
  MEDIAN=$(printf '%s\n' "${RUNS[@]}" | sort -n | sed -n "$(((${#RUNS[@]} + 1) / 2))p")
  echo "   ${RUNS[*]} ms (median $MEDIAN)"
}

echo "==> 5. click-to-video in the browser (9 runs of the Playwright call benchmark)"
runs 9 "click to video" click-to-video
CLICKS=("${RUNS[@]}"); CLICK_MEDIAN=$MEDIAN

echo "==> 6a. navigation to a working Call, CPU 4x slower, 1.6 Mbit/s, 150 ms (5 runs of the Playwright load test)"
runs 5 "cold load" nav-to-call
NAVS=("${RUNS[@]}"); NAV_MEDIAN=$MEDIAN

echo "==> 13. video screening in the browser (Playwright, the real model on the fake camera, CPU 1x and 4x)"
SCREENING=$(cd end2end && npx playwright test tests/screening.spec.ts -g "screening benchmark" 2>&1 | grep '^screening-' || true)
echo "$SCREENING" | sed 's/^/   /'
SCREENING_FILES=$(node -e '
const fs = require("fs"), d = "target/site/screening/", m = JSON.parse(fs.readFileSync(d + "manifest.json"));
const files = [m.worker, m.tf, m.wasmBackend, m.wasm["tfjs-backend-wasm-simd.wasm"], m.model,
  fs.readdirSync(d).find((f) => /^weights\.[0-9a-f]+\.bin$/.test(f))];
const t = [0, 0, 0];
for (const f of files) [f, f + ".gz", f + ".br"].forEach((g, i) => (t[i] += fs.statSync(d + g).size));
const [raw, gz, br] = t.map((v) => (v / 1048576).toFixed(2));
console.log(`${raw} MiB raw, ${gz} MiB gzip, ${br} MiB brotli`);' 2>/dev/null || echo "not built")

echo "==> 6. hydrate bundle"
# What the lobby loads (the wasm, its JavaScript and the split chunks' loader), then the
# moderators' chunk, which only /admin fetches. gzip -9 as the gzip(1) command writes it.
BUNDLE=$(node -e '
const fs = require("fs"), z = require("zlib"), { execFileSync } = require("child_process");
const dir = "target/site/pkg/";
const size = (f) => { const b = fs.readFileSync(dir + f); return [b.length,
  execFileSync("gzip", ["-9", "-c", dir + f], { maxBuffer: 1 << 26 }).length,
  z.brotliCompressSync(b, { params: { [z.constants.BROTLI_PARAM_QUALITY]: 11 } }).length]; };
const row = (name, s) => `| ${name} | ${s.map((v) => (v / 1024).toFixed(1) + " KiB").join(" | ")} |`;
const files = fs.readdirSync(dir);
const lobby = ["duet.wasm", "duet.js", ...files.filter((f) => f.startsWith("__wasm_split") && f.endsWith(".js"))];
let rows = [], total = [0, 0, 0];
for (const f of lobby) { const s = size(f); s.forEach((v, i) => total[i] += v); rows.push(row(f, s)); }
rows.push(row("**the lobby loads**", total));
for (const f of files.filter((f) => f.startsWith("split_") && f.endsWith(".wasm"))) rows.push(row(`${f} (only /admin)`, size(f)));
console.log(rows.join("\n"));')
echo "$BUNDLE"

echo "==> 7. lobby SSR requests per second (wrk, 2 threads, 64 connections, 10 s)"
start_server
WRK=$(wrk -t2 -c64 -d10s --latency "http://$ADDR/")
stop_server
RPS=$(awk '/Requests\/sec/ {print $2}' <<<"$WRK")
WRK_P99=$(awk '$1 == "99%" {print $2}' <<<"$WRK")
echo "   $RPS requests/s, p99 $WRK_P99"

echo "==> 8. two nodes sharing one Redis: cross-node time to match and relay"
REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
await_line "$WORK/redis.log" 'Ready to accept'
NODE_FLAGS=(--redis-url "redis://127.0.0.1:$REDIS_PORT/" --interest-wait 1h)
start_server "${NODE_FLAGS[@]}"; NODE1_PID=$SERVER_PID; NODE1_URL=$URL
start_server "${NODE_FLAGS[@]}"; NODE2_PID=$SERVER_PID; NODE2_URL=$URL
TWO_NODES=(--url "$NODE1_URL" --peer-url "$NODE2_URL" --sources "$SOURCES")
CROSS_MATCH=$($LOADGEN match "${TWO_NODES[@]}" --waiting 1000 --probes 300 | result)
echo "   match: $CROSS_MATCH"
declare -A CROSS_MAX CROSS_HALF
for size in ice sdp; do
  CROSS_MAX[$size]=$($LOADGEN relay "${TWO_NODES[@]}" --pairs 100 --idle 2000 --size "$size" --seconds 10 | result)
  max=$(field msgs_per_s "${CROSS_MAX[$size]}")
  CROSS_HALF[$size]=$($LOADGEN relay "${TWO_NODES[@]}" --pairs 100 --idle 2000 --size "$size" --seconds 10 --rate "$((max / 2))" | result)
  echo "   $size max:  ${CROSS_MAX[$size]}"
  echo "   $size half: ${CROSS_HALF[$size]}"
done
kill "$NODE1_PID" "$NODE2_PID" "$REDIS_PID"; wait "$NODE1_PID" "$NODE2_PID" "$REDIS_PID" 2>/dev/null || true

echo "==> 9. connection storms: every client presses Call as soon as it is greeted, and stays"
# The server holds every storm client's socket, so the largest storm is this machine's
# open-files limit less the server's own files.
STORM_N=$(( FD_LIMIT - 100 < 20000 ? FD_LIMIT - 100 : 20000 ))
start_server
STORM=$($LOADGEN storm --url "$URL" --clients "$STORM_N" --seconds 2 --sources "$SOURCES" --server-pid "$SERVER_PID" | result)
stop_server
echo "   $STORM"
start_server
STEADY=$($LOADGEN storm --url "$URL" --clients 10000 --seconds 10 --sources "$SOURCES" --server-pid "$SERVER_PID" | result)
stop_server
echo "   $STEADY"
# The cross-check from Node.js: the same steady crowd, then the same client against a server
# that does nothing but greet and pair (the client's own floor: its event loop and collector).
start_server
NODE_CROWD=$("${NODE_LOADGEN[@]}" crowd --url "$URL" --clients 10000 --rate 1000 | result)
stop_server
"${NODE_LOADGEN[@]}" null-server --port 0 >"$WORK/null-server.log" 2>&1 &
NULL_PID=$!
await_line "$WORK/null-server.log" 'listening on'
NULL_URL=$(grep -o 'ws://[0-9.:]*/' "$WORK/null-server.log")
NODE_CROWD_NULL=$("${NODE_LOADGEN[@]}" crowd --url "$NULL_URL" --clients 10000 --rate 1000 | result)
kill "$NULL_PID"; wait "$NULL_PID" 2>/dev/null || true
echo "   Node.js against duet:      $NODE_CROWD"
echo "   Node.js against a nothing: $NODE_CROWD_NULL"

echo "==> 10. presence: online counts received at 10,000 online, 50 arrivals a second"
start_server --interest-wait 1h
PRESENCE=$($LOADGEN presence --url "$URL" --sessions 10000 --churn 50 --seconds 30 --sources "$SOURCES" | result)
stop_server
echo "   $PRESENCE"

echo "==> 11. proof of work at the default bits: the server's check, the load generator's and the browser's solving"
POW_BITS=$(target/release/duet --help | sed -n '/--pow-bits </,/default:/ s/.*\[default: \([0-9]*\)\].*/\1/p')
# No extra bits for the load generator's many sockets from one address: the default is measured.
start_server --pow-bits "$POW_BITS" --pow-connects-per-bit 0
PROOF=$($LOADGEN proof --url "$URL" --clients 200 --concurrency 2 --sources "$SOURCES" --server-pid "$SERVER_PID" | result)
stop_server
echo "   $PROOF"
# The browser (the release server at its defaults, as a visitor meets it): five page loads at
# each CPU speed. One solve takes a geometric number of hashes, so the hash rate over all five
# (hashes tried / time spent, slices and yields included) gives the mean time at these bits.
POW_LINES=$(cd end2end && npx playwright test tests/proof.spec.ts -g "proves its work" --repeat-each 5 2>&1 | grep '^pow-' || true)
echo "$POW_LINES" | sed 's/^/   /'
pow_solve() {
  grep "^pow-$1:" <<<"$POW_LINES" | sed -n 's/.* \([0-9]*\) hashes, \([0-9]*\) ms).*/\1 \2/p' |
    awk -v bits="$POW_BITS" '{ h += $1; t += $2 } END { r = h / (t > 0 ? t : 1); printf "%.0f hashes/ms, so %.0f ms on average", r, 2 ^ bits / r }'
}
pow_nav() { grep "^pow-$1:" <<<"$POW_LINES" | sed -n 's/^pow-[0-9]*x: \([0-9]*\) ms.*/\1/p' | sort -n | sed -n 3p; }

cat <<TABLE

## Results ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))

| # | measure | result |
|---|---|---|
| 1 | time to match, 10 searching | p50 $(field p50_ms "${MATCH[10]}") ms, p99 $(field p99_ms "${MATCH[10]}") ms |
| 1 | time to match, 1,000 searching | p50 $(field p50_ms "${MATCH[1000]}") ms, p99 $(field p99_ms "${MATCH[1000]}") ms |
| 1 | time to match, 10,000 searching | p50 $(field p50_ms "${MATCH[10000]}") ms, p99 $(field p99_ms "${MATCH[10000]}") ms |
| 2 | seed's rule, 10 searching | matched $(field matched "${SEED[10]}")/10 in 600 s, p50 $(ms p50_ms "${SEED[10]}"), p99 $(ms p99_ms "${SEED[10]}") |
| 2 | seed's rule, 1,000 searching | matched $(field matched "${SEED[1000]}")/1000 in 600 s, p50 $(ms p50_ms "${SEED[1000]}"), p99 $(ms p99_ms "${SEED[1000]}") |
| 2 | seed's rule, 10,000 searching | matched $(field matched "${SEED[10000]}")/10000 in 600 s, p50 $(ms p50_ms "${SEED[10000]}"), p99 $(ms p99_ms "${SEED[10000]}") |
| 3 | relay, ICE-sized (~200 B), max | $(field msgs_per_s "${RELAY_MAX[ice]}") msg/s |
| 3 | relay, ICE-sized, at half load | $(field msgs_per_s "${RELAY_HALF[ice]}") msg/s, p50 $(field p50_ms "${RELAY_HALF[ice]}") ms, p99 $(field p99_ms "${RELAY_HALF[ice]}") ms, server CPU $(field server_cpu_us_per_msg "${RELAY_HALF[ice]}") µs/msg, load generator $(field loadgen_cpu_us_per_msg "${RELAY_HALF[ice]}") µs/msg |
| 3 | relay, SDP-sized (~3 KB), max | $(field msgs_per_s "${RELAY_MAX[sdp]}") msg/s, server CPU $(field server_cpu_us_per_msg "${RELAY_MAX[sdp]}") µs/msg |
| 3 | relay, SDP-sized, at half load | $(field msgs_per_s "${RELAY_HALF[sdp]}") msg/s, p50 $(field p50_ms "${RELAY_HALF[sdp]}") ms, p99 $(field p99_ms "${RELAY_HALF[sdp]}") ms, server CPU $(field server_cpu_us_per_msg "${RELAY_HALF[sdp]}") µs/msg, load generator $(field loadgen_cpu_us_per_msg "${RELAY_HALF[sdp]}") µs/msg |
| 3 | relay, SDP-sized, one offer in flight per sender (as pages send), max | $(field msgs_per_s "$RELAY_PAGE_MAX") msg/s, server CPU $(field server_cpu_us_per_msg "$RELAY_PAGE_MAX") µs/msg, load generator $(field loadgen_cpu_us_per_msg "$RELAY_PAGE_MAX") µs/msg |
| 3 | relay, SDP-sized, one in flight, at half load | $(field msgs_per_s "$RELAY_PAGE_HALF") msg/s, p50 $(field p50_ms "$RELAY_PAGE_HALF") ms, p99 $(field p99_ms "$RELAY_PAGE_HALF") ms, server CPU $(field server_cpu_us_per_msg "$RELAY_PAGE_HALF") µs/msg, load generator $(field loadgen_cpu_us_per_msg "$RELAY_PAGE_HALF") µs/msg |
| 3 | cross-check from Node.js (ws): relay, SDP-sized, 500 pairs, 10,000 sockets, max | $(field msgs_per_s "$NODE_RELAY_MAX") msg/s, server CPU $(field server_cpu_us_per_msg "$NODE_RELAY_MAX") µs/msg, Node.js $(field loadgen_cpu_us_per_msg "$NODE_RELAY_MAX") µs/msg |
| 3 | cross-check from Node.js: at half of its max | $(field msgs_per_s "$NODE_RELAY_HALF") msg/s, p50 $(field p50_ms "$NODE_RELAY_HALF") ms, p99 $(field p99_ms "$NODE_RELAY_HALF") ms, server CPU $(field server_cpu_us_per_msg "$NODE_RELAY_HALF") µs/msg |
| 4 | idle sessions held | $(field sessions "$IDLE") (the open-files limit here) |
| 4 | resident memory per idle session | $(field per_session_kib "$IDLE") KiB ($(field rss_after_mib "$IDLE") MiB in all) |
| 5 | second Call click to both remote videos playing | median $CLICK_MEDIAN ms (runs: ${CLICKS[*]}) |
| 6 | navigation to a working Call, CPU 4x slower, 1.6 Mbit/s down, 150 ms, cold | median $NAV_MEDIAN ms (runs: ${NAVS[*]}) |
| 7 | lobby SSR | $RPS requests/s, p99 $WRK_P99 |
| 8 | two nodes, one Redis: time to match across nodes, 1,000 searching | p50 $(field p50_ms "$CROSS_MATCH") ms, p99 $(field p99_ms "$CROSS_MATCH") ms |
| 8 | two nodes: relay across nodes, ICE-sized, max | $(field msgs_per_s "${CROSS_MAX[ice]}") msg/s |
| 8 | two nodes: relay across nodes, ICE-sized, at half load | $(field msgs_per_s "${CROSS_HALF[ice]}") msg/s, p50 $(field p50_ms "${CROSS_HALF[ice]}") ms, p99 $(field p99_ms "${CROSS_HALF[ice]}") ms |
| 8 | two nodes: relay across nodes, SDP-sized, max | $(field msgs_per_s "${CROSS_MAX[sdp]}") msg/s |
| 8 | two nodes: relay across nodes, SDP-sized, at half load | $(field msgs_per_s "${CROSS_HALF[sdp]}") msg/s, p50 $(field p50_ms "${CROSS_HALF[sdp]}") ms, p99 $(field p99_ms "${CROSS_HALF[sdp]}") ms |
| 9 | storm: $STORM_N clients within 2 s | $(field matched "$STORM") matched, $(field failed "$STORM") failed, dropped by the kernel $(field listen_drops "$STORM"); time to match p50 $(field match_p50_ms "$STORM") ms, p99 $(field match_p99_ms "$STORM") ms, max $(field match_max_ms "$STORM") ms; handshake p99 $(field handshake_p99_ms "$STORM") ms |
| 9 | steady 1,000 connects a second for 10 s | $(field matched "$STEADY") matched, dropped by the kernel $(field listen_drops "$STEADY"); time to match p50 $(field match_p50_ms "$STEADY") ms, p99 $(field match_p99_ms "$STEADY") ms; handshake p99 $(field handshake_p99_ms "$STEADY") ms |
| 9 | cross-check from Node.js (ws): steady 1,000 connects a second for 10 s | $(field matched "$NODE_CROWD") matched; time to match p50 $(field match_p50_ms "$NODE_CROWD") ms, p99 $(field match_p99_ms "$NODE_CROWD") ms; handshake p99 $(field handshake_p99_ms "$NODE_CROWD") ms. The same client against a server that only greets and pairs: p99 $(field match_p99_ms "$NODE_CROWD_NULL") ms, handshake p99 $(field handshake_p99_ms "$NODE_CROWD_NULL") ms |
| 10 | online counts per client per minute, 10,000 online | lobby $(field lobby_per_client_per_min "$PRESENCE"), searching $(field searching_per_client_per_min "$PRESENCE"), in a call $(field in_call_per_client_per_min "$PRESENCE"); $(field total_msgs_per_s "$PRESENCE") messages/s in all, at most $(field most_per_10ms "$PRESENCE") within 10 ms (mean $(field mean_per_10ms "$PRESENCE")); a newcomer's first count after its greeting: median $(field first_count_p50_ms "$PRESENCE") ms, p90 $(field first_count_p90_ms "$PRESENCE") ms |
| 11 | proof of work, $POW_BITS bits: server | check $(field verify_us "$PROOF") µs (one SHA-256); CPU $(field server_cpu_us_per_client "$PROOF") µs per client from connect to searching, proof included |
| 11 | proof of work: browser, CPU 1x | $(pow_solve 1x); navigation to proof accepted median $(pow_nav 1x) ms |
| 11 | proof of work: browser, CPU 4x slower | $(pow_solve 4x); navigation to proof accepted median $(pow_nav 4x) ms |
| 13 | video screening: files loaded (raw, gzip, brotli as served) | $SCREENING_FILES |
| 13 | video screening, CPU 1x | $(grep '^screening-1x' <<<"$SCREENING" | sed 's/^screening-1x: //') |
| 13 | video screening, CPU 4x slower (the page; see BENCHMARKS) | $(grep '^screening-4x' <<<"$SCREENING" | sed 's/^screening-4x: //') |
| 11 | proof of work: load generator (native, release) | solve mean $(field solve_mean_ms "$PROOF") ms, p50 $(field solve_p50_ms "$PROOF") ms, p99 $(field solve_p99_ms "$PROOF") ms |

Hydrate bundle (6):

| file | raw | gzip -9 | brotli 11 |
|---|---|---|---|
$BUNDLE
TABLE
