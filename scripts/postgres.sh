#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for development and the tests: the PostgreSQL store
# and cross-engine sync (coming) run against it. See README, "Development servers".
set -euo pipefail

# shellcheck source=scripts/lib/service.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/service.sh"
# A test runs a server of its own beside a developer's: POSTGRES_INSTANCE names its state.
svc_init "postgres${POSTGRES_INSTANCE:+-$POSTGRES_INSTANCE}"

usage() {
    cat <<USAGE
Usage: scripts/postgres.sh start | stop | status | install | --help

PostgreSQL (Debian's package) as a process of its own on 127.0.0.1, with a data directory of its
own: not Debian's cluster (pg_ctlcluster, port 5432), which is left alone. Installs the package
when missing and run as root (apt-get install --no-install-recommends postgresql postgresql-contrib).
Run as root, the server runs as the postgres user (PostgreSQL refuses root).

For tests only: fsync, synchronous_commit and full_page_writes are off (a crash of the machine
may lose or corrupt the data). Passwords are checked (scram-sha-256) for every role but the
superuser postgres, which this script uses without one (from 127.0.0.1 and the unix socket).

  start   start the server unless it is running (initdb on the first start); returns once it
          accepts connections and role and database exist (exit 0), or prints the tail of its
          log and exits 1
  stop    stop the server this state directory started (SIGINT, a fast shutdown that ends open
          sessions; SIGKILL after ${SVC_STOP_TIMEOUT}s)
  status  say whether it runs, and its address (exit 0 running, 3 not running)
  install install Debian's packages if PostgreSQL or pg_trgm is missing (as root), nothing else

What start creates: role articles (password articles, LOGIN CREATEDB, not a superuser; database
articles is its own), database articles (UTF8, locale C.UTF-8, time zone UTC), and the pg_trgm
extension in it and in template1 (so every database a test creates has it too). The superuser
is postgres, without a password.

State, in $SVC_STATE/:
  url           postgres://articles:articles@127.0.0.1:PORT/articles   } written once the server
  address       127.0.0.1:PORT                                         } is ready, removed by stop
  .s.PGSQL.PORT the unix socket (psql -h THIS_DIRECTORY -p PORT -U postgres); none when this
                directory's path is too long for one (107 bytes): TCP only
  data, console.log (the server's log), pid

Environment:
  POSTGRES_PORT       TCP port on 127.0.0.1 (default 5433, beside a system server on 5432)
  POSTGRES_INSTANCE   a name for a separate state directory (target/services/postgres-NAME)
  POSTGRES_BINDIR     where initdb, postgres, pg_isready and psql are (default: the newest
                      /usr/lib/postgresql/VERSION/bin; Debian 12 has 15)
  SVC_START_TIMEOUT   seconds to wait for the server to be ready (default 120)
  SVC_STOP_TIMEOUT    seconds to wait for it to exit before SIGKILL (default 30)
USAGE
}

# Without POSTGRES_PORT, `status` and `stop` find a running instance at the address it wrote.
if [[ -z "${POSTGRES_PORT:-}" && -f "$SVC_ADDRESS_FILE" ]]; then
    POSTGRES_PORT="$(sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' "$SVC_ADDRESS_FILE")"
fi
POSTGRES_PORT="${POSTGRES_PORT:-5433}"
DATA="$SVC_STATE/data"
URL="postgres://articles:articles@127.0.0.1:$POSTGRES_PORT/articles"

SVC_ADDRESS="127.0.0.1:$POSTGRES_PORT"
SVC_PORTS=("POSTGRES_PORT=$POSTGRES_PORT")
SVC_READY_FILES=("$SVC_STATE/url")
# SIGTERM is PostgreSQL's "smart" shutdown, which waits until every client disconnects: a test's
# leaked pool would hold `stop` until SIGKILL. SIGINT is the "fast" one: sessions are ended.
SVC_STOP_SIGNAL=INT

# The binaries: POSTGRES_BINDIR, or the newest version Debian's packages installed.
find_bindir() {
    local dir
    if [[ -n "${POSTGRES_BINDIR:-}" ]]; then
        printf '%s\n' "$POSTGRES_BINDIR"
        return 0
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/postgres" ]] && printf '%s\n' "$dir"
    done | sort -V | tail -n 1
}
BINDIR="$(find_bindir)"
if [[ -n "${POSTGRES_BINDIR:-}" && ! -x "$BINDIR/postgres" ]]; then
    svc_die "POSTGRES_BINDIR=$POSTGRES_BINDIR holds no postgres (Debian's are in /usr/lib/postgresql/VERSION/bin)"
fi

# PostgreSQL refuses to run as root: as root, initdb and the server run as the postgres user
# (created by Debian's package). setpriv execs the command (runuser would stay its parent, and the
# pid svc_spawn records must be the server's own). As anybody else they run as that user.
if [[ "$(id -u)" == 0 ]]; then
    AS_OWNER=(setpriv --reuid=postgres --regid=postgres --init-groups)
else
    AS_OWNER=()
fi

# Installs Debian's packages when the server or pg_trgm (postgresql-contrib) is missing (root
# only). The package creates and, where it can, starts its own cluster on 5432; we leave it alone:
# ours has its own port and data directory.
install_postgres() {
    [[ -n "$BINDIR" && -x "$BINDIR/postgres" && -f "$(extension_dir)/pg_trgm.control" ]] && return 0
    [[ -z "${POSTGRES_BINDIR:-}" ]] ||
        svc_die "POSTGRES_BINDIR=$POSTGRES_BINDIR: that version has no pg_trgm (its postgresql-contrib)"
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
        svc_die "${BINDIR:+pg_trgm of }PostgreSQL${BINDIR:+ in $BINDIR} not found: install Debian's packages (apt-get install --no-install-recommends postgresql postgresql-contrib) as root, or set POSTGRES_BINDIR"
    fi
    svc_say "installing Debian's postgresql and postgresql-contrib packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql postgresql-contrib >/dev/null
    BINDIR="$(find_bindir)"
    [[ -n "$BINDIR" && -x "$BINDIR/postgres" ]] ||
        svc_die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/postgres was found"
}

# Where this version's extensions are (/usr/share/postgresql/VERSION/extension on Debian).
extension_dir() {
    [[ -n "$BINDIR" && -x "$BINDIR/pg_config" ]] || return 0
    printf '%s/extension\n' "$("$BINDIR/pg_config" --sharedir)"
}

# The state directory belongs to the user the server runs as, and that user must reach it.
own_state() {
    mkdir -p "$DATA"
    if ((${#AS_OWNER[@]})); then
        chown postgres: "$SVC_STATE" "$DATA"
        "${AS_OWNER[@]}" test -w "$SVC_STATE" ||
            svc_die "the postgres user cannot reach $SVC_STATE (a parent directory is not searchable by others; chmod o+x it)"
    fi
    chmod 700 "$DATA"
}

# initdb on the first start. -A trust is replaced by the pg_hba.conf of write_hba at every start.
# C.UTF-8 (not C) so that pg_trgm and upper()/lower() know non-ASCII letters.
init_data() {
    local version
    if [[ -f "$DATA/PG_VERSION" ]]; then
        version="$(<"$DATA/PG_VERSION")"
        [[ "$BINDIR" == */"$version"/bin || -n "${POSTGRES_BINDIR:-}" ]] ||
            svc_die "$DATA was initialised by PostgreSQL $version but the binaries are $BINDIR (set POSTGRES_BINDIR, or remove $SVC_STATE)"
        return 0
    fi
    svc_mark_logs
    if ! "${AS_OWNER[@]}" "$BINDIR/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >>"$SVC_STATE/console.log" 2>&1; then
        svc_tail_logs
        svc_die "initdb of $DATA failed (logs above)"
    fi
}

# Who may connect how, regenerated at every start: the superuser postgres without a password
# (this script's own set-up), everyone else with theirs, so that a wrong password fails as it
# would on a real server (the tests check the error).
write_hba() {
    cat >"$SVC_STATE/pg_hba.conf" <<'HBA'
# Generated by scripts/postgres.sh at every start.
local all postgres trust
host  all postgres 127.0.0.1/32 trust
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
HBA
    chmod 644 "$SVC_STATE/pg_hba.conf"
}

svc_prepare() {
    install_postgres
    # PostgreSQL's programs look up the current directory; the caller's may be closed to postgres.
    cd "$SVC_STATE"
    own_state
    init_data
    write_hba
}

# Settings on the command line rather than in postgresql.conf: they follow the environment at
# every start, and the command line names the data directory (the framework's invariant).
svc_launch() {
    local sockets="$SVC_STATE"
    # A unix socket path is at most 107 bytes; in a deeply nested clone, TCP only.
    ((${#sockets} + 15 <= 107)) || sockets=""
    svc_spawn "${AS_OWNER[@]}" "$BINDIR/postgres" -D "$DATA" \
        -c listen_addresses=127.0.0.1 -c port="$POSTGRES_PORT" -c unix_socket_directories="$sockets" \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=200 -c timezone=UTC -c log_timezone=UTC \
        -c hba_file="$SVC_STATE/pg_hba.conf" -c password_encryption=scram-sha-256
}

# Ready once it accepts connections (not while it is still starting or recovering).
svc_probe() {
    "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -t 2
}

# The tests' role, database and extension (idempotent: runs at every start), then the URL file.
svc_ready() {
    local out
    if ! out="$("$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres \
        -d template1 2>&1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_trgm;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'articles') THEN
        CREATE ROLE articles LOGIN CREATEDB PASSWORD 'articles';
    ELSE
        -- Hashed as scram-sha-256 (a role made by an older start may hold an md5 hash).
        ALTER ROLE articles PASSWORD 'articles';
    END IF;
END $$;
SELECT 'CREATE DATABASE articles OWNER articles'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'articles') \gexec
\connect articles
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL
    )"; then
        svc_die "creating role and database articles failed (server still running): $(tr '\n' ' ' <<<"$out")"
    fi
    printf '%s\n' "$URL" >"$SVC_STATE/url"
}

if [[ "${1:-}" == install ]]; then
    install_postgres
    exit 0
fi
svc_main "$@"
