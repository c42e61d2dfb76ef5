# Services the test suite runs against: a throwaway PostgreSQL cluster, moto's S3 server and
# a Redis server, all on loopback, on free ports. Sourced by .ci/run (bash, `set -euo pipefail`
# active), so it never calls `exit`; it exports
#   PRODML_TEST_POSTGRES_URL   postgresql+psycopg://postgres@127.0.0.1:PORT/prodml_test
#   PRODML_TEST_S3_ENDPOINT    http://127.0.0.1:PORT
#   PRODML_TEST_REDIS_URL      redis://127.0.0.1:PORT/0
#   PRODML_REQUIRE_SERVICES=1  tests that need a service fail instead of skipping
# and stops both when the shell exits. A developer can `source .ci/services.sh` too.

_prodml_svc_log() { printf '[services] %s\n' "$*" >&2; }

_prodml_svc_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Run a command as the postgres user when we are root (initdb refuses to run as root).
_prodml_svc_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_prodml_svc_pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    printf '%s' "$d"
}

_prodml_svc_start_postgres() {
    local bindir port
    bindir=$(_prodml_svc_pg_bindir)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        _prodml_svc_log "installing PostgreSQL from the Debian packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q postgresql >/dev/null
        bindir=$(_prodml_svc_pg_bindir)
    fi
    _PRODML_SVC_PGDIR=$(mktemp -d /tmp/prodml-pg.XXXXXX)
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$_PRODML_SVC_PGDIR"
    fi
    port=$(_prodml_svc_free_port)
    _PRODML_SVC_PGBIN=$bindir
    _prodml_svc_as_pg "$bindir/initdb" -D "$_PRODML_SVC_PGDIR/data" -U postgres -A trust \
        --no-sync -E UTF8 >"$_PRODML_SVC_PGDIR/initdb.log" 2>&1
    _prodml_svc_as_pg "$bindir/pg_ctl" -D "$_PRODML_SVC_PGDIR/data" -w -t 60 \
        -l "$_PRODML_SVC_PGDIR/server.log" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $_PRODML_SVC_PGDIR -c fsync=off -c max_connections=200" \
        start >/dev/null
    _prodml_svc_as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres prodml_test
    export PRODML_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/prodml_test"
    _prodml_svc_log "PostgreSQL up: $PRODML_TEST_POSTGRES_URL"
}

_prodml_svc_start_moto() {
    local port i
    port=$(_prodml_svc_free_port)
    _PRODML_SVC_MOTOLOG=$(mktemp /tmp/prodml-moto.XXXXXX)
    if command -v moto_server >/dev/null 2>&1; then
        moto_server -H 127.0.0.1 -p "$port" >"$_PRODML_SVC_MOTOLOG" 2>&1 &
    else
        python -m moto.server -H 127.0.0.1 -p "$port" >"$_PRODML_SVC_MOTOLOG" 2>&1 &
    fi
    _PRODML_SVC_MOTOPID=$!
    for i in $(seq 1 120); do
        if python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/', timeout=1)" \
            >/dev/null 2>&1; then
            export PRODML_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
            _prodml_svc_log "moto S3 up: $PRODML_TEST_S3_ENDPOINT (after ${i} tries)"
            return 0
        fi
        sleep 0.5
    done
    _prodml_svc_log "moto_server did not answer on port $port; its log:"
    cat "$_PRODML_SVC_MOTOLOG" >&2
    return 1
}

_prodml_svc_start_redis() {
    local port i
    if ! command -v redis-server >/dev/null 2>&1; then
        _prodml_svc_log "installing Redis from the Debian packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q redis-server >/dev/null
    fi
    port=$(_prodml_svc_free_port)
    _PRODML_SVC_REDISDIR=$(mktemp -d /tmp/prodml-redis.XXXXXX)
    # No persistence, loopback only, its own folder: a throwaway server.
    redis-server --bind 127.0.0.1 --port "$port" --dir "$_PRODML_SVC_REDISDIR" \
        --save "" --appendonly no --protected-mode yes \
        >"$_PRODML_SVC_REDISDIR/server.log" 2>&1 &
    _PRODML_SVC_REDISPID=$!
    for i in $(seq 1 120); do
        if python3 -c "import socket; s = socket.create_connection(('127.0.0.1', $port), 1); s.sendall(b'PING\r\n'); assert s.recv(16).startswith(b'+PONG')" \
            >/dev/null 2>&1; then
            export PRODML_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
            _prodml_svc_log "Redis up: $PRODML_TEST_REDIS_URL (after ${i} tries)"
            return 0
        fi
        sleep 0.5
    done
    _prodml_svc_log "redis-server did not answer on port $port; its log:"
    cat "$_PRODML_SVC_REDISDIR/server.log" >&2
    return 1
}

_prodml_svc_stop() {
    if [ -n "${_PRODML_SVC_REDISPID:-}" ]; then
        kill "$_PRODML_SVC_REDISPID" 2>/dev/null || true
        wait "$_PRODML_SVC_REDISPID" 2>/dev/null || true
        rm -rf "${_PRODML_SVC_REDISDIR:-}"
    fi
    if [ -n "${_PRODML_SVC_MOTOPID:-}" ]; then
        kill "$_PRODML_SVC_MOTOPID" 2>/dev/null || true
        wait "$_PRODML_SVC_MOTOPID" 2>/dev/null || true
        rm -f "${_PRODML_SVC_MOTOLOG:-}"
    fi
    if [ -n "${_PRODML_SVC_PGDIR:-}" ] && [ -d "$_PRODML_SVC_PGDIR/data" ]; then
        _prodml_svc_as_pg "$_PRODML_SVC_PGBIN/pg_ctl" -D "$_PRODML_SVC_PGDIR/data" -m fast -w \
            stop >/dev/null 2>&1 || true
        rm -rf "$_PRODML_SVC_PGDIR"
    fi
}

_prodml_svc_on_exit() {
    local rc=$?
    _prodml_svc_stop
    return "$rc"
}

trap _prodml_svc_on_exit EXIT
_prodml_svc_start_postgres
_prodml_svc_start_moto
_prodml_svc_start_redis
export PRODML_REQUIRE_SERVICES=1
