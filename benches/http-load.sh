#!/usr/bin/env bash
# HTTP load benchmark of the tracehound adapters (see "HTTP adapters (wrk)" in BENCHMARKS.md).
#
# For axum and actix-web, runs wrk against a bare hello server and the same server behind
# the tracehound middleware, alternately, in the same run, for two scenarios:
#   a: all clean, GET / with the same request every time;
#   b: every 10th request carries a valid signed injection verdict, each for its own
#      unique query (pre-signed by sign-verdicts, replayed by http/mixed.lua), and the
#      other nine are clean GETs with unique queries.
# Prints the median requests/s and p99 latency of bare and layered servers, their ratios,
# and PASS/FAIL against the targets (layer >= 95 % of bare requests/s and p99 <= 1.1x in
# a; >= 90 % of requests/s in b).
#
# Everything runs on 127.0.0.1. Each server is started on a free port, loaded, stopped
# with SIGTERM (SIGKILL after 10 s) and each wrk run is bounded by `timeout`. Installs wrk
# with apt-get if it is missing (needs root or sudo). About 8 minutes with the defaults
# (2 frameworks x 2 scenarios x 5 rounds x bare and layered, each 2 s warm-up + 8 s).
# Progress goes to stderr, the tables (markdown) to stdout.
#
# Settings (environment variables, defaults in brackets):
#   DURATION [8]       seconds of each measured run
#   WARMUP [2]         seconds of unmeasured load on each new server before its run
#   ROUNDS [5]         measured runs of each server variant per framework and scenario
#   CONNECTIONS [32]   wrk connections
#   WRK_THREADS [1]    wrk threads
#   SERVER_WORKERS [1] server worker threads (tokio workers / actix workers)
#   SERVER_CPUS [0]    CPUs the server is pinned to with taskset (if there are 2 or more)
#   WRK_CPUS [1]       CPUs wrk is pinned to
#   FRAMEWORKS ["axum actix"], SCENARIOS ["a b"]
#   WAIT_QUIET [0]     before loading, wait up to this many seconds (polling every 20 s)
#                      until no rustc or cargo process runs and the machine is idle
#   RESULTS_DIR        keep every wrk output, server log and the results table there
set -euo pipefail

DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
SERVER_WORKERS=${SERVER_WORKERS:-1}
SERVER_CPUS=${SERVER_CPUS:-0}
WRK_CPUS=${WRK_CPUS:-1}
FRAMEWORKS=${FRAMEWORKS:-axum actix}
SCENARIOS=${SCENARIOS:-a b}
WAIT_QUIET=${WAIT_QUIET:-0}

for setting in DURATION WARMUP ROUNDS CONNECTIONS WRK_THREADS SERVER_WORKERS WAIT_QUIET; do
    if ! [[ ${!setting} =~ ^[0-9]+$ ]]; then
        echo "http-load.sh: $setting must be a whole number (got '${!setting}')" >&2
        exit 2
    fi
done
for setting in DURATION ROUNDS CONNECTIONS WRK_THREADS SERVER_WORKERS; do
    if ((${!setting} == 0)); then
        echo "http-load.sh: $setting must be at least 1" >&2
        exit 2
    fi
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
LUA_SCRIPT=$ROOT/benches/http/mixed.lua
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tracehound-http-load.XXXXXX")
RESULTS=$WORK/results.tsv
SERVER_PID=
SERVER_ADDR=
SERVER_LOG=

log() { printf '%s\n' "$*" >&2; }

cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n ${RESULTS_DIR:-} ]]; then
        mkdir -p "$RESULTS_DIR"
        cp -r "$WORK"/. "$RESULTS_DIR"/
        find "$RESULTS_DIR" -name 'flagged-*.txt' -delete
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- wrk ------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    log "wrk is missing: installing it with apt-get"
    SUDO=
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { log "http-load.sh: not root and no sudo: install wrk yourself"; exit 1; }
        SUDO=sudo
    fi
    $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update && $SUDO apt-get install -y wrk; }
fi

# --- binaries -------------------------------------------------------------------------
log "building the release binaries"
cargo build --release --quiet -p tracehound-benches --bin http-bench-server --bin sign-verdicts
SERVER_BIN=$BIN_DIR/http-bench-server
SIGN_BIN=$BIN_DIR/sign-verdicts

# A fresh random secret shared by the servers and the signer.
TRACEHOUND_WAF_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export TRACEHOUND_WAF_SECRET

# --- CPU placement --------------------------------------------------------------------
SERVER_PIN=()
WRK_PIN=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    SERVER_PIN=(taskset -c "$SERVER_CPUS")
    WRK_PIN=(taskset -c "$WRK_CPUS")
    PLACEMENT="server on CPU $SERVER_CPUS, wrk on CPU $WRK_CPUS (taskset)"
else
    PLACEMENT="not pinned"
fi

CLK_TCK=$(getconf CLK_TCK)

# --- waiting for a quiet machine ------------------------------------------------------

# Busy CPU ticks of the whole machine (all CPUs, everything but idle, iowait and steal).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# CPU ticks the hypervisor gave to someone else (steal), all CPUs.
steal_ticks() { awk '/^cpu / { print $9 }' /proc/stat; }

# What keeps the machine busy, if anything: a running rustc or cargo, or more than 20 % of
# one core used over 5 s.
busy_reason() {
    if pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null; then
        echo "rustc or cargo is running"
        return
    fi
    local before after
    before=$(machine_ticks)
    sleep 5
    after=$(machine_ticks)
    if (((after - before) * 100 / CLK_TCK / 5 > 20)); then
        echo "the machine is busy ($(((after - before) * 100 / CLK_TCK / 5)) % of one core)"
    fi
}
if ((WAIT_QUIET > 0)); then
    waited=0
    while reason=$(busy_reason) && [[ -n $reason ]] && ((waited < WAIT_QUIET)); do
        log "$reason: waiting ($waited s of at most $WAIT_QUIET s)"
        sleep 20
        waited=$((waited + 25))
    done
fi
reason=$(busy_reason)
if [[ -n $reason ]]; then
    log "warning: $reason; the figures will be noisy (see the 'other CPU' column)"
fi

# --- helpers --------------------------------------------------------------------------

# The user + system CPU ticks of process $1.
process_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# CPU ticks this shell's waited-for children have used (wrk's, once it is reaped).
children_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }

# start_server FRAMEWORK on|off: sets SERVER_PID, SERVER_ADDR and SERVER_LOG.
start_server() {
    SERVER_LOG=$WORK/server-$1-$2-$RUN_ID.log
    "${SERVER_PIN[@]}" "$SERVER_BIN" --framework "$1" --layer "$2" \
        --addr 127.0.0.1:0 --workers "$SERVER_WORKERS" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    SERVER_ADDR=
    for _ in $(seq 100); do
        SERVER_ADDR=$(sed -n 's|^listening on http://||p' "$SERVER_LOG" | head -n 1)
        [[ -n $SERVER_ADDR ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    log "http-load.sh: the $1 server (layer $2) did not start:"
    cat "$SERVER_LOG" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        log "the server did not stop within 10 s: killing it"
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# The fastest clean rate seen so far (warm-up and scenario a runs): scenario b sends at
# most a tenth of it in flagged requests, and each file holds twice that, so none is ever
# sent twice (mixed.lua counts any that would have been).
CLEAN_RPS=0

# prepare SCENARIO SECONDS: for scenario b, signs a file of flagged requests for the next
# load, with a tag of its own so that every flagged query of the whole run is unique.
prepare() {
    if [[ $1 == b ]]; then
        FLAGGED_FILE=$WORK/flagged-$RUN_ID.txt
        export FLAGGED_FILE WRK_THREADS
        "$SIGN_BIN" $((CLEAN_RPS * $2 / 5 + 1000)) "r$RUN_ID" "$FLAGGED_FILE"
    fi
}

# load SCENARIO SECONDS OUT_FILE: runs wrk against the current server (after prepare).
load() {
    local scenario=$1 seconds=$2 out=$3
    local args=(-t"$WRK_THREADS" -c"$CONNECTIONS" -d"${seconds}s" --timeout 5s --latency)
    if [[ $scenario == b ]]; then
        args+=(-s "$LUA_SCRIPT")
    fi
    timeout $((seconds + 60)) "${WRK_PIN[@]}" wrk "${args[@]}" "http://$SERVER_ADDR/" >"$out"
    if [[ $scenario == b ]]; then
        rm -f "$FLAGGED_FILE"
    fi
    RUN_ID=$((RUN_ID + 1))
}

# wrk_field FILE NAME: one figure of a wrk output (p99 in microseconds).
wrk_field() {
    awk -v name="$2" '
        function us(text,   value) {
            value = text + 0
            if (text ~ /us$/) return value
            if (text ~ /ms$/) return value * 1000
            if (text ~ /m$/) return value * 60000000
            return value * 1000000
        }
        name == "rps" && /^Requests\/sec:/ { print $2; found = 1 }
        name == "p99" && $1 == "99%" { print us($2); found = 1 }
        name == "requests" && $2 == "requests" && $3 == "in" { print $1; found = 1 }
        name == "non2xx" && /Non-2xx or 3xx responses:/ { print $NF; found = 1 }
        name == "errors" && /Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10; found = 1 }
        name == "flagged_sent" && /^flagged-sent:/ { print $2; found = 1 }
        name == "flagged_missing" && /^flagged-missing:/ { print $2; found = 1 }
        END { if (!found) print 0 }' "$1"
}

# stat_field NAME: a counter of the last server's tracehound-stats line (- if none).
stat_field() {
    sed -n "s/^tracehound-stats: .*\\b$1=\\([0-9]*\\).*/\\1/p" "$SERVER_LOG" | grep . || echo -
}

# measure FRAMEWORK SCENARIO on|off ROUND: one server, warmed up, one measured run.
measure() {
    local framework=$1 scenario=$2 layer=$3 round=$4
    local variant=bare
    [[ $layer == on ]] && variant=layer
    start_server "$framework" "$layer"
    if ((WARMUP > 0)); then
        prepare "$scenario" "$WARMUP"
        load "$scenario" "$WARMUP" "$WORK/warmup-$framework-$scenario-$variant-$round.txt"
    fi
    local out=$WORK/wrk-$framework-$scenario-$variant-$round.txt
    local server0 children0 machine0 steal0 server1 children1 machine1 steal1
    prepare "$scenario" "$DURATION"
    server0=$(process_ticks "$SERVER_PID")
    children0=$(children_ticks)
    machine0=$(machine_ticks)
    steal0=$(steal_ticks)
    load "$scenario" "$DURATION" "$out"
    server1=$(process_ticks "$SERVER_PID")
    children1=$(children_ticks)
    machine1=$(machine_ticks)
    steal1=$(steal_ticks)
    stop_server
    if [[ $scenario == a ]] && (($(wrk_field "$out" rps | cut -d. -f1) > CLEAN_RPS)); then
        CLEAN_RPS=$(wrk_field "$out" rps | cut -d. -f1)
    fi

    local rps p99 requests non2xx errors sent missing
    rps=$(wrk_field "$out" rps)
    p99=$(wrk_field "$out" p99)
    requests=$(wrk_field "$out" requests)
    non2xx=$(wrk_field "$out" non2xx)
    errors=$(wrk_field "$out" errors)
    sent=$(wrk_field "$out" flagged_sent)
    missing=$(wrk_field "$out" flagged_missing)
    # Server CPU in % of one core and in microseconds per request, wrk's CPU in % of one
    # core, and "other": the busy CPU time of the machine that neither the server nor wrk
    # were charged for (other processes, and kernel work such as interrupts), and steal:
    # time the hypervisor ran something else on our CPUs.
    local figures
    figures=$(awk -v s=$((server1 - server0)) -v c=$((children1 - children0)) \
        -v m=$((machine1 - machine0)) -v st=$((steal1 - steal0)) -v hz="$CLK_TCK" -v d="$DURATION" -v n="$requests" '
        BEGIN {
            other = m - s - c; if (other < 0) other = 0
            printf "%.0f\t%.2f\t%.0f\t%.0f\t%.0f", 100 * s / hz / d, (n > 0 ? 1e6 * s / hz / n : 0), 100 * c / hz / d, 100 * other / hz / d, 100 * st / hz / d
        }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$framework" "$scenario" "$variant" "$round" "$rps" "$p99" "$requests" "$non2xx" \
        "$errors" "$sent" "$missing" "$figures" "$(stat_field rejected)" \
        "$(stat_field verdicts_accepted)/$(stat_field verdicts_forged)/$(stat_field verdicts_stale)" \
        >>"$RESULTS"
    log "$(tail -n 1 "$RESULTS" | awk -F'\t' '{
        printf "  %-5s %s %-5s round %s: %9.0f req/s, p99 %7.0f us, %d requests, non-2xx %d, socket errors %d, CPU: server %s %% (%s us/req), wrk %s %%, other %s %%, steal %s %%", $1, $2, $3, $4, $5, $6, $7, $8, $9, $12, $13, $14, $15, $16
        if ($2 == "b") printf ", flagged sent %d (missing %d)", $10, $11
        if ($3 == "layer") printf ", server rejected %s, verdicts accepted/forged/stale %s", $17, $18
        printf "\n" }')"
}

# --- calibration ----------------------------------------------------------------------
RUN_ID=0
: >"$RESULTS"
log "wrk: -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency; server: $SERVER_WORKERS worker thread(s); $PLACEMENT"
log "warm-up: 5 s of scenario a on each bare server (also sizes the flagged-request files)"
for framework in $FRAMEWORKS; do
    start_server "$framework" off
    load a 5 "$WORK/calibration-$framework.txt"
    stop_server
    rps=$(wrk_field "$WORK/calibration-$framework.txt" rps)
    rps=${rps%.*}
    log "  $framework bare, scenario a: $rps req/s"
    if ((rps > CLEAN_RPS)); then
        CLEAN_RPS=$rps
    fi
done

# --- measurement ----------------------------------------------------------------------
for framework in $FRAMEWORKS; do
    for scenario in $SCENARIOS; do
        log "$framework, scenario $scenario"
        for round in $(seq "$ROUNDS"); do
            if ((round % 2 == 1)); then order="off on"; else order="on off"; fi
            for layer in $order; do
                measure "$framework" "$scenario" "$layer" "$round"
            done
        done
    done
done

# --- report ---------------------------------------------------------------------------
# median FRAMEWORK SCENARIO VARIANT COLUMN
median() {
    awk -F'\t' -v f="$1" -v s="$2" -v v="$3" -v c="$4" '$1 == f && $2 == s && $3 == v { print $c }' "$RESULTS" |
        sort -g |
        awk '{ x[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print x[(NR + 1) / 2]; else print (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}

# total FRAMEWORK SCENARIO VARIANT COLUMN
total() {
    awk -F'\t' -v f="$1" -v s="$2" -v v="$3" -v c="$4" '$1 == f && $2 == s && $3 == v { t += $c } END { print t + 0 }' "$RESULTS"
}

echo
echo "HTTP load: wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency, $ROUNDS rounds, ${WARMUP} s warm-up per server;"
echo "server: $SERVER_WORKERS worker thread(s); $PLACEMENT. Medians of the rounds."
echo
echo "| framework | scenario | bare req/s | layer req/s | ratio | target | | bare p99 | layer p99 | ratio | target | | server CPU µs/req bare → layer |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for framework in $FRAMEWORKS; do
    for scenario in $SCENARIOS; do
        awk -v f="$framework" -v s="$scenario" \
            -v br="$(median "$framework" "$scenario" bare 5)" -v lr="$(median "$framework" "$scenario" layer 5)" \
            -v bp="$(median "$framework" "$scenario" bare 6)" -v lp="$(median "$framework" "$scenario" layer 6)" \
            -v bc="$(median "$framework" "$scenario" bare 13)" -v lc="$(median "$framework" "$scenario" layer 13)" '
            function ms(us) { return us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%.0f µs", us) }
            BEGIN {
                rr = (br > 0 ? lr / br : 0); pr = (bp > 0 ? lp / bp : 0)
                rmin = (s == "a" ? 0.95 : 0.90)
                rverdict = (rr >= rmin ? "PASS" : "FAIL")
                if (s == "a") { ptarget = "≤ 1.10x"; pverdict = (pr <= 1.10 ? "PASS" : "FAIL") }
                else { ptarget = "none"; pverdict = "" }
                printf "| %s | %s | %.0f | %.0f | %.1f %% | ≥ %d %% | %s | %s | %s | %.2fx | %s | %s | %.2f → %.2f |\n",
                    f, s, br, lr, 100 * rr, 100 * rmin, rverdict, ms(bp), ms(lp), pr, ptarget, pverdict, bc, lc
            }'
    done
done

echo
echo "Spread over the rounds (the same server variant run to run: the noise the ratios sit in):"
echo
echo "| framework | scenario | variant | req/s min – max | p99 min – max |"
echo "|---|---|---|---|---|"
for framework in $FRAMEWORKS; do
    for scenario in $SCENARIOS; do
        for variant in bare layer; do
            awk -F'\t' -v f="$framework" -v s="$scenario" -v v="$variant" '
                $1 == f && $2 == s && $3 == v {
                    if (n == 0 || $5 < rmin) rmin = $5; if (n == 0 || $5 > rmax) rmax = $5
                    if (n == 0 || $6 < pmin) pmin = $6; if (n == 0 || $6 > pmax) pmax = $6
                    n++
                }
                END { if (n) printf "| %s | %s | %s | %.0f – %.0f | %.0f – %.0f µs |\n", f, s, v, rmin, rmax, pmin, pmax }' "$RESULTS"
        done
    done
done

echo
echo "Layer / bare req/s round by round (each pair ran back to back):"
echo
for framework in $FRAMEWORKS; do
    for scenario in $SCENARIOS; do
        awk -F'\t' -v f="$framework" -v s="$scenario" '
            $1 == f && $2 == s { rps[$3, $4] = $5; if ($4 > rounds) rounds = $4 }
            END {
                printf "- %s, scenario %s:", f, s
                for (r = 1; r <= rounds; r++) printf " %.1f %%", 100 * rps["layer", r] / rps["bare", r]
                printf "\n"
            }' "$RESULTS"
    done
done

# summary COLUMN TEXT: median and maximum of a CPU column over the measured runs.
summary() {
    cut -f"$1" "$RESULTS" | sort -g | awk -v what="$2" '
        { x[NR] = $1 }
        END { printf "%s during the measured runs: median %s %%, max %s %% of one core.\n", what, x[int((NR + 1) / 2)], x[NR] }'
}
echo
summary 15 "Other CPU (busy time charged to neither server nor wrk)"
summary 16 "Steal (CPU time the hypervisor gave to other guests)"

if [[ " $SCENARIOS " == *" b "* ]]; then
    echo
    echo "Scenario b, flagged requests in the measured runs (all rounds):"
    echo
    echo "| framework | variant | flagged sent | non-2xx responses | flagged due after the file ran out |"
    echo "|---|---|---|---|---|"
    for framework in $FRAMEWORKS; do
        for variant in bare layer; do
            echo "| $framework | $variant | $(total "$framework" b "$variant" 10) | $(total "$framework" b "$variant" 8) | $(total "$framework" b "$variant" 11) |"
        done
    done
fi

echo
echo "Every run (p99 in µs; CPU in % of one core over the run; 'other' = busy time charged to neither server nor wrk;"
echo "rejected and verdicts accepted/forged/stale as the layered server counted them, warm-up included):"
echo
echo "| framework | scenario | variant | round | req/s | p99 | requests | non-2xx | socket errors | flagged sent | server CPU | server µs/req | wrk CPU | other CPU | steal | rejected | verdicts |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %.0f | %.0f | %s | %s | %s | %s | %s %% | %s | %s %% | %s %% | %s %% | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14, $15, $16, $17, $18 }' "$RESULTS"
