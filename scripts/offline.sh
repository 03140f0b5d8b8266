#!/usr/bin/env bash
# serverless-offline for this project: HTTP on $HTTP_PORT, the Lambda invoke API on $LAMBDA_PORT.
# Every handler runs in this one process (useInProcess in serverless.yml); its heap is capped
# like a Lambda's (OFFLINE_HEAP_MB), so the emulator stays within the memory one function gets.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# SCHEDULE_TICK (serverless.yml reads it with strToBool): the spellings the other switches take.
# shellcheck source=scripts/switch.sh
source scripts/switch.sh
normalise_switch SCHEDULE_TICK true || exit 2
# OFFLINE_NODE_ARGS: extra node flags, e.g. --cpu-prof --cpu-prof-dir=.run/prof to profile handlers.
# shellcheck disable=SC2086
exec node --max-old-space-size="${OFFLINE_HEAP_MB:-320}" --max-semi-space-size="${OFFLINE_SEMI_SPACE_MB:-32}" \
  --initial-old-space-size="${OFFLINE_INITIAL_HEAP_MB:-192}" ${OFFLINE_NODE_ARGS:-} node_modules/serverless/bin/serverless.js offline start \
  --httpPort "${HTTP_PORT:-3000}" --lambdaPort "${LAMBDA_PORT:-3002}"
