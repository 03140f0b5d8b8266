#!/usr/bin/env bash
# `npm test`: every check and every test, in the order that fails fastest.
#   1. type check (tsc) and lint (biome + dependency-cruiser)
#   2. unit tests (pure logic)
#   3. services checked or started (MariaDB, Redis, RabbitMQ, MongoDB server)
#   4. integration tests against the real services
#   5. end-to-end tests through serverless-offline and the RabbitMQ bridge
#   6. the reduced chaos run (kills, service restarts, duplicates, poison, limit flips)
#   7. `serverless package` for AWS, and the CloudFormation template checked
# Ends with one line "N passed, N failed" over every test run.
set -euo pipefail
exec </dev/null
cd "$(dirname "${BASH_SOURCE[0]}")/.."
step() { printf '\n=== %s\n' "$*"; }
results=".run/test-results"
rm -rf "$results" && mkdir -p "$results"

vitest() { # project
  npx vitest run --project "$1" --reporter=default --reporter=json --outputFile.json="$results/$1.json"
}

step "type check"
npx tsc -p .
step "lint"
npm run --silent lint
step "unit tests"
vitest unit
step "services"
bash scripts/services.sh
step "integration tests"
vitest integration
step "end-to-end tests"
vitest e2e
step "chaos (reduced; npm run chaos is the full run)"
vitest chaos
step "package for AWS"
vitest package

node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0;
  for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${f}`, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests;
  }
  console.log(`\n${passed} passed, ${failed} failed`);
' "$results"
