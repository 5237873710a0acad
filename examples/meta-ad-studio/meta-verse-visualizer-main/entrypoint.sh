#!/bin/sh
# meta-verse-visualizer-main entrypoint: serve the static front end with
# busybox httpd in the foreground. No secrets are needed.
set -eu

echo "meta-verse-visualizer-main $(cat /srv/www/version) listening on :${PORT:-8080}" >&2

# PID 1 ignores SIGTERM unless it handles it: forward it so `docker stop` is quick.
pid=""
stopping=0
trap 'stopping=1; if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; fi' TERM INT
httpd -f -v -p "${PORT:-8080}" -h /srv/www &
pid=$!
if [ "$stopping" = 1 ]; then kill -TERM "$pid" 2>/dev/null || true; fi
status=0
wait "$pid" || status=$?
if [ "$stopping" = 1 ]; then
    wait "$pid" 2>/dev/null || true
    exit 0
fi
exit "$status"
