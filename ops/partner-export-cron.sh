#!/usr/bin/env bash
# Called by the crontab line in crontab.example. Keeps the two outputs apart:
#   - the run report (standard output) goes to a file of its own per run, under reports/;
#   - the log (standard error, JSON lines) is appended to log.jsonl.
# An idle tick ("No partner is due") leaves no report file, nor does a tick that found another run
# holding the lock (exit 75: success for cron; the log says so, as a JSON line).
set -uo pipefail
logs=${PARTNER_EXPORT_LOG_DIR:-/var/log/partner-export}
mkdir -p "$logs/reports"
report=$("${PARTNER_EXPORT_BIN:-/usr/local/bin/partner-export}" run --due --log-format json 2>>"$logs/log.jsonl")
rc=$?
case "$rc:$report" in
  75:*) ;;
  *:"No partner is due"*) ;;
  *:) ;;
  *) printf '%s\n' "$report" > "$logs/reports/$(date -u +%Y%m%dT%H%M%SZ).txt" ;;
esac
[ $rc -eq 75 ] && exit 0
exit $rc
