# shellcheck shell=bash
# The start / stop / status shape shared by the scripts that run a development server for the tests
# and the benches (scripts/kafka.sh, prometheus.sh, postgres.sh, mariadb.sh). Sourced, never run.
#
# A service script sets a few variables, defines three functions and hands over to `svc_main`:
#
#   svc_init NAME                     state under target/services/NAME/ (git-ignored: a fresh clone
#                                     or `cargo clean` starts clean), jars and downloads under
#                                     svc_cache_dir (outside the repo, kept across clones)
#   SVC_ADDRESS="127.0.0.1:9092"      what clients connect to; written to $SVC_STATE/address once
#                                     the server answers (tests read that file), removed on stop
#   SVC_PORTS=(KAFKA_PORT=9092 ...)   the ports it binds, named by the variable that sets them
#   SVC_LOGS=(file ...)               the logs whose tail explains a failed start
#   svc_prepare                       everything before the launch (fetch, configure, initialise)
#   svc_launch                        starts the server with `svc_spawn COMMAND...`
#   svc_probe                         succeeds once the server really answers a request
#   svc_main "$@"                     start | stop | status | --help (the script defines `usage`)
#
# and optionally (kafka.sh and prometheus.sh need neither):
#
#   svc_ready                         runs once the server answers, before the address file is
#                                     written, at every start (also when it already ran): create
#                                     users and databases, idempotently
#   SVC_READY_FILES=(file ...)        files svc_ready writes; removed with the address file
#   SVC_STOP_SIGNAL=INT               what `stop` sends first (default TERM)
#
# Invariant: a service's command line names its state directory (a config file or data directory
# in it), so a pid file left by a crash or a reboot never makes us signal somebody else's process.
# Invariant: only the process this state directory started is ever stopped, by its pid.

# Seconds to wait for the server to answer after launching it, and for it to exit after SIGTERM
# (or SVC_STOP_SIGNAL).
: "${SVC_START_TIMEOUT:=120}"
: "${SVC_STOP_TIMEOUT:=30}"

# Sets SVC_NAME, SVC_ROOT (the repository), SVC_STATE (target/services/NAME) and the files in it.
svc_init() {
    SVC_NAME="$1"
    SVC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    SVC_STATE="$SVC_ROOT/target/services/$SVC_NAME"
    SVC_PIDFILE="$SVC_STATE/pid"
    SVC_ADDRESS_FILE="$SVC_STATE/address"
    SVC_PORTS=()
    SVC_LOGS=()
    SVC_LOG_MARKS=()
    SVC_READY_FILES=()
    SVC_STOP_SIGNAL=TERM
}

# Where downloaded server software is cached: outside the repo, shared by every clone.
svc_cache_dir() {
    printf '%s\n' "${ARTICLES_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/articles}"
}

svc_say() { printf '%s: %s\n' "$SVC_NAME" "$*"; }

svc_die() {
    printf '%s: error: %s\n' "$SVC_NAME" "$*" >&2
    exit 1
}

# svc_require COMMAND HINT: dies with HINT when COMMAND is not on the PATH.
svc_require() {
    command -v "$1" >/dev/null || svc_die "$1 not found: $2"
}

# Serialises start and stop of this service in this clone (two `cargo test` runs starting the
# broker at once, a stop racing a start). Held until the script exits.
svc_lock() {
    mkdir -p "$SVC_STATE"
    exec 9>"$SVC_STATE/lock"
    flock -w "$((SVC_START_TIMEOUT + SVC_STOP_TIMEOUT))" 9 ||
        svc_die "another start or stop of $SVC_NAME is still running (lock $SVC_STATE/lock)"
}

# svc_alive PID: succeeds while PID is a live process (a zombie nobody reaped yet counts as gone).
svc_alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ -n "$stat" && "${stat:0:1}" != Z ]]
}

# Prints the pid of the running server started from this state directory; prints nothing (and
# removes a stale pid file) when there is none.
svc_pid() {
    local pid
    [[ -f "$SVC_PIDFILE" ]] || return 0
    pid="$(<"$SVC_PIDFILE")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && svc_alive "$pid" &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$SVC_STATE"; then
        printf '%s\n' "$pid"
    else
        rm -f "$SVC_PIDFILE" "$SVC_ADDRESS_FILE" "${SVC_READY_FILES[@]}"
    fi
}

# svc_port_taken PORT: succeeds when something accepts TCP connections on 127.0.0.1:PORT.
svc_port_taken() {
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Dies with one line naming the first port of SVC_PORTS that another process already uses.
svc_check_ports() {
    local entry
    for entry in "${SVC_PORTS[@]}"; do
        if svc_port_taken "${entry#*=}"; then
            svc_die "port ${entry#*=} on 127.0.0.1 is already in use by another process (choose another with ${entry%%=*}=...)"
        fi
    done
}

# svc_spawn COMMAND...: starts COMMAND in its own session (a Ctrl-C or a closed terminal of the
# caller does not reach it), stdin from /dev/null and stdout/stderr appended to $SVC_STATE/console.log
# (so a caller capturing our output is not held open), without the lock's descriptor (else the
# server would hold the lock for life), and records its pid.
svc_spawn() {
    svc_mark_logs
    setsid "$@" </dev/null >>"$SVC_STATE/console.log" 2>&1 9>&- &
    printf '%s\n' "$!" >"$SVC_PIDFILE"
}

# Remembers how long each log is now, so that a failure shows only what this start wrote.
svc_mark_logs() {
    local log
    SVC_LOG_MARKS=()
    for log in "${SVC_LOGS[@]}" "$SVC_STATE/console.log"; do
        SVC_LOG_MARKS+=("$(stat -c %s "$log" 2>/dev/null || echo 0)")
    done
}

# Prints to stderr the last lines that this start wrote to each log (SVC_LOGS and console.log).
svc_tail_logs() {
    local logs=("${SVC_LOGS[@]}" "$SVC_STATE/console.log") i mark
    for i in "${!logs[@]}"; do
        mark="${SVC_LOG_MARKS[i]:-0}"
        # A log that shrank was rotated: show its end.
        ((mark <= $(stat -c %s "${logs[i]}" 2>/dev/null || echo 0))) || mark=0
        if (($(stat -c %s "${logs[i]}" 2>/dev/null || echo 0) > mark)); then
            printf -- '--- last lines of %s\n' "${logs[i]}" >&2
            tail -c "+$((mark + 1))" "${logs[i]}" | tail -n 30 >&2
        fi
    done
}

# svc_wait_ready PID: polls svc_probe until it succeeds; dies (with the logs' tails) when PID exits
# first or SVC_START_TIMEOUT passes.
svc_wait_ready() {
    local pid="$1" deadline=$((SECONDS + SVC_START_TIMEOUT))
    until svc_probe; do
        if ! svc_alive "$pid"; then
            rm -f "$SVC_PIDFILE"
            svc_tail_logs
            svc_die "the server exited during start-up (logs above)"
        fi
        if ((SECONDS >= deadline)); then
            svc_tail_logs
            svc_die "pid $pid did not answer on $SVC_ADDRESS within ${SVC_START_TIMEOUT}s (logs above; still running: scripts/$SVC_NAME.sh stop ends it)"
        fi
        sleep 0.2
    done
    # Clients wait for the address file: it appears only once users and databases exist.
    if declare -F svc_ready >/dev/null; then
        svc_ready
    fi
    printf '%s\n' "$SVC_ADDRESS" >"$SVC_ADDRESS_FILE"
}

svc_start() {
    local pid started=$SECONDS
    svc_lock
    pid="$(svc_pid)"
    if [[ -n "$pid" ]]; then
        svc_wait_ready "$pid"
        svc_say "already running (pid $pid) at $SVC_ADDRESS"
        return 0
    fi
    svc_check_ports
    svc_prepare
    svc_launch
    pid="$(<"$SVC_PIDFILE")"
    svc_wait_ready "$pid"
    svc_say "running (pid $pid) at $SVC_ADDRESS after $((SECONDS - started))s; log ${SVC_LOGS[0]:-$SVC_STATE/console.log}"
}

svc_stop() {
    local pid deadline
    svc_lock
    pid="$(svc_pid)"
    if [[ -z "$pid" ]]; then
        svc_say "not running"
        return 0
    fi
    kill -"$SVC_STOP_SIGNAL" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + SVC_STOP_TIMEOUT))
    while svc_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if svc_alive "$pid"; then
        svc_say "pid $pid still running ${SVC_STOP_TIMEOUT}s after SIG$SVC_STOP_SIGNAL; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while svc_alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$SVC_PIDFILE" "$SVC_ADDRESS_FILE" "${SVC_READY_FILES[@]}"
    svc_say "stopped (pid $pid)"
}

# Exit status 0 when running, 3 when not (the LSB convention for `status`).
svc_status() {
    local pid
    pid="$(svc_pid)"
    if [[ -z "$pid" ]]; then
        svc_say "not running (would listen at $SVC_ADDRESS)"
        return 3
    fi
    if svc_probe; then
        svc_say "running (pid $pid) at $SVC_ADDRESS"
    else
        svc_say "running (pid $pid) but not answering at $SVC_ADDRESS (starting, or see ${SVC_LOGS[0]:-$SVC_STATE/console.log})"
    fi
}

svc_main() {
    case "${1:-}" in
    start) svc_start ;;
    stop) svc_stop ;;
    status) svc_status ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}
