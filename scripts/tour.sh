#!/usr/bin/env bash
# The README's first tour, runnable: rights check -> PEC -> invoice -> payment run -> statement.
# Needs a running demo platform (`make run`) and jq. BASE defaults to http://127.0.0.1:8000.
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8000}
TIERS=${TIERS:-.venv/bin/tiers}
TODAY=$(date +%F)
# What the tour writes (the answers, as JSON) goes under var/, beside the demo's database.
OUT=${OUT:-var/tour}
mkdir -p "$OUT"
json() { curl -sS -H 'content-type: application/json' -H "authorization: Bearer $1" "${@:2}"; }

# Practice software signs in (password + current TOTP code) and keeps the bearer token.
TOKEN=$($TIERS demo token optique.demo --base-url "$BASE")

# 1. Rights check with what the (synthetic) patient presents: insurer attestation + carte Vitale.
PATIENT='"amc_number":"990000011","member_number":"0000000013","nir":"269083114939365","birth_date":"1969-08-04"'
json "$TOKEN" "$BASE/v1/rights-checks" -d "{$PATIENT,\"date_of_care\":\"$TODAY\",\"category\":\"optical\"}" | tee "$OUT/rights.json"
echo
E=$(jq -r .engagement_number "$OUT/rights.json")

# 2. Binding pre-authorisation (PEC) of glasses: class B frame and two class B lenses.
LINES='[{"code":"9100102","price":"180.00"},
        {"code":"9100301","price":"120.00","lens_type":"unifocal","sph":"-2.00","cyl":"-0.50"},
        {"code":"9100301","price":"120.00","lens_type":"unifocal","sph":"-1.75"}]'
json "$TOKEN" "$BASE/v1/quotes" -d "{\"engagement_number\":\"$E\",\"kind\":\"pec\",\"lines\":$LINES}" | tee "$OUT/pec.json" | jq .
P=$(jq -r .number "$OUT/pec.json")

# 3. The invoice, claiming what the PEC granted on each line.
CLAIMED=$(jq -c --argjson lines "$LINES" '[$lines, .lines] | transpose | map(.[0] + {amc_claimed: .[1].amc})' "$OUT/pec.json")
json "$TOKEN" "$BASE/v1/invoices" -d "{\"invoice_number\":\"F-$(date +%s)\",\"pec_number\":\"$P\",\"date_of_care\":\"$TODAY\",\"lines\":$CLAIMED}" | tee "$OUT/invoice.json" | jq '{invoice_number, status, claimed_amc, approved_amc, findings}'

# 4. The insurer's operator pays every approved invoice: one transfer per professional.
INS=$($TIERS demo token assureur.demo --base-url "$BASE")
json "$INS" "$BASE/v1/payment-runs" -d '{}' | tee "$OUT/run.json" | jq .
RUN=$(jq -r .id "$OUT/run.json")
json "$INS" "$BASE/v1/payment-runs/$RUN/sepa" | head -c 300
echo

# 5. The optician's remittance statements.
json "$TOKEN" "$BASE/v1/payment-statements" | jq '.[0]'
