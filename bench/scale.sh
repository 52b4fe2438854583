# bench/scale.sh: how our costs grow, sourced by bench/run.sh after the comparison cases (it uses
# run.sh's functions and cluster c1, started with max_connections high enough for 1000 sessions).
#
# Nodes axis: 1, 10, 100 and 334 clusters of 3 nodes (3, 30, 300, 1002 nodes), every cluster
# pointed at c1's three servers, each configured node its own session. Per step: start to
# /ready, every node up (and still up at the end), RSS (median and max of readings across the
# window, and the kernel's peak over it), exporter CPU per node poll and server time per node poll (a poll-only window,
# pg_stat_statements on c1), the servers' CPU in all,
# late rounds, the page builds (time per page: render of the changed clusters, merge, gzip, from
# the exporter's own counters over the window), spaced scrapes and wrk's back-to-back p50/p99
# and largest latency on /metrics and, as the machine's baseline, on /healthz.
# Slots axis: one cluster, 0, 100, 500 and 2000 idle physical slots on the primary: the same
# figures per cluster round (0 slots is the 3-node step of the nodes axis, when that ran: the
# same exporter on the same servers, recorded under both names rather than measured twice).
# Records go to $RESULTS as "scale_nodes_N" / "scale_slots_N" cases; measure.py report prints
# the tables and plot writes the PNGs.

SCALE_NODES=${BENCH_SCALE_NODES-"1 10 100 334"}
SCALE_SLOTS=${BENCH_SCALE_SLOTS-"0 100 500 2000"}
SCALE_WINDOW=${BENCH_SCALE_WINDOW:-30}

scale_config() { # port clusters
    {
        printf '[web]\nlisten_address = "127.0.0.1:%s"\n' "$1"
        for ((k = 1; k <= $2; k++)); do
            printf '\n[[cluster]]\nname = "f%04d"\nuser = "bench_ours"\npassword_file = "%s"\nsslmode = "disable"\n' "$k" "$W/ours.pw"
            for n in "${NODES[@]}"; do
                printf '\n[[cluster.node]]\nname = "%s"\nhost = "127.0.0.1"\nport = %s\n' "$n" "${PORT[1,$n]}"
            done
        done
    } >"$W/scale.toml"
}

# Polls on c1's servers by our role (our statements, fast or full: the only ones with a json_build_object).
c1_polls() {
    local total=0 pl=0 ex=0 row a b d
    for n in "${NODES[@]}"; do
        row=$(psql_at "${PORT[1,$n]}" "SELECT coalesce(sum(s.calls) FILTER (WHERE s.query LIKE '%json_build_object%'),0),
            coalesce(sum(s.total_plan_time),0), coalesce(sum(s.total_exec_time),0)
            FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'bench_ours'" | tr '|' ' ')
        read -r a b d <<<"$row"
        total=$(calc "$total + $a"); pl=$(calc "$pl + $b"); ex=$(calc "$ex + $d")
    done
    echo "$total $pl $ex"
}

# c1's server processes: each postmaster and its children (backends, walsenders, workers).
c1_server_pids() {
    local n pm
    for n in "${NODES[@]}"; do
        pm=$(head -1 "$W/c1/$n/postmaster.pid")
        echo "$pm"
        pgrep -P "$pm" || true
    done
}

scale_step() { # case clusters
    local case=$1 ncl=$2 nodes=$(($2 * 3)) port t0 pid
    port=$($MEASURE ports 1)
    scale_config "$port" "$ncl"
    local url="http://127.0.0.1:$port"
    t0=$(date +%s.%N)
    "$OURS_BIN" --config.file="$W/scale.toml" --log.level=warn >"$W/scale_$case.log" 2>&1 &
    pid=$!
    OURS_PID=$pid
    wait_for 120 "scale $case ready" curl -sf "$url/ready"
    rec "$case" ours ready_s "$(calc "$(date +%s.%N) - $t0")"
    # Every node up within a minute, or the step goes on and says how many were (issue 15
    # target: all up within 15 s and staying up).
    local deadline=$((SECONDS + 60))
    until $MEASURE allup "$url/metrics" "$nodes" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "scale $case: not every node up after 60 s"
            break
        fi
        sleep 0.5
    done
    if $MEASURE allup "$url/metrics" "$nodes" 2>/dev/null; then
        rec "$case" ours all_up_s "$(calc "$(date +%s.%N) - $t0")"
    fi
    rec "$case" ours up_start "$($MEASURE sum "$url/metrics" pg_replication_up)"
    rec "$case" meta nodes "$nodes"
    sleep "$SETTLE"
    local late0 c0 c1 polls pl ex
    late0=$($MEASURE sum "$url/metrics" pg_replication_exporter_rounds_late_total)
    for n in "${NODES[@]}"; do psql_at "${PORT[1,$n]}" "SELECT pg_stat_statements_reset()" >/dev/null; done
    local -a spids
    mapfile -t spids < <(c1_server_pids)
    local s0 s1
    local pages0 page_s0 pages1 page_s1
    pages0=$($MEASURE sum "$url/metrics" pg_replication_exporter_pages_built_total)
    page_s0=$($MEASURE sum "$url/metrics" pg_replication_exporter_page_build_seconds_total)
    c0=$($MEASURE cpu "$pid")
    s0=$($MEASURE cpu "${spids[@]}")
    # The window itself samples RSS (median and max of readings every 0.25 s, and the kernel's
    # peak over the window).
    local rss_med rss_max rss_peak
    read -r rss_med rss_max rss_peak <<<"$($MEASURE rsswatch "$pid" "$SCALE_WINDOW")"
    c1=$($MEASURE cpu "$pid")
    s1=$($MEASURE cpu "${spids[@]}")
    pages1=$($MEASURE sum "$url/metrics" pg_replication_exporter_pages_built_total)
    page_s1=$($MEASURE sum "$url/metrics" pg_replication_exporter_page_build_seconds_total)
    read -r polls pl ex <<<"$(c1_polls)"
    [[ $(calc "$polls > 0") != 0.000000 ]] || die "scale $case: no poll"
    local od
    od=$(cpu_delta "$c0" "$c1")
    rec "$case" ours cpu_node_poll_ms "$(calc "$od / $polls")"
    rec "$case" ours cpu_core_pct "$(calc "100.0 * $od / ($SCALE_WINDOW * 1000.0)")"
    rec "$case" ours server_node_poll_ms "$(calc "($pl + $ex) / $polls")"
    # What the three servers spent in all (the polls, their own upkeep) while sharing the cores:
    # plan+exec time above also counts time a backend waited for a CPU.
    rec "$case" servers cpu_core_pct "$(calc "100.0 * $(cpu_delta "$s0" "$s1") / ($SCALE_WINDOW * 1000.0)")"
    rec "$case" servers cpu_node_poll_ms "$(calc "$(cpu_delta "$s0" "$s1") / $polls")"
    rec "$case" ours polls_per_node_s "$(calc "$polls / $nodes / $SCALE_WINDOW")"
    rec "$case" ours rounds_late "$(calc "$($MEASURE sum "$url/metrics" pg_replication_exporter_rounds_late_total) - $late0")"
    if [[ $(calc "$pages1 > $pages0") != 0.000000 ]]; then
        rec "$case" ours page_ms "$(calc "1000.0 * ($page_s1 - $page_s0) / ($pages1 - $pages0)")"
        rec "$case" ours pages_per_s "$(calc "($pages1 - $pages0) / $SCALE_WINDOW")"
    fi
    rec "$case" ours rss_kb "$rss_med"
    rec "$case" ours rss_max_kb "$rss_max"
    rec "$case" ours rss_peak_kb "$rss_peak"
    local p50 p99 pmax req secs
    read -r p50 p99 pmax <<<"$($MEASURE spaced "$url/metrics" 10 1.0)"
    rec "$case" ours spaced_p50_ms "$p50"
    rec "$case" ours spaced_p99_ms "$p99"
    wrk -t1 -c1 -d"${LAT}s" --latency -H 'Accept-Encoding: gzip' "$url/metrics" >"$W/wrk_$case.txt"
    read -r req p50 p99 secs <<<"$($MEASURE wrk "$W/wrk_$case.txt")"
    rec "$case" ours p50_ms "$p50"
    rec "$case" ours p99_ms "$p99"
    # The same on /healthz (a constant string, no page): the tail the machine gives any
    # back-to-back request at this step, beside the tail of the page's. wrk fills in the
    # requests a stall held back (a stall of d at a mean of m per request counts d/m samples),
    # so a few scheduler stalls of a few ms make its p99 when requests take tens of µs.
    wrk -t1 -c1 -d"${LAT}s" --latency "$url/healthz" >"$W/wrk_healthz_$case.txt"
    read -r req p50 p99 secs <<<"$($MEASURE wrk "$W/wrk_healthz_$case.txt")"
    rec "$case" ours healthz_p99_ms "$p99"
    rec "$case" ours wrk_max_ms "$($MEASURE wrkmax "$W/wrk_$case.txt")"
    rec "$case" ours healthz_max_ms "$($MEASURE wrkmax "$W/wrk_healthz_$case.txt")"
    local n b g
    read -r n b g <<<"$($MEASURE series "$url/metrics")"
    rec "$case" ours series "$n"
    rec "$case" ours up_end "$($MEASURE sum "$url/metrics" pg_replication_up)"
    echo "$case: loadavg(1m) $(cut -d' ' -f1 /proc/loadavg) at the end;" >>"$W/load.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    OURS_PID=""
}

run_scale() {
    stop_exporters
    drop_scale
    NCLUSTERS=1
    for ncl in $SCALE_NODES; do
        log "scale: $ncl clusters x 3 nodes"
        scale_step "scale_nodes_$((ncl * 3))" "$ncl"
    done
    local have=0 want
    for want in $SCALE_SLOTS; do
        if ((want > have)); then
            psql_at "${PORT[1,primary]}" "SELECT count(pg_create_physical_replication_slot('scale_slot_' || lpad(i::text, 5, '0'), true))
                FROM generate_series($((have + 1)), $want) i" >/dev/null
            have=$want
        fi
        if ((want == 0)) && grep -q '^scale_nodes_3 ' "$RESULTS"; then
            log "scale: 0 slots on the primary is the 3-node step"
            awk '$1 == "scale_nodes_3" { $1 = "scale_slots_0"; print }' "$RESULTS" >>"$RESULTS.tmp"
            cat "$RESULTS.tmp" >>"$RESULTS" && rm -f "$RESULTS.tmp"
            continue
        fi
        log "scale: $want slots on the primary"
        scale_step "scale_slots_$want" 1
    done
}
