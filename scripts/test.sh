#!/usr/bin/env bash
# `npm test`: every check and every test, in the order that fails fastest.
#   1. type check (tsc) and lint (biome + dependency-cruiser)
#   2. unit tests (pure logic)
#   3. services checked or started (MariaDB, Redis, RabbitMQ, MongoDB server)
#   4. integration tests against the real services
#   5. end-to-end tests through serverless-offline and the RabbitMQ bridge
#   6. `serverless package` for AWS, and the CloudFormation template checked
set -euo pipefail
exec </dev/null
cd "$(dirname "${BASH_SOURCE[0]}")/.."
step() { printf '\n=== %s\n' "$*"; }

step "type check"
npx tsc -p .
step "lint"
npm run --silent lint
step "unit tests"
npx vitest run --project unit
step "services"
bash scripts/services.sh
step "integration tests"
npx vitest run --project integration
step "end-to-end tests"
npx vitest run --project e2e
step "package for AWS"
npx vitest run --project package
