#!/usr/bin/env bash
# Imports the sample tree, waits for its task to finish, and reads the tree and one case back.
set -euo pipefail
BASE="${1:-http://localhost:3000}"
DIR="$(dirname "${BASH_SOURCE[0]}")"
task=$(curl -fsS -X POST "$BASE/api/testcase/import" -H 'content-type: application/json' --data-binary @"$DIR/sample-tree.json")
echo "import accepted: $task"
id=$(node -e 'console.log(JSON.parse(process.argv[1]).taskId)' "$task")
deadline=$((SECONDS + 60))
while :; do
  state=$(curl -fsS "$BASE/api/tasks/$id" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).state))')
  case "$state" in COMPLETED) break ;; FAILED|PARTIALLY_COMPLETED|STOPPED) echo "task ended $state"; exit 1 ;; esac
  [ "$SECONDS" -lt "$deadline" ] || { echo "task still $state after 60s"; exit 1; }
  sleep 0.5
done
echo "task $id: $state"
echo "tree:"; curl -fsS "$BASE/api/testcase/tree?source=demo&depth=5"; echo
echo "case:"; curl -fsS "$BASE/api/testcase/case-card-ok?source=demo"; echo
