#!/usr/bin/env bash
# make demo: demo data in SQLite, validated, previewed, delivered over real HTTPS to the local partner
# sandbox. Everything goes under demo/ (git-ignored). The sandbox picks free ports; the demo's
# configuration (demo/config) is the shipped one with its URLs and TLS files pointed at the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/debug/partner-export}
DEMO=${DEMO:-demo}
CUSTOMERS=${DEMO_CUSTOMERS:-5000}
mkdir -p "$DEMO"
chmod 700 "$DEMO"
[ -f "$DEMO/pki/ca.pem" ] || sandbox/make-pki.sh "$DEMO/pki"
pki=$(cd "$DEMO/pki" && pwd)

say() { echo; echo "+ partner-export $*"; }

"$BIN" demo-data --customers "$CUSTOMERS" --seed 1 --db "$DEMO/customers.sqlite" --force

# The sandbox, on free ports; it keeps what it receives in demo/sandbox.
rm -rf "$DEMO/sandbox" "$DEMO/state"
mkdir -p "$DEMO/sandbox"
python3 sandbox/partner_sandbox.py --dir "$DEMO/sandbox" --cert "$pki/server.pem" --key "$pki/server.key" \
  --client-ca "$pki/ca.pem" --listen tls:0 --listen mtls:0 --mtls mtls \
  --routes sandbox/demo-routes.json > "$DEMO/sandbox/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$DEMO/sandbox/ports.json" ] && break; sleep 0.1; done
[ -f "$DEMO/sandbox/ports.json" ] || { echo "demo: the sandbox did not start"; cat "$DEMO/sandbox/sandbox.log"; exit 1; }
cat "$DEMO/sandbox/sandbox.log"

# The shipped configuration, pointed at the sandbox.
python3 - "$DEMO" "$pki" <<'PY'
import json, os, re, shutil, sys
demo, pki = sys.argv[1], sys.argv[2]
ports = json.load(open(os.path.join(demo, "sandbox/ports.json")))
config = os.path.join(demo, "config")
shutil.rmtree(config, ignore_errors=True)
for folder in ("partners", "mappings", "schemas"):
    shutil.copytree(folder, os.path.join(config, folder))
for file in ("catalog.yaml", "policy.yaml"):
    shutil.copy(file, os.path.join(config, file))
where = {"acme-offers": ("tls", "/feeds/acme-offers", []),
         "globex-programs": ("mtls", "/feeds/globex-programs",
                             [f"  client_cert: {pki}/client.pem", f"  client_key: {pki}/client.key"]),
         "initech-insights": ("tls", "/feeds/initech-insights", [])}
for partner, (listener, path, extra) in where.items():
    file = os.path.join(config, "partners", partner + ".yaml")
    text = open(file).read()
    text = re.sub(r"(?m)^  url: .*$", f"  url: https://localhost:{ports[listener]}{path}", text)
    text = re.sub(r"(?m)^      token_url: .*$", f"      token_url: https://localhost:{ports['tls']}/oauth/token", text)
    text = text.replace("delivery:\n", "delivery:\n" + "\n".join([f"  ca_file: {pki}/ca.pem"] + extra) + "\n", 1)
    open(file, "w").write(text)
PY
# DEMO_STATE=postgresql://… keeps the ledger in PostgreSQL instead (its local files stay under $DEMO/state).
export PARTNER_EXPORT_STATE_DIR="$DEMO/state"
common=(--config "$DEMO/config" --db "$DEMO/customers.sqlite" --state "${DEMO_STATE:-$DEMO/state/ledger.sqlite}")

say validate
"$BIN" validate --config "$DEMO/config"
say audit init --name demo.example
verifier=$("$BIN" audit init --name demo.example "${common[@]}" | tee -a /dev/stderr | grep -E '^demo\.example\+')
say preview acme-offers --limit 1
"$BIN" preview acme-offers --limit 1 "${common[@]}"
say run --all
status=0
"$BIN" run --all "${common[@]}" || status=$?
say deliveries --limit 5
"$BIN" deliveries --limit 5 "${common[@]}"
id=$(sqlite3 "$DEMO/customers.sqlite" "SELECT c.id FROM customers c JOIN consents k ON k.customer_id = c.id
  AND k.scope = 'partner-offers' AND k.withdrawn_at IS NULL WHERE c.account_status = 'active' ORDER BY c.id LIMIT 1")
say disclosures "$id"
"$BIN" disclosures "$id" "${common[@]}"

# Customer $id withdraws their consent: the next run tells the partners that received them to forget them.
echo
echo "+ customer $id withdraws consent to partner-offers (in the customer database)"
sqlite3 "$DEMO/customers.sqlite" "UPDATE consents SET withdrawn_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
  WHERE customer_id = $id AND scope = 'partner-offers'"
say preview acme-offers --limit 0
"$BIN" preview acme-offers --limit 0 "${common[@]}" | grep -E "deletion notices|consent_withdrawn|would be sent" || true
say run acme-offers
"$BIN" run acme-offers "${common[@]}" | grep -E "^(OK|NOT)|deletion notices|^acme-offers" || status=$?
say disclosures "$id"
"$BIN" disclosures "$id" "${common[@]}"
say disclosures "$id" --proof --json
"$BIN" disclosures "$id" --proof --json "${common[@]}" > "$DEMO/receipts-$id.json"
echo "receipts written to $DEMO/receipts-$id.json; checked with nothing but the verifier key (docs/audit.md):"
echo; echo "+ python3 tools/verify_receipt.py --key $verifier --customer $id $DEMO/receipts-$id.json"
python3 "$(dirname "$0")/../tools/verify_receipt.py" --key "$verifier" --customer "$id" "$DEMO/receipts-$id.json" || status=$?
say disclosures "$id" --format html --out "$DEMO/report-$id.html"
"$BIN" disclosures "$id" --format html --out "$DEMO/report-$id.html" "${common[@]}"
say audit verify
"$BIN" audit verify "${common[@]}" || status=$?
say ropa
"$BIN" ropa "${common[@]}" || status=$?
echo
echo "The customer's own report (who received their data, in plain words): $DEMO/report-$id.html"
echo
echo "The sandbox received $(wc -l < "$DEMO/sandbox/requests.jsonl") requests ($DEMO/sandbox/requests.jsonl)."
exit $status
