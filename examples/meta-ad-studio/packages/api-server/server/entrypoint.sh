#!/bin/sh
# api-server entrypoint: check the required configuration (by name only),
# write /api/status, then serve /srv/www with busybox httpd in the foreground.
set -eu

# Secrets arrive as environment variables (Secret Manager, a dotenv file, ...).
# Their values are never printed.
missing=""
for name in DATABASE_URL RUNWAYML_API_KEY REDIS_URL; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then missing="$missing $name"; fi
done
unset value
if [ -n "$missing" ]; then
    echo "api-server: missing required environment variables:$missing" >&2
    exit 78  # EX_CONFIG
fi

# Fase 5 feature flag: turn video generation off without a rebuild.
case "${VIDEO_GENERATION_ENABLED:-true}" in
    true | TRUE | True | 1 | yes | on) video=true switch=on ;;
    false | FALSE | False | 0 | no | off) video=false switch=off ;;
    *)
        echo "api-server: VIDEO_GENERATION_ENABLED must be true or false, got '$VIDEO_GENERATION_ENABLED'" >&2
        exit 78
        ;;
esac

# /srv/www/api/status is a symlink to this file, so the image itself stays read-only.
state=/tmp/api-server
mkdir -p "$state"
version=$(cat /srv/www/version)
printf '{"service":"api-server","version":"%s","status":"ok","video_generation":"%s","features":{"video_generation":%s}}\n' \
    "$version" "$switch" "$video" >"$state/status.json.new"
mv "$state/status.json.new" "$state/status.json"

echo "api-server $version listening on :${PORT:-8080} (video_generation=$video)" >&2

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
