#!/usr/bin/env bash
# Called by the crontab line in crontab.example. Keeps the two outputs apart:
#   - the run report (standard output) goes to a file of its own per run, under reports/;
#   - the log (standard error, JSON lines) is appended to log.jsonl.
# An idle tick ("No partner is due") leaves no report file; exit 75 (another run holds the lock) is
# success for cron.
set -uo pipefail
logs=${PARTNER_EXPORT_LOG_DIR:-/var/log/partner-export}
mkdir -p "$logs/reports"
report=$("${PARTNER_EXPORT_BIN:-/usr/local/bin/partner-export}" run --due --log-format json 2>>"$logs/log.jsonl")
rc=$?
case "$report" in
  "No partner is due"*) ;;
  *) printf '%s\n' "$report" > "$logs/reports/$(date -u +%Y%m%dT%H%M%SZ).txt" ;;
esac
[ $rc -eq 75 ] && exit 0
exit $rc
