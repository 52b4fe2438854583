#!/usr/bin/env bash
# bench/run.sh: pg_replication_exporter against Debian's prometheus-postgres-exporter, in one run,
# on real PostgreSQL clusters started here (temp dir, free loopback ports), then a ratio table.
#
# Per case (base; +500 slots; +500 slots and 30 pg_receivewal walsenders; 3 clusters x 3 nodes)
# it measures, for our exporter (one process for every node) and theirs (one process per node):
#   RSS (VmRSS) after warm-up and after load; CPU (utime+stime) per poll round and per scrape;
#   /metrics p50/p99 with Accept-Encoding: gzip (wrk, one connection, as Prometheus scrapes);
#   SQL statements and server time per observation (pg_stat_statements, one role per exporter);
#   database time per minute at each tool's defaults (ours polls every 1 s; theirs per scrape,
#   at an assumed 15 s scrape interval).
#
# Durations via environment (seconds): BENCH_SETTLE (3), BENCH_IDLE (30, the poll-only window:
# keep it a multiple of our poll.slow_interval, 30 s, so that it holds as many slow rounds of
# each node as a minute's share), BENCH_SPACED (20 scrapes 1-1.5 s apart), BENCH_LAT (3, wrk per
# exporter process), BENCH_SCRAPES (20, scrapes per node for the statement count),
# BENCH_WRITE_TPS (5, a light write load on each primary; 0 for none). The whole run (cases and
# scale series) takes about 13 minutes on a quiet 2-core machine.
# BENCH_CASES (default "base slots500 walsenders30 clusters3"; set and empty: none, e.g. for one
# scale step alone), BENCH_KEEP=1 keeps the temp dir.
# Then the scale series of bench/scale.sh (BENCH_SCALE=0 skips it): 3 to 1002 nodes, 0 to 2000
# slots; BENCH_SCALE_NODES (clusters of 3 per step) and BENCH_SCALE_SLOTS pick the steps (set and
# empty: none), so BENCH_CASES= BENCH_SCALE_NODES=334 BENCH_SCALE_SLOTS= runs scale_nodes_1002 alone.
# Everything lands in BENCH_OUT (default bench/out/): results.tsv, load.txt (loadavg and CPU steal
# per case), summary.md (the tables printed at the end) and the gnuplot PNGs.
# BENCH_EXPORTER_BIN skips the release build and uses that binary.
# Needs: PostgreSQL 15 server binaries (PG_BINDIR), postgresql-contrib (pg_stat_statements),
# prometheus-postgres-exporter, wrk, python3; run as root (servers run as `postgres`) or as a
# user that can run initdb.
#
# Why this stays a shell script and is not a Rust bench on tests/harness (issue 11):
#   - Most of what it runs is not ours and is measured from outside: Debian's
#     prometheus-postgres-exporter (one process per node, configured by DATA_SOURCE_NAME), wrk
#     for the latency percentiles, 30 pg_receivewal processes as extra walsenders, pgbench for
#     the write load, psql against pg_stat_statements, and /proc readings of both exporters'
#     process trees (bench/measure.py). A Rust program would be a process launcher around the
#     same tools, as shell is, and would still need wrk and the incumbent installed.
#   - It measures a release build side by side with the incumbent (habit 11); the harness is
#     compiled into the debug-profile integration tests, and `cargo bench` has no place for a
#     run that starts clusters of up to 9 nodes and two kinds of exporter for minutes.
#   - The harness clones standbys without pg_basebackup (the npm builds lack it); this script
#     needs pg_basebackup, pg_receivewal and pgbench from the Debian server package anyway.
# What it shares with the tests by design: clusters on loopback in a temp dir, servers run as
# `postgres` when root, ports from the OS (`measure.py ports N` holds every socket until all are
# picked, as tests/harness/os.rs free_ports does). Converting would cost porting this script
# (about 470 lines) and measure.py (289) with no measurement gained; revisit if wrk and the
# incumbent stop being part of the comparison.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
MEASURE="python3 $HERE/measure.py"
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
THEIRS_BIN=${THEIRS_BIN:-/usr/bin/prometheus-postgres-exporter}
SETTLE=${BENCH_SETTLE:-3}
IDLE=${BENCH_IDLE:-30}
SPACED=${BENCH_SPACED:-20}
LAT=${BENCH_LAT:-3}
SCRAPES=${BENCH_SCRAPES:-20}
WRITE_TPS=${BENCH_WRITE_TPS:-5}
CASES=${BENCH_CASES-"base slots500 walsenders30 clusters3"}
SCALE=${BENCH_SCALE:-1}
OUT=${BENCH_OUT:-$REPO/bench/out}
SLOTS=500
RECEIVERS=30
THEIR_SCRAPE_INTERVAL=15

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for tool in "$PG_BINDIR/initdb" "$PG_BINDIR/pg_ctl" "$PG_BINDIR/pg_basebackup" "$PG_BINDIR/pg_receivewal" "$PG_BINDIR/psql" "$PG_BINDIR/pgbench"; do
    [[ -x $tool ]] || die "missing $tool: install postgresql-15 (or set PG_BINDIR)"
done
[[ -x $THEIRS_BIN ]] || die "missing $THEIRS_BIN: apt-get install prometheus-postgres-exporter"
command -v wrk >/dev/null || die "missing wrk: apt-get install wrk"
command -v gnuplot >/dev/null || die "missing gnuplot: apt-get install gnuplot-nox"
command -v python3 >/dev/null || die "missing python3"
ls /usr/share/postgresql/15/extension/pg_stat_statements.control >/dev/null 2>&1 ||
    die "missing pg_stat_statements: apt-get install postgresql-contrib"

if [[ -n ${BENCH_EXPORTER_BIN:-} ]]; then
    OURS_BIN=$BENCH_EXPORTER_BIN
else
    log "building the release binary"
    (cd "$REPO" && cargo build --release --quiet)
    OURS_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/pg_replication_exporter
fi
[[ -x $OURS_BIN ]] || die "no exporter binary at $OURS_BIN"

W=$(mktemp -d /tmp/pgrepl-bench.XXXXXX)
mkdir -p "$OUT"
chmod 755 "$W"
# In the output directory from the start, so that a run that fails half-way keeps its records.
RESULTS=$OUT/results.tsv
: >"$RESULTS"
# PIDs of everything started here, by role, so that cleanup ends exactly those.
OURS_PID=""
THEIRS_PIDS=()
RECEIVER_PIDS=()
LOAD_PIDS=()
DATADIRS=()

as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

cleanup() {
    set +e
    [[ -n $OURS_PID ]] && kill "$OURS_PID" 2>/dev/null
    for pid in "${THEIRS_PIDS[@]}" "${RECEIVER_PIDS[@]}" "${LOAD_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    for d in "${DATADIRS[@]}"; do
        as_pg "$PG_BINDIR/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
    done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $W"
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_at() { # port sql (from stdin when sql is "-")
    local port=$1 sql=$2
    if [[ $sql == - ]]; then
        "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres
    else
        "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$sql"
    fi
}

rec() { echo "$1 $2 $3 $4" >>"$RESULTS"; }
calc() { python3 -c "print(f'{($1):.6f}')"; }
# CPU spent between two `measure.py cpu` readings, in ms: the scheduler's nanosecond figure,
# unless a thread exited in between (then it undercounts and disagrees with utime+stime by more
# than the clock-tick resolution) and the tick-based figure is the better one.
cpu_delta() { # "stat0 sched0" "stat1 sched1"
    python3 - "$1" "$2" <<'PY'
import sys
s0, n0 = map(float, sys.argv[1].split())
s1, n1 = map(float, sys.argv[2].split())
ds, dn = s1 - s0, n1 - n0
print(f"{dn if dn >= 0 and abs(dn - ds) <= 20 + 0.1 * ds else ds:.3f}")
PY
}
# For wait_for: the query's single value equals the expected one (evaluated on every try).
value_is() { # port sql expected
    [[ $(psql_at "$1" "$2") == "$3" ]]
}
newpass() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

wait_for() { # seconds description command...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            # What the primaries saw is usually why: dump it with the failure.
            for ((k = 1; k <= ${NCLUSTERS:-1}; k++)); do
                [[ -n ${PORT[$k,primary]:-} ]] || continue
                echo "bench: pg_stat_replication on c$k:" >&2
                psql_at "${PORT[$k,primary]}" "SELECT application_name, state, sent_lsn, replay_lsn FROM pg_stat_replication" >&2 || true
            done
            die "timed out waiting for $what"
        fi
        sleep 0.2
    done
}

OURS_PW=$(newpass)
THEIRS_PW=$(newpass)
printf '%s\n' "$OURS_PW" >"$W/ours.pw"
chmod 600 "$W/ours.pw"

# Cluster k: ports in PORTS_k (primary standby1 standby2).
declare -A PORT
start_node() { # datadir port
    as_pg "$PG_BINDIR/pg_ctl" -D "$1" -l "$1.log" -o "-p $2" -w -t 60 start >/dev/null ||
        die "start $1 failed: $(tail -5 "$1.log")"
}

start_cluster() { # k
    local k=$1 base=$W/c$1 p
    local -a ps
    mkdir -p "$base"
    [[ $(id -u) -ne 0 ]] || chown postgres: "$base"
    mapfile -t ps < <($MEASURE ports 3)
    PORT[$k,primary]=${ps[0]}
    PORT[$k,standby1]=${ps[1]}
    PORT[$k,standby2]=${ps[2]}
    p=${ps[0]}
    as_pg "$PG_BINDIR/initdb" -D "$base/primary" -U postgres -A trust --no-sync -E UTF8 --locale=C >/dev/null
    cat >>"$base/primary/postgresql.conf" <<EOF
# bench/run.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$base'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_planning = on
pg_stat_statements.max = 5000
wal_level = replica
max_wal_senders = 40
max_replication_slots = 2200
# The scale series points 1002 sessions at c1's three servers (334 each).
max_connections = 1100
hot_standby = on
wal_receiver_status_interval = 1s
shared_buffers = 32MB
fsync = off
logging_collector = off
EOF
    # The exporters' roles authenticate with passwords (scram), like in production; the harness
    # itself connects as the superuser without one.
    cat >"$base/primary/pg_hba.conf" <<EOF
local all all trust
host all postgres 127.0.0.1/32 trust
host replication postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
EOF
    DATADIRS+=("$base/primary")
    start_node "$base/primary" "$p"
    # The passwords go through stdin, and utility statements are not tracked here, so they
    # reach neither the process list nor pg_stat_statements.
    psql_at "$p" - <<EOF
SET pg_stat_statements.track_utility = off;
CREATE EXTENSION pg_stat_statements;
CREATE ROLE bench_ours LOGIN PASSWORD '$OURS_PW' IN ROLE pg_monitor;
CREATE ROLE bench_theirs LOGIN PASSWORD '$THEIRS_PW' IN ROLE pg_monitor;
CREATE TABLE bench_load (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
EOF
    for s in standby1 standby2; do
        as_pg "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$p" -U postgres -D "$base/$s" \
            -R -S "$s" -C -X stream -c fast --no-sync >/dev/null 2>&1 || die "pg_basebackup $s failed"
        # The WAL receiver introduces itself with cluster_name: the standby's node name.
        echo "cluster_name = '$s'" >>"$base/$s/postgresql.conf"
        DATADIRS+=("$base/$s")
        start_node "$base/$s" "${PORT[$k,$s]}"
    done
    wait_for 60 "c$k standbys streaming" \
        value_is "$p" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2
    if ((WRITE_TPS > 0)); then
        echo "INSERT INTO bench_load DEFAULT VALUES;" >"$W/load.sql"
        "$PG_BINDIR/pgbench" -n -h 127.0.0.1 -p "$p" -U postgres -R "$WRITE_TPS" -T 36000 \
            -f "$W/load.sql" postgres >"$W/load$k.log" 2>&1 &
        LOAD_PIDS+=($!)
    fi
    log "cluster c$k up: ports $p ${PORT[$k,standby1]} ${PORT[$k,standby2]}"
}

NODES=(primary standby1 standby2)
NCLUSTERS=1

ours_config() { # port
    {
        printf '[web]\nlisten_address = "127.0.0.1:%s"\n' "$1"
        for ((k = 1; k <= NCLUSTERS; k++)); do
            printf '\n[[cluster]]\nname = "c%s"\nuser = "bench_ours"\npassword_file = "%s"\nsslmode = "disable"\n' "$k" "$W/ours.pw"
            for n in "${NODES[@]}"; do
                printf '\n[[cluster.node]]\nname = "%s"\nhost = "127.0.0.1"\nport = %s\n' "$n" "${PORT[$k,$n]}"
            done
        done
    } >"$W/ours.toml"
}

OURS_URL=""
THEIRS_URLS=()
start_exporters() {
    local -a ps
    mapfile -t ps < <($MEASURE ports $((1 + 3 * NCLUSTERS)))
    ours_config "${ps[0]}"
    "$OURS_BIN" --config.file="$W/ours.toml" --log.level=warn >"$W/ours.log" 2>&1 &
    OURS_PID=$!
    OURS_URL="http://127.0.0.1:${ps[0]}/metrics"
    THEIRS_PIDS=()
    THEIRS_URLS=()
    local i=1
    for ((k = 1; k <= NCLUSTERS; k++)); do
        for n in "${NODES[@]}"; do
            DATA_SOURCE_NAME="postgresql://bench_theirs:$THEIRS_PW@127.0.0.1:${PORT[$k,$n]}/postgres?sslmode=disable" \
                "$THEIRS_BIN" --web.listen-address="127.0.0.1:${ps[$i]}" >"$W/theirs_c${k}_$n.log" 2>&1 &
            THEIRS_PIDS+=($!)
            THEIRS_URLS+=("http://127.0.0.1:${ps[$i]}/metrics")
            i=$((i + 1))
        done
    done
    wait_for 30 "our exporter ready" curl -sf "http://127.0.0.1:${ps[0]}/ready"
    for u in "${THEIRS_URLS[@]}"; do
        wait_for 30 "their exporter at $u" curl -sf -o /dev/null "$u"
    done
}

stop_exporters() {
    kill "$OURS_PID" "${THEIRS_PIDS[@]}" 2>/dev/null || true
    wait "$OURS_PID" "${THEIRS_PIDS[@]}" 2>/dev/null || true
    OURS_PID=""
    THEIRS_PIDS=()
}

all_ports() {
    for ((k = 1; k <= NCLUSTERS; k++)); do
        for n in "${NODES[@]}"; do echo "${PORT[$k,$n]}"; done
    done
}

pss_reset() {
    for p in $(all_ports); do psql_at "$p" "SELECT pg_stat_statements_reset()" >/dev/null; done
}

# Sums over every node: "calls plan_ms exec_ms main_calls" for one role; main_calls counts our
# poll statement (the one that builds the JSON document).
pss_read() { # role
    local c=0 pl=0 ex=0 mc=0 row
    for p in $(all_ports); do
        row=$(psql_at "$p" "SELECT coalesce(sum(s.calls),0), coalesce(sum(s.total_plan_time),0),
            coalesce(sum(s.total_exec_time),0),
            coalesce(sum(s.calls) FILTER (WHERE s.query LIKE '%json_build_object%'),0)
            FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = '$1'" | tr '|' ' ')
        read -r a b d e <<<"$row"
        c=$(calc "$c + $a"); pl=$(calc "$pl + $b"); ex=$(calc "$ex + $d"); mc=$(calc "$mc + $e")
    done
    echo "$c $pl $ex $mc"
}

# Mean of our primary statement's plan+exec time on cluster 1, over the current pss window.
pss_ours_primary_stmt_ms() {
    psql_at "${PORT[1,primary]}" "SELECT round(((sum(s.total_plan_time) + sum(s.total_exec_time)) / nullif(sum(s.calls), 0))::numeric, 4)
        FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
        WHERE r.rolname = 'bench_ours' AND s.query LIKE '%json_build_object%'"
}

# "total steal" jiffies of all CPUs, from /proc/stat.
cpu_jiffies() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9}' /proc/stat; }

measure_case() { # case
    local case=$1 ntheirs=${#THEIRS_PIDS[@]}
    local j0 s0 j1 s1
    read -r j0 s0 <<<"$(cpu_jiffies)"
    local load0
    load0=$(cut -d' ' -f1 /proc/loadavg)
    log "case $case: settling ${SETTLE}s"
    sleep "$SETTLE"
    rec "$case" meta theirs_procs "$ntheirs"
    # Warm-up: a few scrapes of every exporter, so that both have built their first response.
    $MEASURE scrape "$OURS_URL" 3
    for u in "${THEIRS_URLS[@]}"; do $MEASURE scrape "$u" 3; done
    rec "$case" ours rss_warm_kb "$($MEASURE rss "$OURS_PID")"
    rec "$case" theirs rss_warm_kb "$($MEASURE rss "${THEIRS_PIDS[@]}")"

    # Our primary's poll duration as the exporter reports it: median of three rounds.
    local polls=()
    for _ in 1 2 3; do
        polls+=("$($MEASURE metric "$OURS_URL" pg_replication_poll_duration_seconds 'cluster="c1",node="primary"')")
        sleep 1.05
    done
    rec "$case" ours poll_ms "$(python3 -c "import statistics,sys; print(statistics.median(map(float, sys.argv[1:])) * 1000)" "${polls[@]}")"

    # Poll-only window: ours polls by itself, nobody scrapes.
    log "case $case: poll-only window ${IDLE}s"
    pss_reset
    local o0 t0 o1 t1 r
    o0=$($MEASURE cpu "$OURS_PID")
    t0=$($MEASURE cpu "${THEIRS_PIDS[@]}")
    sleep "$IDLE"
    o1=$($MEASURE cpu "$OURS_PID")
    t1=$($MEASURE cpu "${THEIRS_PIDS[@]}")
    read -r calls plan exec main <<<"$(pss_read bench_ours)"
    local nodes=$((3 * NCLUSTERS))
    local rounds
    rounds=$(calc "$main / $nodes")
    [[ $(calc "$rounds > 0") != 0.000000 ]] || die "our exporter made no poll in ${IDLE}s"
    local cpu_poll od td
    od=$(cpu_delta "$o0" "$o1")
    td=$(cpu_delta "$t0" "$t1")
    # Ratios are per observation of ONE cluster (its three nodes): ours polls every cluster in a
    # round and serves them all in one scrape, theirs scrapes three processes per cluster.
    cpu_poll=$(calc "$od / $rounds / $NCLUSTERS")
    rec "$case" ours cpu_poll_round_ms "$(calc "$od / $rounds")"
    rec "$case" ours cpu_poll_ms "$cpu_poll"
    rec "$case" ours stmts_obs "$(calc "$calls / $rounds / $NCLUSTERS")"
    rec "$case" ours server_ms_obs "$(calc "($plan + $exec) / $rounds / $NCLUSTERS")"
    rec "$case" ours db_ms_min "$(calc "($plan + $exec) / $rounds * 60 / $NCLUSTERS")"
    rec "$case" ours stmt_ms "$(pss_ours_primary_stmt_ms)"
    local ours_idle_rate theirs_idle_rate out req p50 p99 pmax secs
    ours_idle_rate=$(calc "$od / $IDLE")
    theirs_idle_rate=$(calc "$td / $IDLE")

    # Their statements: SCRAPES sequential scrapes of every node's exporter.
    log "case $case: $SCRAPES scrapes of each of their $ntheirs exporters"
    pss_reset
    for u in "${THEIRS_URLS[@]}"; do $MEASURE scrape "$u" "$SCRAPES"; done
    read -r calls plan exec main <<<"$(pss_read bench_theirs)"
    # One observation of a cluster = one scrape of each of its 3 nodes' exporters.
    local obs=$((SCRAPES * NCLUSTERS))
    rec "$case" theirs stmts_obs "$(calc "$calls / $obs")"
    rec "$case" theirs server_ms_obs "$(calc "($plan + $exec) / $obs")"
    rec "$case" theirs db_ms_min "$(calc "($plan + $exec) / $obs * 60 / $THEIR_SCRAPE_INTERVAL")"

    # Latency as Prometheus scrapes: one at a time, spaced, most the first after a poll round.
    log "case $case: $SPACED spaced scrapes of ours"
    read -r p50 p99 pmax <<<"$($MEASURE spaced "$OURS_URL" "$SPACED" 1.0)"
    rec "$case" ours spaced_p50_ms "$p50"
    rec "$case" ours spaced_p99_ms "$p99"

    # Latency under back-to-back scrapes (one connection), and CPU per scrape from the same run.
    log "case $case: wrk ${LAT}s on ours and on each of theirs"
    o0=$($MEASURE cpu "$OURS_PID")
    wrk -t1 -c1 -d"${LAT}s" --latency -H 'Accept-Encoding: gzip' "$OURS_URL" >"$W/wrk_ours_$case.txt"
    o1=$($MEASURE cpu "$OURS_PID")
    read -r req p50 p99 secs <<<"$($MEASURE wrk "$W/wrk_ours_$case.txt")"
    rec "$case" ours p50_ms "$p50"
    rec "$case" ours p99_ms "$p99"
    local ours_scrape
    ours_scrape=$(calc "max(0.0, $(cpu_delta "$o0" "$o1") - $ours_idle_rate * $secs) / $req")
    rec "$case" ours cpu_scrape_round_ms "$ours_scrape"
    rec "$case" ours cpu_scrape_ms "$(calc "$ours_scrape / $NCLUSTERS")"
    rec "$case" ours cpu_obs_ms "$(calc "$ours_scrape / $NCLUSTERS + $cpu_poll")"
    # The same without gzip: how much of our latency is compression.
    wrk -t1 -c1 -d"${LAT}s" --latency "$OURS_URL" >"$W/wrk_ours_plain_$case.txt"
    read -r req p50 p99 secs <<<"$($MEASURE wrk "$W/wrk_ours_plain_$case.txt")"
    rec "$case" ours p50_plain_ms "$p50"
    rec "$case" ours p99_plain_ms "$p99"
    local i=0 sum_cpu=0 max50=0 max99=0 idle_each
    idle_each=$(calc "$theirs_idle_rate / $ntheirs")
    for u in "${THEIRS_URLS[@]}"; do
        local pid=${THEIRS_PIDS[$i]}
        t0=$($MEASURE cpu "$pid")
        wrk -t1 -c1 -d"${LAT}s" --latency -H 'Accept-Encoding: gzip' "$u" >"$W/wrk_theirs_${case}_$i.txt"
        t1=$($MEASURE cpu "$pid")
        read -r req p50 p99 secs <<<"$($MEASURE wrk "$W/wrk_theirs_${case}_$i.txt")"
        sum_cpu=$(calc "$sum_cpu + max(0.0, $(cpu_delta "$t0" "$t1") - $idle_each * $secs) / $req")
        max50=$(calc "max($max50, $p50)")
        max99=$(calc "max($max99, $p99)")
        i=$((i + 1))
    done
    # Per cluster observation: one scrape of each of a cluster's three exporters.
    rec "$case" theirs cpu_scrape_ms "$(calc "$sum_cpu / $NCLUSTERS")"
    rec "$case" theirs cpu_obs_ms "$(calc "$sum_cpu / $NCLUSTERS")"
    rec "$case" theirs p50_ms "$max50"
    rec "$case" theirs p99_ms "$max99"

    rec "$case" ours rss_load_kb "$($MEASURE rss "$OURS_PID")"
    rec "$case" theirs rss_load_kb "$($MEASURE rss "${THEIRS_PIDS[@]}")"
    local n b g sn=0 sg=0
    read -r n b g <<<"$($MEASURE series "$OURS_URL")"
    rec "$case" ours series "$n"
    rec "$case" ours gz_kb "$g"
    for u in "${THEIRS_URLS[@]}"; do
        read -r n b g <<<"$($MEASURE series "$u")"
        sn=$((sn + n))
        sg=$((sg + g))
    done
    rec "$case" theirs series "$sn"
    rec "$case" theirs gz_kb "$sg"
    read -r j1 s1 <<<"$(cpu_jiffies)"
    echo "$case: loadavg(1m) $load0 -> $(cut -d' ' -f1 /proc/loadavg), steal $(calc "100.0 * ($s1 - $s0) / max(1, $j1 - $j0)")%;" >>"$W/load.txt"
}

add_slots() {
    psql_at "${PORT[1,primary]}" "SELECT count(pg_create_physical_replication_slot('bench_slot_' || lpad(i::text, 4, '0'), true))
        FROM generate_series(1, $SLOTS) i" >/dev/null
}

add_receivers() {
    local p=${PORT[1,primary]} i name
    for ((i = 1; i <= RECEIVERS; i++)); do
        name=$(printf 'receivewal_%02d' "$i")
        psql_at "$p" "SELECT pg_create_physical_replication_slot('$name', true)" >/dev/null
        mkdir -p "$W/rw/$name"
        "$PG_BINDIR/pg_receivewal" -d "host=127.0.0.1 port=$p user=postgres application_name=$name" \
            -D "$W/rw/$name" --slot="$name" -n --no-sync >"$W/rw/$name.log" 2>&1 &
        RECEIVER_PIDS+=($!)
    done
    wait_for 60 "$RECEIVERS pg_receivewal walsenders" \
        value_is "$p" "SELECT count(*) FROM pg_stat_replication WHERE application_name LIKE 'receivewal_%' AND state = 'streaming'" "$RECEIVERS"
}

drop_scale() {
    # (A bare `wait` would wait for the write load too.)
    if ((${#RECEIVER_PIDS[@]} > 0)); then
        kill "${RECEIVER_PIDS[@]}" 2>/dev/null || true
        wait "${RECEIVER_PIDS[@]}" 2>/dev/null || true
    fi
    RECEIVER_PIDS=()
    wait_for 30 "pg_receivewal walsenders gone" \
        value_is "${PORT[1,primary]}" "SELECT count(*) FROM pg_stat_replication WHERE application_name LIKE 'receivewal_%'" 0
    psql_at "${PORT[1,primary]}" "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots
        WHERE slot_name LIKE 'bench_slot_%' OR slot_name LIKE 'receivewal_%'" >/dev/null
}

log "work dir $W"
start_cluster 1
for case in $CASES; do
    case $case in
    base) ;;
    slots500) add_slots ;;
    walsenders30)
        [[ $(psql_at "${PORT[1,primary]}" "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'bench_slot_%'") == "$SLOTS" ]] || add_slots
        add_receivers
        ;;
    clusters3)
        drop_scale
        stop_exporters
        start_cluster 2
        start_cluster 3
        NCLUSTERS=3
        ;;
    *) die "unknown case $case" ;;
    esac
    # Fresh exporters for the first case and after the cluster count changes; the others keep
    # running so that their memory after the previous case carries over, as in production.
    [[ -n $OURS_PID ]] || start_exporters
    measure_case "$case"
done
if [[ $SCALE == 1 ]]; then
    # shellcheck source=bench/scale.sh
    source "$HERE/scale.sh"
    run_scale
fi

echo
echo "## pg_replication_exporter vs prometheus-postgres-exporter ($("$THEIRS_BIN" --version 2>&1 | head -1 | awk '{print $3}'))"
echo
echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}')"
echo "Load while measuring: $(cat "$W/load.txt" 2>/dev/null | tr '\n' ' ')"
echo "Windows: poll-only ${IDLE}s, $SPACED spaced scrapes, wrk ${LAT}s per process, ${SCRAPES} scrapes per node for statements, write load ${WRITE_TPS} tps"
$MEASURE report "$RESULTS" | tee "$OUT/summary.md"
cp "$W/load.txt" "$OUT/load.txt" 2>/dev/null || true
if [[ $SCALE == 1 ]]; then $MEASURE plot "$RESULTS" "$OUT"; fi
log "results, tables and plots in $OUT"
if [[ -n ${BENCH_RESULTS:-} ]]; then cp "$RESULTS" "$BENCH_RESULTS"; fi
