#!/usr/bin/env bash
# Signing with wrk, alone and while a 100,000-recipient blast is sent, in
# alternate runs on the same seeded database (a fresh copy each run): Rally
# as deployed (mail at RALLY_MAIL_RATE's default 50 a second, 8 SMTP
# connections) into the load tool's SMTP sink. In the blast runs the blast
# is sent one second into the ten seconds of signing. Loopback only; every
# run stops by itself.
#
#   bash cmd/rally-load/wrk/blast-sign.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-3}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/rally" ./cmd/rally
go build -o "$work/rally-load" ./cmd/rally-load
base=http://127.0.0.1:8140
slug=safe-streets-around-our-schools
password="a load-test password"

"$work/rally-load" -sink 127.0.0.1:2526 -duration 15m >"$work/sink.log" &
seed="$work/seed"
RALLY_DATA=$seed "$work/rally" migrate >/dev/null 2>&1
RALLY_DATA=$seed RALLY_PASSWORD=$password "$work/rally" organiser add --email admin@load.localhost --name "Load Admin" --admin >/dev/null 2>&1
RALLY_DATA=$seed "$work/rally" seed --signatures 100000 --batch 20000 --cause "$slug" --log-level warn >/dev/null 2>&1

one() { # alone|blast
  local data="$work/run" jar="$work/jar"
  rm -rf "$data" "$jar"
  cp -r "$seed" "$data"
  RALLY_DATA=$data RALLY_ADDR=127.0.0.1:8140 RALLY_BASE_URL=$base RALLY_SMTP_URL="smtp://127.0.0.1:2526?tls=none" \
    RALLY_MAIL_FROM="Rally <rally@load.localhost>" RALLY_RATE_LIMITS=off RALLY_SMTP_CONNS=8 RALLY_BLAST_DAILY_CAP=1000000 \
    RALLY_LOG_LEVEL=warn "$work/rally" serve >"$work/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null $base/healthz && break; sleep 0.1; done
  curl -s -c "$jar" -o /dev/null -X POST -H "Origin: $base" $base/login \
    --data-urlencode "email=admin@load.localhost" --data-urlencode "password=$password"
  local blast
  blast=$(curl -s -b "$jar" -o /dev/null -w "%{redirect_url}" -X POST -H "Origin: $base" "$base/campaigns/$slug/blasts" \
    --data-urlencode "subject=Vote on Monday" --data-urlencode "body=Hello {first_name|friend}, the council votes on **Monday**." \
    --data-urlencode "cta_label=Write to my councillor" --data-urlencode "cta_url=https://example.org/write")
  if [ "$1" = blast ]; then
    (sleep 1; curl -s -b "$jar" -o /dev/null -X POST -H "Origin: $base" "$blast/send") &
  fi
  local out
  out=$(wrk -t2 -c64 -d10s -s cmd/rally-load/wrk/sign.lua --latency $base)
  printf '%-5s %9s sign/s  p99 %-8s ' "$1" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" "$(awk '$1=="99%"{print $2}' <<<"$out")"
  curl -s -b "$jar" "$blast.json" | sed -E 's/.*"status":"([a-z]+)","recipients":([0-9]+),"queued":([0-9]+),"sent":([0-9]+).*/blast \1: \2 recipients, \3 queued, \4 sent/'
  printf '  peak RSS %s\n' "$(awk '/VmHWM/{print $2, $3}' /proc/$pid/status)"
  kill $pid; wait $pid 2>/dev/null || true
}

for r in $(seq "$rounds"); do
  one alone
  one blast
done
