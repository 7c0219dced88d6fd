#!/usr/bin/env bash
# Make sure the services and programs the test suite needs are here:
#   - festival with the HTS voice (speech for the transcription tests), with apt-get when root;
#   - Debian's chromium (browser tests), installed with apt-get when root;
#   - a Redis server answering at LIVEDESK_TEST_REDIS_URL (default 127.0.0.1:6379),
#     started here (and installed with apt-get when root) if none answers;
#   - a PostgreSQL server answering at LIVEDESK_TEST_DATABASE_URL (default
#     postgresql://postgres@127.0.0.1:5432/test), started here (and installed with
#     apt-get when root, trusting loopback, with a database "test") if none answers.
# Under CI=true a missing piece is an error, never a skip.
set -euo pipefail

log() { printf 'ensure-test-deps: %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
apt_updated=0
apt_install() {
    if ! is_root; then
        log "need root to apt-get install $*"; return 1
    fi
    if [ "$apt_updated" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- chromium -------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian chromium"
    apt_install chromium || { log "chromium is missing"; [ "${CI:-}" = true ] && exit 1; }
fi

# --- festival (speech for the transcription tests) ------------------------
# The HTS voice is far closer to natural speech than espeak-ng, which matters for a
# word-error-rate test. text2wave comes with festival.
if ! command -v text2wave >/dev/null || [ ! -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ]; then
    log "installing festival with the US SLT HTS voice"
    apt_install festival festvox-us-slt-hts || { log "festival is missing"; [ "${CI:-}" = true ] && exit 1; }
fi
# espeak-ng speaks Korean (robotically): enough to show a Korean entry gets a Korean transcript
if ! command -v espeak-ng >/dev/null; then
    log "installing espeak-ng"
    apt_install espeak-ng || { log "espeak-ng is missing"; [ "${CI:-}" = true ] && exit 1; }
fi

# --- redis ----------------------------------------------------------------
url="${LIVEDESK_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
hostport="${url#redis://}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379

redis_up() {
    # a RESP PING over bash's /dev/tcp, in a subshell: no redis-cli needed
    (
        exec 3<>"/dev/tcp/$host/$port" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        [[ "$reply" == +PONG* ]]
    ) 2>/dev/null
}

if ! redis_up; then
    if [ "$host" != 127.0.0.1 ] && [ "$host" != localhost ]; then
        log "Redis at $host:$port does not answer"; exit 1
    fi
    command -v redis-server >/dev/null || apt_install redis-server || true
    if ! command -v redis-server >/dev/null; then
        log "no redis-server available"; [ "${CI:-}" = true ] && exit 1; exit 0
    fi
    log "starting redis-server on $host:$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir /tmp --logfile "/tmp/livedesk-test-redis-$port.log"
    for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
    redis_up || { log "redis-server did not come up"; exit 1; }
fi
# --- postgresql -----------------------------------------------------------
pg_url="${LIVEDESK_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
py="${LIVEDESK_PYTHON:-.venv/bin/python}"
pg_up() {
    "$py" - "$pg_url" <<'PY' 2>/dev/null
import sys
import psycopg
with psycopg.connect(sys.argv[1], connect_timeout=3) as conn:
    conn.execute("SELECT 1")
PY
}
pg_start_clusters() {
    command -v pg_ctlcluster >/dev/null || return 1
    local version
    for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    done
}
pg_local_setup() {
    # a cluster this script installed: trust loopback for the tests, and a database "test"
    local hba version
    for version in $(ls /etc/postgresql 2>/dev/null); do
        hba="/etc/postgresql/$version/main/pg_hba.conf"
        if [ -f "$hba" ] && ! grep -q "livedesk-tests" "$hba"; then
            sed -i '1i host all all 127.0.0.1/32 trust # livedesk-tests' "$hba"
            pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
        fi
    done
    runuser -u postgres -- createdb test 2>/dev/null || true
}
case "$pg_url" in
    *@127.0.0.1*|*@localhost*|*//127.0.0.1*|*//localhost*) pg_local=1 ;;
    *) pg_local=0 ;;
esac
if ! pg_up; then
    if [ "$pg_local" = 0 ]; then
        log "PostgreSQL at $pg_url does not answer"; exit 1
    fi
    log "starting PostgreSQL"
    pg_start_clusters || true
    for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
    if ! pg_up; then
        if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
            log "installing PostgreSQL"
            apt_install postgresql || { log "no PostgreSQL available"; [ "${CI:-}" = true ] && exit 1; exit 0; }
            pg_start_clusters || true
        fi
        pg_local_setup
        for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
    fi
    pg_up || { log "PostgreSQL did not come up at $pg_url"; [ "${CI:-}" = true ] && exit 1; exit 0; }
fi
log "chromium: $( [ -x /usr/bin/chromium ] && echo ok || echo missing ), festival: $(command -v text2wave >/dev/null && echo ok || echo missing), redis: $host:$port ok, postgresql: ok"
