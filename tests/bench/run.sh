#!/usr/bin/env bash
# Measures weir against a direct connection and against nginx, HAProxy and
# Caddy, in one run, on loopback only. See tests/bench/README.md.
#
#   tests/bench/run.sh              # full run (~10 minutes)
#   QUICK=1 tests/bench/run.sh      # smoke run (~1 minute)
#
# Knobs (environment):
#   TARGETS          subset of: direct weir-frames weir-filter weir-tunnel nginx haproxy caddy
#   DURATION         seconds per measurement (10; QUICK: 1)
#   CONNS, WINDOW    throughput sessions and echoes in flight each (8, 16)
#   LAT_RATE         latency mode's fixed aggregate rate, msgs/s (10000; QUICK: 5000)
#   CONNECT_WORKERS  parallel dial→echo→close loops (8)
#   IDLE_SESSIONS    sessions held for the memory measurement (9000; QUICK: 1000)
#   PROXY_THREADS    worker processes / threads / GOMAXPROCS of every proxy (1)
#   BENCH_OUT        where results go (tests/bench/out)
#   BENCH_BIN        where built and installed binaries go (tests/bench/.bin)
#   CADDY_VERSION    module version for `go install` of Caddy (latest)
#
# Every process this script starts is stopped by PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/tests/bench
BENCH_OUT=${BENCH_OUT:-$BENCH/out}
BIN=${BENCH_BIN:-$BENCH/.bin}
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	DURATION=${DURATION:-1}
	IDLE_SESSIONS=${IDLE_SESSIONS:-1000}
	IDLE_SETTLE=${IDLE_SETTLE:-1}
	LAT_RATE=${LAT_RATE:-5000}
else
	DURATION=${DURATION:-10}
	IDLE_SESSIONS=${IDLE_SESSIONS:-9000}
	LAT_RATE=${LAT_RATE:-10000}
fi
CONNS=${CONNS:-8}
WINDOW=${WINDOW:-16}
CONNECT_WORKERS=${CONNECT_WORKERS:-8}
PROXY_THREADS=${PROXY_THREADS:-1}
CADDY_VERSION=${CADDY_VERSION:-latest}
TARGETS=${TARGETS:-direct weir-frames weir-filter weir-tunnel nginx haproxy caddy}
PEERS=(nginx haproxy caddy)
# Latency samples start after this warm-up (seconds).
LAT_WARMUP=$(awk -v d="$DURATION" 'BEGIN { w = d / 5; if (w > 1) w = 1; print w }')

RUN=$BENCH_OUT/run-$(date +%Y%m%d-%H%M%S)
WORK=$RUN/work
mkdir -p "$WORK" "$BIN"
RAW=$RUN/raw.jsonl
NOTES=$RUN/notes.txt
: >"$RAW"
: >"$NOTES"

log() { printf '[bench] %s\n' "$*" >&2; }
note() {
	printf '%s\n' "$*" >>"$NOTES"
	log "$*"
}

# ---------------------------------------------------------------- processes

PIDS=()
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
	local pid=$1 keep=() p
	for p in "${PIDS[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# proc_tree PID: PID and all its descendants (nginx's workers, for example).
proc_tree() {
	local root=$1 f line rest pid ppid
	local -A parent=()
	for f in /proc/[0-9]*/stat; do
		read -r line <"$f" 2>/dev/null || continue
		pid=${line%% *}
		rest=${line##*) }
		read -r _ ppid _ <<<"$rest"
		parent[$pid]=$ppid
	done
	local tree=("$root") changed=1 p q
	while ((changed)); do
		changed=0
		for p in "${!parent[@]}"; do
			for q in "${tree[@]}"; do
				if [[ ${parent[$p]} == "$q" && " ${tree[*]} " != *" $p "* ]]; then
					tree+=("$p")
					changed=1
				fi
			done
		done
	done
	echo "${tree[@]}"
}

# cpu_ticks PID...: user+system clock ticks of the processes (all threads).
cpu_ticks() {
	local total=0 pid line rest f
	for pid in "$@"; do
		read -r line <"/proc/$pid/stat" 2>/dev/null || continue
		rest=${line##*) }
		read -r -a f <<<"$rest"
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}

# rss_kib PID...: resident memory of the processes, KiB.
rss_kib() {
	local total=0 pid v
	for pid in "$@"; do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

# free_port: a loopback TCP port nobody listens on, counting up.
NEXT_PORT=${BENCH_PORT_BASE:-27100}
free_port() {
	local p
	for ((p = NEXT_PORT; p < NEXT_PORT + 500; p++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			NEXT_PORT=$((p + 1))
			echo "$p"
			return 0
		fi
	done
	echo "no free port from $NEXT_PORT" >&2
	return 1
}

# jnum FILE KEY: the numeric KEY of the last JSON line of FILE ("" if none).
jnum() {
	tail -n 1 "$1" 2>/dev/null | sed -n "s/.*\"$2\":\(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p"
}
jstr() {
	tail -n 1 "$1" 2>/dev/null | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"
}

# ---------------------------------------------------------------- setup

# Descriptors: the proxy holds two per idle session.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ $NOFILE == unlimited ]]; then NOFILE=1048576; fi
MAX_IDLE=$(((NOFILE - 200) / 2))
if ((IDLE_SESSIONS > MAX_IDLE)); then
	note "IDLE_SESSIONS $IDLE_SESSIONS lowered to $MAX_IDLE: ulimit -n is $NOFILE and a proxy needs two descriptors per session"
	IDLE_SESSIONS=$MAX_IDLE
fi

want() { [[ " $TARGETS " == *" $1 "* ]]; }
is_root() { [[ $(id -u) == 0 ]]; }

APT_UPDATED=0
apt_install() {
	is_root && command -v apt-get >/dev/null || return 1
	if ((!APT_UPDATED)); then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
		APT_UPDATED=1
	fi
	local pkg
	for pkg in "$@"; do
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2 && return 0
	done
	return 1
}

declare -A SKIP=()
if want nginx && ! command -v nginx >/dev/null; then
	log "installing nginx"
	apt_install nginx-light nginx || SKIP[nginx]="nginx is not installed and could not be installed"
fi
if want haproxy && ! command -v haproxy >/dev/null; then
	log "installing haproxy"
	apt_install haproxy || SKIP[haproxy]="haproxy is not installed and could not be installed"
fi
CADDY=$(command -v caddy || true)
if [[ -x $BIN/caddy ]]; then CADDY=$BIN/caddy; fi
if want caddy && [[ -z $CADDY ]]; then
	log "installing caddy@$CADDY_VERSION with go install"
	if (cd "$BIN" && GOBIN=$BIN GOFLAGS=-mod=mod go install "github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION") >&2; then
		CADDY=$BIN/caddy
	else
		SKIP[caddy]="go install of caddy failed"
	fi
fi

log "building wsload and wsecho"
(cd "$ROOT" && go build -o "$BIN/wsload" ./tests/bench/cmd/wsload && go build -o "$BIN/wsecho" ./tests/bench/cmd/wsecho)
WEIR=""
if want weir-frames || want weir-filter || want weir-tunnel; then
	if [[ -d $ROOT/cmd/weir ]] && (cd "$ROOT" && go build -o "$BIN/weir" ./cmd/weir) >"$WORK/weir-build.log" 2>&1; then
		WEIR=$BIN/weir
	else
		why="weir does not build (see work/weir-build.log)"
		if [[ ! -d $ROOT/cmd/weir ]]; then why="./cmd/weir does not exist yet"; fi
		SKIP[weir-frames]=$why
		SKIP[weir-filter]=$why
		SKIP[weir-tunnel]=$why
	fi
fi
# weir-filter: the frame engine with one no-op WASM filter (the C SDK's
# passthrough example), built with the command of sdk/c/README.md.
FILTER_WASM=$WORK/passthrough.wasm
if want weir-filter && [[ -z ${SKIP[weir-filter]:-} ]]; then
	if ! command -v clang >/dev/null; then
		SKIP[weir-filter]="clang is not installed (the Debian packages clang and lld build the WASM filter)"
	elif ! clang --target=wasm32 -O2 -nostdlib -mbulk-memory -Wl,--no-entry -Wl,-z,stack-size=65536 \
		-I "$ROOT/sdk/c" -o "$FILTER_WASM" "$ROOT/sdk/c/examples/passthrough.c" >"$WORK/filter-build.log" 2>&1; then
		SKIP[weir-filter]="sdk/c/examples/passthrough.c does not build (see work/filter-build.log; wasm-ld is in the Debian package lld)"
	fi
fi

version_of() {
	case $1 in
	nginx) nginx -v 2>&1 | sed 's/.*: //' ;;
	haproxy) haproxy -v 2>/dev/null | head -n 1 | awk '{ print "haproxy/" $3 }' ;;
	caddy) go version -m "$CADDY" 2>/dev/null | awk '$1 == "mod" { print "caddy/" $3 }' ;;
	weir-*) echo "weir@$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo worktree)" ;;
	*) echo "-" ;;
	esac
}

# ---------------------------------------------------------------- targets

# Each start_X writes its config under $dir, starts the proxy in the
# background and sets TPID (the proxy's main PID) and URL.
start_direct() {
	TPID=""
	URL="ws://127.0.0.1:$BPORT/bench"
}

start_nginx() {
	local dir=$1 port
	port=$(free_port)
	mkdir -p "$dir/logs" "$dir/tmp"
	{
		if is_root; then echo "user root;"; fi
		cat <<EOF
worker_processes $PROXY_THREADS;
worker_rlimit_nofile $NOFILE;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections $((NOFILE - 100)); }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://127.0.0.1:$BPORT;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
EOF
	} >"$dir/nginx.conf"
	nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$dir/out.log" 2>&1 &
	TPID=$!
	URL="ws://127.0.0.1:$port/bench"
}

start_haproxy() {
	local dir=$1 port
	port=$(free_port)
	cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread $PROXY_THREADS
  maxconn $(((NOFILE - 100) / 2))
defaults
  mode http
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
frontend bench
  bind 127.0.0.1:$port
  default_backend echo
backend echo
  server echo1 127.0.0.1:$BPORT
EOF
	haproxy -db -f "$dir/haproxy.cfg" >"$dir/out.log" 2>&1 &
	TPID=$!
	URL="ws://127.0.0.1:$port/bench"
}

start_caddy() {
	local dir=$1 port
	port=$(free_port)
	cat >"$dir/Caddyfile" <<EOF
{
  admin off
  auto_https off
  persist_config off
  log {
    level WARN
  }
}
http://127.0.0.1:$port {
  reverse_proxy 127.0.0.1:$BPORT
}
EOF
	GOMAXPROCS=$PROXY_THREADS XDG_DATA_HOME=$dir/data XDG_CONFIG_HOME=$dir/config HOME=$dir \
		"$CADDY" run --config "$dir/Caddyfile" --adapter caddyfile >"$dir/out.log" 2>&1 &
	TPID=$!
	URL="ws://127.0.0.1:$port/bench"
}

# start_weir DIR RELAY [WASM]: one route; with WASM, that module is the
# route's only filter, in both directions.
start_weir() {
	local dir=$1 relay=$2 wasm=${3:-} port
	port=$(free_port)
	{
		cat <<EOF
listeners: [{name: public, address: 127.0.0.1:$port}]
admin: {address: ""}
server: {max_connections: $((IDLE_SESSIONS * 2 + 1000))}
routes:
  - name: bench
    match: {path_prefix: /}
    relay: $relay
    limits: {max_message_bytes: 1MiB, max_frame_bytes: 1MiB, idle_timeout: 1h}
    backends: {members: [{address: 127.0.0.1:$BPORT}]}
EOF
		if [[ -n $wasm ]]; then
			echo "    filters: [{wasm: \"$wasm\", directions: both}]"
		fi
		echo "telemetry: {logs: {level: warn}}"
	} >"$dir/weir.yaml"
	GOMAXPROCS=$PROXY_THREADS "$WEIR" run -c "$dir/weir.yaml" >"$dir/out.log" 2>&1 &
	TPID=$!
	URL="ws://127.0.0.1:$port/bench"
}
start_weir-frames() { start_weir "$1" frames; }
start_weir-filter() { start_weir "$1" frames "$FILTER_WASM"; }
start_weir-tunnel() { start_weir "$1" tunnel; }

# ---------------------------------------------------------------- measurements

declare -A VAL=() BAD=()

# wsload_run TARGET METRIC OUTFILE ARGS...: runs wsload, keeps its JSON,
# flags the metric when the run reported errors.
wsload_run() {
	local target=$1 metric=$2 out=$3
	shift 3
	local rc=0
	"$BIN/wsload" -label "$target" -url "$URL" "$@" >"$out" 2>>"$WORK/$target/wsload.log" || rc=$?
	cat "$out" >>"$RAW"
	if ((rc != 0)) || [[ $(jnum "$out" errors) != 0 ]]; then
		BAD[$target,$metric]=1
		note "$target $metric: wsload exit $rc, errors=$(jnum "$out" errors) $(jstr "$out" first_error)"
	fi
	return 0
}

measure_idle() {
	local target=$1 dir=$2 pids before after out=$2/idle.out pid ready i limit
	pids=$(proc_tree "$TPID")
	# shellcheck disable=SC2086
	before=$(rss_kib $pids)
	"$BIN/wsload" -mode idle -label "$target" -url "$URL" -sessions "$IDLE_SESSIONS" -size 64 \
		-duration 1h -timeout 2h >"$out" 2>>"$dir/wsload.log" &
	pid=$!
	PIDS+=("$pid")
	limit=$((IDLE_SESSIONS / 50 + 120))
	ready=0
	for ((i = 0; i < limit * 10; i++)); do
		if grep -q '"event":"ready"' "$out" 2>/dev/null; then
			ready=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ((ready)); then
		# Let the proxy settle (lazy buffers, GC) before reading RSS.
		sleep "${IDLE_SETTLE:-2}"
		pids=$(proc_tree "$TPID")
		# shellcheck disable=SC2086
		after=$(rss_kib $pids)
	fi
	kill -USR1 "$pid" 2>/dev/null || true
	local rc=0
	wait "$pid" || rc=$?
	forget_pid "$pid"
	cat "$out" >>"$RAW"
	if ((!ready)); then
		BAD[$target,mem]=1
		note "$target idle: never ready (exit $rc)"
		return 0
	fi
	local open
	open=$(grep '"event":"ready"' "$out" | sed -n 's/.*"open":\([0-9]*\).*/\1/p')
	if [[ -z $open || $open == 0 ]]; then
		BAD[$target,mem]=1
		return 0
	fi
	VAL[$target,mem]=$(awk -v a="$after" -v b="$before" -v n="$open" 'BEGIN { printf "%.2f", (a - b) / n }')
	if ((open != IDLE_SESSIONS)) || ((rc != 0)) || [[ $(jnum "$out" survived) != "$open" ]]; then
		BAD[$target,mem]=1
		note "$target idle: $open of $IDLE_SESSIONS open, $(jnum "$out" survived) survived, exit $rc $(jstr "$out" first_error)"
	fi
	log "$target: idle RSS $before → $after KiB over $open sessions = ${VAL[$target,mem]} KiB/session"
}

# wait_up DIR: waits (15 s at most) until $URL echoes; gives up early if
# the proxy process has exited.
wait_up() {
	local i
	for ((i = 0; i < 15; i++)); do
		if "$BIN/wsload" -mode probe -url "$URL" -duration 1s 2>>"$1/wsload.log"; then
			return 0
		fi
		if [[ -n $TPID ]] && ! kill -0 "$TPID" 2>/dev/null; then
			return 1
		fi
	done
	return 1
}

measure_target() {
	local target=$1 dir=$WORK/$1 out
	mkdir -p "$dir"
	BPORT=$(free_port)
	"$BIN/wsecho" -addr "127.0.0.1:$BPORT" >"$dir/wsecho.log" 2>&1 &
	local echo_pid=$!
	PIDS+=("$echo_pid")
	URL="ws://127.0.0.1:$BPORT/bench"
	if ! "$BIN/wsload" -mode probe -url "$URL" -duration 15s 2>>"$dir/wsload.log"; then
		SKIP[$target]="the echo backend did not start"
		stop_pid "$echo_pid"
		forget_pid "$echo_pid"
		return 0
	fi

	"start_$target" "$dir"
	if [[ -n $TPID ]]; then PIDS+=("$TPID"); fi
	if ! wait_up "$dir"; then
		SKIP[$target]="did not start or does not proxy WebSockets (see work/$target/out.log)"
		log "$target: skipped: ${SKIP[$target]}"
		tail -n 5 "$dir/out.log" 2>/dev/null >&2 || true
		if [[ -n $TPID ]]; then
			stop_pid "$TPID"
			forget_pid "$TPID"
		fi
		stop_pid "$echo_pid"
		forget_pid "$echo_pid"
		return 0
	fi
	log "$target: up at $URL"

	# Idle memory first, on a fresh process, before the load runs grow
	# its heap and buffers.
	if [[ -n $TPID ]]; then measure_idle "$target" "$dir"; fi

	local size metric pids c0 c1
	for size in 64 1024 65536; do
		case $size in 64) metric=m64 ;; 1024) metric=m1k ;; 65536) metric=m64k ;; esac
		out=$dir/throughput-$size.out
		if [[ -n $TPID ]]; then
			pids=$(proc_tree "$TPID")
			# shellcheck disable=SC2086
			c0=$(cpu_ticks $pids)
		fi
		wsload_run "$target" "$metric" "$out" -mode throughput -conns "$CONNS" -window "$WINDOW" \
			-size "$size" -duration "${DURATION}s"
		VAL[$target,$metric]=$(jnum "$out" msgs_per_s)
		if [[ $size == 1024 && -n $TPID ]]; then
			# shellcheck disable=SC2086
			c1=$(cpu_ticks $pids)
			VAL[$target,cpu]=$(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$(jnum "$out" messages_total)" \
				'BEGIN { if (n > 0) printf "%.3f", d / hz / n * 1e6 }')
			if [[ -n ${BAD[$target,m1k]:-} ]]; then BAD[$target,cpu]=1; fi
		fi
	done

	out=$dir/latency.out
	wsload_run "$target" p99 "$out" -mode latency -rate "$LAT_RATE" -conns "$CONNS" -size 1024 \
		-duration "${DURATION}s" -warmup "${LAT_WARMUP}s"
	VAL[$target,p99]=$(jnum "$out" p99_us)

	out=$dir/connect.out
	wsload_run "$target" hs "$out" -mode connect -workers "$CONNECT_WORKERS" -size 64 -duration "${DURATION}s"
	VAL[$target,hs]=$(jnum "$out" handshakes_per_s)

	if [[ -n $TPID ]]; then
		stop_pid "$TPID"
		forget_pid "$TPID"
	fi
	stop_pid "$echo_pid"
	forget_pid "$echo_pid"
}

# ---------------------------------------------------------------- run

log "targets: $TARGETS; results in $RUN"
for target in $TARGETS; do
	case $target in
	direct | weir-frames | weir-filter | weir-tunnel | nginx | haproxy | caddy) ;;
	*)
		note "unknown target $target (known: direct weir-frames weir-filter weir-tunnel nginx haproxy caddy)"
		continue
		;;
	esac
	if [[ -n ${SKIP[$target]:-} ]]; then
		log "$target: skipped: ${SKIP[$target]}"
		continue
	fi
	measure_target "$target"
done

# ---------------------------------------------------------------- table

METRICS=(m64 m1k m64k p99 hs cpu mem)
declare -A TITLE=(
	[m64]="msgs/s 64 B" [m1k]="msgs/s 1 KiB" [m64k]="msgs/s 64 KiB"
	[p99]="p99 µs @ $LAT_RATE/s" [hs]="handshakes/s"
	[cpu]="CPU-s / M msgs" [mem]="KiB / idle session"
)
# higher is better for rates, lower for the rest.
declare -A HIGHER=([m64]=1 [m1k]=1 [m64k]=1 [hs]=1 [p99]=0 [cpu]=0 [mem]=0)

declare -A BEST=()
for m in "${METRICS[@]}"; do
	for p in "${PEERS[@]}"; do
		v=${VAL[$p,$m]:-}
		[[ -n $v && -z ${BAD[$p,$m]:-} ]] || continue
		b=${BEST[$m]:-}
		if [[ -z $b ]] || awk -v v="$v" -v b="$b" -v h="${HIGHER[$m]}" 'BEGIN { exit !((h && v > b) || (!h && v < b)) }'; then
			BEST[$m]=$v
		fi
	done
done

show() {
	awk -v v="$1" -v m="$2" 'BEGIN {
		if (m == "cpu") printf "%.2f", v
		else if (m == "mem") printf "%.1f", v
		else printf "%.0f", v
	}'
}
ratio() {
	[[ -n $1 && -n $2 ]] || { printf -- "–"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "–" }'
}

TABLE=$RUN/results.md
{
	echo "# weir bench, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Machine: $(nproc) cores, $(uname -sr); load generator, backend and proxy share them."
	echo "Settings: DURATION=${DURATION}s CONNS=$CONNS WINDOW=$WINDOW LAT_RATE=$LAT_RATE CONNECT_WORKERS=$CONNECT_WORKERS" \
		"IDLE_SESSIONS=$IDLE_SESSIONS PROXY_THREADS=$PROXY_THREADS QUICK=$QUICK"
	echo
	echo "Each cell: value (× direct, × best peer). Higher is better for msgs/s and handshakes/s, lower for the rest."
	echo "\"!\" marks a measurement that reported errors (see notes below); – means not applicable or not measured."
	echo
	printf '| target | version |'
	for m in "${METRICS[@]}"; do printf ' %s |' "${TITLE[$m]}"; done
	echo
	printf '|---|---|'
	for m in "${METRICS[@]}"; do printf -- '---:|'; done
	echo
	for t in $TARGETS; do
		if [[ -n ${SKIP[$t]:-} ]]; then
			printf '| %s | skipped: %s |' "$t" "${SKIP[$t]}"
			for m in "${METRICS[@]}"; do printf ' |'; done
			echo
			continue
		fi
		printf '| %s | %s |' "$t" "$(version_of "$t")"
		for m in "${METRICS[@]}"; do
			v=${VAL[$t,$m]:-}
			if [[ -z $v ]]; then
				printf ' – |'
				continue
			fi
			flag=""
			if [[ -n ${BAD[$t,$m]:-} ]]; then flag="!"; fi
			printf ' %s%s (%s, %s) |' "$(show "$v" "$m")" "$flag" "$(ratio "$v" "${VAL[direct,$m]:-}")" "$(ratio "$v" "${BEST[$m]:-}")"
		done
		echo
	done
	echo
	echo "Best peer per column (among ${PEERS[*]}):" \
		"$(for m in "${METRICS[@]}"; do printf '%s=%s; ' "$m" "$( [[ -n ${BEST[$m]:-} ]] && show "${BEST[$m]}" "$m" || echo –)"; done)"
	if want weir-filter && want weir-frames; then
		echo
		echo "weir-filter ÷ weir-frames, the cost of one no-op WASM filter (target for msgs/s: ≥ 0.60):" \
			"$(for m in "${METRICS[@]}"; do printf '%s=%s%s; ' "$m" "$(ratio "${VAL[weir-filter,$m]:-}" "${VAL[weir-frames,$m]:-}")" \
				"$([[ -n ${BAD[weir-filter,$m]:-}${BAD[weir-frames,$m]:-} ]] && echo '!')"; done)"
	fi
	if [[ -s $NOTES ]]; then
		echo
		echo "Notes:"
		sed 's/^/- /' "$NOTES"
	fi
	echo
	echo "Raw results: raw.jsonl; configs and logs: work/."
} >"$TABLE"

cp "$TABLE" "$BENCH_OUT/latest.md"
echo
cat "$TABLE"
log "written to $TABLE (and $BENCH_OUT/latest.md)"
