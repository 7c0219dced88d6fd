#!/usr/bin/env bash
# Make sure the services and programs the test suite needs are here:
#   - festival with the HTS voice (speech for the transcription tests), with apt-get when root;
#   - Debian's chromium (browser tests), installed with apt-get when root;
#   - a Redis server answering at LIVEDESK_TEST_REDIS_URL (default 127.0.0.1:6379),
#     started here (and installed with apt-get when root) if none answers.
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
log "chromium: $( [ -x /usr/bin/chromium ] && echo ok || echo missing ), festival: $(command -v text2wave >/dev/null && echo ok || echo missing), redis: $host:$port ok"
