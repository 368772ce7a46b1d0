#!/usr/bin/env bash
# Reproduces the README's speed figures on this machine: builds Rally,
# serves it on 127.0.0.1:8095 from a temporary folder and drives it with
# wrk (2 threads, 64 connections, 10 s a run), on a fresh database, in a
# surge of 1,000 connections and with 1,000,000 signatures, then measures
# the SQLite ceiling. Loopback
# only; every run stops by itself. Needs wrk (apt-get install -y wrk).
#
#   bash cmd/rally-load/measure.sh
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD
OUT=$(mktemp -d /tmp/rally-measure.XXXXXX)
trap 'pkill -f "$OUT/rally serve" 2>/dev/null; rm -rf "$OUT"' EXIT
go build -o "$OUT/rally" ./cmd/rally
go test -c -o "$OUT/campaigns.test" ./campaigns
ADDR=127.0.0.1:8095
SLUG=safe-streets-around-our-schools
SIGN="$REPO/cmd/rally-load/wrk/sign.lua"
pid() { pgrep -f "$OUT/rally serve" | head -1; }
rss() { awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/"$(pid)"/status; }
peak() { awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/"$(pid)"/status; }
start() { # folder, sync
  # Measure only the Rally started here, never one already on the address.
  if curl -s -o /dev/null http://$ADDR/; then
    echo "measure.sh: something already answers on $ADDR; stop it first" >&2; exit 1
  fi
  (RALLY_SYNC=$2 RALLY_RATE_LIMITS=off "$OUT/rally" serve --demo --data "$1" --addr $ADDR \
    --base-url http://$ADDR > "$1.log" 2>&1 &)
  for _ in $(seq 50); do curl -sf http://$ADDR/healthz > /dev/null && break; sleep 0.2; done
}
stop() { # and wait until it has exited (30 s at most)
  pkill -f "$OUT/rally serve"
  for _ in $(seq 300); do pgrep -f "$OUT/rally serve" > /dev/null || break; sleep 0.1; done
}
settle() { sync; sleep 2; } # let the disk finish the last phase's writes
run() { # label, wrk args... (CONNS: connections, 64 unless set)
  local label=$1; shift
  settle
  echo "== $label"
  wrk -t2 -c"${CONNS:-64}" -d10s --latency "$@" 2>&1 | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
}
# Signing is measured three times, each on its own fresh database: this
# machine's speed varies by a fifth from one 10 s run to the next, so one
# run says little; the README gives the median and the range.
for sync in full normal; do
  for i in 1 2 3; do
    start "$OUT/fresh-$sync-$i" $sync
    echo "### fresh database, RALLY_SYNC=$sync ($i of 3)"
    run "sign" -s "$SIGN" http://$ADDR
    if [ $sync = full ] && [ $i = 1 ]; then
      run "page" -H "Accept-Language: en-GB,en;q=0.9" http://$ADDR/c/$SLUG
      run "json" http://$ADDR/c/$SLUG.json
    fi
    echo "rss: $(rss)"
    stop
  done
done
echo "### a surge: 1,000 connections, fresh database"
start "$OUT/surge" full
CONNS=1000 run "sign (1,000 connections)" -s "$SIGN" http://$ADDR
echo "rss: $(rss), peak $(peak)"
stop
echo "### 1,000,000 signatures"
# rally seed adds the demo cause to the new database, then its signatures.
"$OUT/rally" seed --signatures 1000000 --data "$OUT/1m" --log-level warn 2>&1 | tail -1
start "$OUT/1m" full
for i in 1 2 3; do
  run "sign (1M, $i of 3)" -s "$SIGN" http://$ADDR
done
run "page (1M)" -H "Accept-Language: en-GB,en;q=0.9" http://$ADDR/c/$SLUG
run "json (1M)" http://$ADDR/c/$SLUG.json
echo "rss: $(rss)"
stop
RALLY_PASSWORD='measure-password-1' "$OUT/rally" organiser add --data "$OUT/1m" --email admin@measure.example \
  --name Admin --admin --log-level warn > /dev/null 2>&1
start "$OUT/1m" full
curl -s -c "$OUT/jar" -o /dev/null -d 'email=admin@measure.example&password=measure-password-1' http://$ADDR/login
settle
echo "== CSV export of every signature"
curl -s -b "$OUT/jar" -o "$OUT/export.csv" -w "status %{http_code}, %{size_download} bytes in %{time_total} s\n" \
  http://$ADDR/campaigns/$SLUG/signatures.csv
echo "rows: $(( $(wc -l < "$OUT/export.csv") - 1 )); rss after: $(rss)"
stop
settle
echo "### ceiling: SQLite taking the same rows in transactions of 100"
"$OUT/campaigns.test" -test.run XXX -test.bench 'Sign(Rows|Many)Batched' -test.benchtime 50000x 2>&1 | grep Bench
