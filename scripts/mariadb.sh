#!/usr/bin/env bash
# A throwaway MariaDB server on 127.0.0.1 for development and the tests: cross-engine sync
# (tests/sync_engines.rs) runs against it. See README, "Development servers".
set -euo pipefail

# shellcheck source=scripts/lib/service.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/service.sh"
# A test runs a server of its own beside a developer's: MARIADB_INSTANCE names its state.
svc_init "mariadb${MARIADB_INSTANCE:+-$MARIADB_INSTANCE}"

usage() {
    cat <<USAGE
Usage: scripts/mariadb.sh start | stop | status | install | --help

MariaDB (Debian's mariadb-server) as a process of its own on 127.0.0.1, with a data directory of
its own: not Debian's mariadb.service (port 3306). Installs the package when missing and run as
root (apt-get install --no-install-recommends mariadb-server). Run as root, the server runs as
the mysql user.

For tests only: the log is not flushed at commit (innodb_flush_log_at_trx_commit=0, no
doublewrite; a crash may lose the last second of commits), no binary log, and root has no
password.

  start   start the server unless it is running (mariadb-install-db on the first start); returns
          once it answers and user and database exist (exit 0), or prints the tail of its log and
          exits 1
  stop    stop the server this state directory started (SIGTERM, a normal shutdown that ends open
          sessions; SIGKILL after ${SVC_STOP_TIMEOUT}s)
  status  say whether it runs, and its address (exit 0 running, 3 not running)
  install install Debian's package if mariadbd is missing (as root), nothing else

What start creates: user articles@127.0.0.1 and articles@localhost (password articles, every
privilege on *.* with GRANT OPTION, so tests can create databases and read-only users of their
own), database articles (utf8mb4, utf8mb4_unicode_ci, the server's default too; time zone
+00:00). root has no password. The
mariadb client picks utf8mb3 in a UTF-8 locale: give it --default-character-set=utf8mb4 for
emoji (drivers that ask for utf8mb4 get it).

State, in $SVC_STATE/:
  url           mysql://articles:articles@127.0.0.1:PORT/articles   } written once the server
  address       127.0.0.1:PORT                                      } is ready, removed by stop
  mysqld.sock   the unix socket (root@localhost); in /tmp when this directory's path is too
                long for one (107 bytes)
  ca.pem        the server's self-signed certificate for 127.0.0.1 (TLS is offered, not
                required; trust this file to verify it), server-key.pem its key
  data, mariadb.log (the server's), install-db.log, console.log, pid

Environment:
  MARIADB_PORT        TCP port on 127.0.0.1 (default 3307, beside a system server on 3306)
  MARIADB_BUFFER_POOL_SIZE  InnoDB buffer pool (default 2G, taken as it fills: a million articles
                      fit, so benchmarks read memory, not the disk)
  MARIADB_INSTANCE    a name for a separate state directory (target/services/mariadb-NAME)
  SVC_START_TIMEOUT   seconds to wait for the server to be ready (default 120)
  SVC_STOP_TIMEOUT    seconds to wait for it to exit before SIGKILL (default 30)
USAGE
}

# Without MARIADB_PORT, `status` and `stop` find a running instance at the address it wrote.
if [[ -z "${MARIADB_PORT:-}" && -f "$SVC_ADDRESS_FILE" ]]; then
    MARIADB_PORT="$(sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' "$SVC_ADDRESS_FILE")"
fi
MARIADB_PORT="${MARIADB_PORT:-3307}"
# Debian's default (128M) holds a tenth of a benchmark's million articles: every read would go
# to the disk (InnoDB reads with O_DIRECT, so the page cache does not help as for PostgreSQL).
# Memory is taken as pages are used.
MARIADB_BUFFER_POOL_SIZE="${MARIADB_BUFFER_POOL_SIZE:-2G}"
DATA="$SVC_STATE/data"
SOCKET="$SVC_STATE/mysqld.sock"
# A unix socket path is at most 107 bytes; in a deeply nested clone the socket goes to /tmp,
# named after the state directory.
if ((${#SOCKET} > 107)); then
    SOCKET="/tmp/articles-mariadb-$(md5sum <<<"$SVC_STATE" | cut -c1-12).sock"
fi
URL="mysql://articles:articles@127.0.0.1:$MARIADB_PORT/articles"
# The server is in /usr/sbin, which a normal user's PATH may lack.
MARIADBD="$(PATH="$PATH:/usr/sbin" command -v mariadbd || true)"

SVC_ADDRESS="127.0.0.1:$MARIADB_PORT"
SVC_PORTS=("MARIADB_PORT=$MARIADB_PORT")
SVC_LOGS=("$SVC_STATE/mariadb.log")
SVC_READY_FILES=("$SVC_STATE/url")

# mariadbd refuses to run as root (unless told --user): as root, mariadb-install-db and the
# server run as the mysql user (created by Debian's package). setpriv execs the command, so the
# pid svc_spawn records is the server's own. As anybody else they run as that user.
if [[ "$(id -u)" == 0 ]]; then
    AS_OWNER=(setpriv --reuid=mysql --regid=mysql --init-groups)
else
    AS_OWNER=()
fi

# Installs Debian's mariadb-server when mariadbd is missing (root only). On a host run by systemd
# the package also starts (and enables) its own mariadb.service on :3306; that one is stopped and
# disabled again unless it was enabled before. (Ours uses another port, but a test machine need
# not run a second server for nothing.)
install_mariadb() {
    local was_enabled=no
    [[ -n "$MARIADBD" ]] && command -v mariadb-install-db >/dev/null && return 0
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
        svc_die "mariadbd not found: install Debian's package (apt-get install --no-install-recommends mariadb-server) as root"
    fi
    if [[ -d /run/systemd/system ]] && systemctl is-enabled --quiet mariadb 2>/dev/null; then
        was_enabled=yes
    fi
    svc_say "installing Debian's mariadb-server package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null
    if [[ -d /run/systemd/system && "$was_enabled" == no ]]; then
        systemctl disable --now mariadb >/dev/null 2>&1 || true
    fi
    MARIADBD="$(PATH="$PATH:/usr/sbin" command -v mariadbd || true)"
    [[ -n "$MARIADBD" ]] || svc_die "apt-get installed mariadb-server but mariadbd was not found"
}

# The state directory belongs to the user the server runs as, and that user must reach it.
own_state() {
    mkdir -p "$DATA"
    if ((${#AS_OWNER[@]})); then
        chown mysql: "$SVC_STATE" "$DATA"
        "${AS_OWNER[@]}" test -w "$SVC_STATE" ||
            svc_die "the mysql user cannot reach $SVC_STATE (a parent directory is not searchable by others; chmod o+x it)"
    fi
    chmod 700 "$DATA"
}

# mariadb-install-db on the first start: the system tables, root@localhost without a password.
# --no-defaults: no /etc/mysql/my.cnf or ~/.my.cnf (Debian's would point at /var/lib/mysql).
# Its own log, whose first ERROR line names the cause (the rest of its output is boilerplate).
init_data() {
    local log="$SVC_STATE/install-db.log" cause
    [[ -d "$DATA/mysql" ]] && return 0
    if ! "${AS_OWNER[@]}" mariadb-install-db --no-defaults --datadir="$DATA" \
        --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve >"$log" 2>&1; then
        cause="$(grep -m 1 -E 'ERROR' "$log" || tail -n 1 "$log")"
        svc_die "mariadb-install-db of $DATA failed: $cause (all of it in $log; remove $DATA to start over)"
    fi
}

# A self-signed certificate for 127.0.0.1 (made once, kept with the data): the server offers TLS,
# so clients can test `ssl-mode` against it; ca.pem is what they trust.
make_certificate() {
    [[ -f "$SVC_STATE/server-key.pem" && -f "$SVC_STATE/ca.pem" ]] && return 0
    command -v openssl >/dev/null || svc_die "openssl not found (Debian package openssl): the server's TLS certificate is made with it"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$SVC_STATE/server-key.pem" -out "$SVC_STATE/ca.pem" >/dev/null 2>&1 ||
        svc_die "openssl could not make the server's certificate"
    if ((${#AS_OWNER[@]})); then
        chown mysql: "$SVC_STATE/server-key.pem" "$SVC_STATE/ca.pem"
    fi
    chmod 600 "$SVC_STATE/server-key.pem"
    chmod 644 "$SVC_STATE/ca.pem"
}

svc_prepare() {
    install_mariadb
    # The caller's current directory may be closed to mysql.
    cd "$SVC_STATE"
    own_state
    init_data
    make_certificate
}

# Settings on the command line (after --no-defaults, which must come first): they follow the
# environment at every start, and the command line names the data directory.
svc_launch() {
    svc_spawn "${AS_OWNER[@]}" "$MARIADBD" --no-defaults --datadir="$DATA" \
        --pid-file="$SVC_STATE/mariadbd.pid" --log-error="$SVC_STATE/mariadb.log" \
        --socket="$SOCKET" --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --skip-log-bin --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --default-time-zone=+00:00 --max-connections=200 \
        --innodb-buffer-pool-size="$MARIADB_BUFFER_POOL_SIZE" \
        --ssl-cert="$SVC_STATE/ca.pem" --ssl-key="$SVC_STATE/server-key.pem"
}

# Ready once it answers over TCP (mariadb-admin ping succeeds even when access is denied).
svc_probe() {
    mariadb-admin --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" -u root \
        --connect-timeout=2 ping >/dev/null 2>&1
}

# The tests' user and database (idempotent: runs at every start), then the URL file.
svc_ready() {
    local out
    # As root@localhost (no password, mariadb-install-db's), over the unix socket.
    if ! out="$(mariadb --no-defaults --socket="$SOCKET" -u root 2>&1 <<'SQL'
CREATE USER IF NOT EXISTS 'articles'@'127.0.0.1' IDENTIFIED BY 'articles';
CREATE USER IF NOT EXISTS 'articles'@'localhost' IDENTIFIED BY 'articles';
GRANT ALL PRIVILEGES ON *.* TO 'articles'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'articles'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS articles CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
SQL
    )"; then
        svc_die "creating user and database articles failed (server still running): $(tr '\n' ' ' <<<"$out")"
    fi
    printf '%s\n' "$URL" >"$SVC_STATE/url"
}

if [[ "${1:-}" == install ]]; then
    install_mariadb
    exit 0
fi
svc_main "$@"
