#!/usr/bin/env bash
# Runs every command in the ```sh blocks of the given Markdown files, in
# order, exactly as written, one shell session per file (so `export` and `cd`
# carry over as they would for a reader). Usage:
#
#   scripts/docs-commands.sh README.md docs/getting-started.md
#
# A command that would run until stopped is run in the background, checked
# and stopped with SIGINT (Ctrl-C), and must exit 0:
#   ... demo   until it prints "converged with the file.", then its metrics
#              must show the demo's two updates;
#   bindsync run ...   until it logs a finished pass.
# A line ending in & is left running and ended when the file is done. Any
# other command must exit 0. Each file runs with HOME in a fresh directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# daemon LINE MARKER: run LINE in its own process group until MARKER shows in
# its output, then deliver Ctrl-C to bindsync itself and require exit 0.
# (`go run` exits 1 whenever it receives SIGINT, whatever its child does, so
# signalling the whole group would test go run rather than bindsync.)
daemon() {
  local line=$1 marker=$2 out pid status
  out=$(mktemp)
  setsid bash -c "$line" >"$out" 2>&1 &
  pid=$!
  for _ in $(seq 1 240); do
    grep -q "$marker" "$out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5 # polling the daemon's output, bounded to 120 s by the loop
  done
  if ! grep -q "$marker" "$out"; then
    echo "docs-commands: '$line' never printed '$marker':" >&2; cat "$out" >&2
    kill -KILL -- "-$pid" 2>/dev/null || true; return 1
  fi
  if [[ $line == *" demo"* ]]; then
    local metrics scraped
    metrics=$(grep -o 'http://[0-9.:]*/metrics' "$out" | head -1)
    scraped=$(curl -fsS "$metrics")
    grep -q '^bindsync_changes_applied_total{op="update",result="success"} 2$' <<<"$scraped" || {
      echo "docs-commands: $metrics does not show the demo's two updates" >&2; kill -KILL -- "-$pid"; return 1; }
  fi
  pkill -INT -x -s "$pid" bindsync
  status=0; wait "$pid" || status=$?
  head -n 40 "$out" | sed 's/^/  | /'
  rm -f "$out"
  if [ "$status" -ne 0 ]; then
    echo "docs-commands: '$line' exited $status on Ctrl-C" >&2; return 1
  fi
}
export -f daemon

# A reader's HOME is fresh, but the Go caches are not the reader's business:
# keep the build and module caches, or every run downloads and compiles all
# over again.
export GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)" GOPATH="$(go env GOPATH)"

for doc in "$@"; do
  mapfile -t commands < <(awk '
    /^```sh$/ { in_block = 1; next }
    in_block && /^```$/ { in_block = 0; next }
    in_block && NF && !/^[[:space:]]*#/ { print }
  ' "$doc")
  if [ "${#commands[@]}" -eq 0 ]; then
    echo "docs-commands: $doc has no sh block" >&2; exit 1
  fi
  script=$(mktemp)
  {
    echo 'set -euo pipefail'
    echo "cd '$repo'"
    echo 'trap '\''kill $(jobs -p) 2>/dev/null || true'\'' EXIT'
    for cmd in "${commands[@]}"; do
      printf 'echo %q\n' "docs-commands: $doc: \$ $cmd"
      case "$cmd" in
        *" demo"*)            printf 'daemon %q %q\n' "$cmd" "converged with the file." ;;
        "bindsync run "*)     printf 'daemon %q %q\n' "$cmd" "reconcile pass done" ;;
        *)                    printf '%s\n' "$cmd" ;;
      esac
    done
  } >"$script"
  home=$(mktemp -d)
  HOME=$home bash "$script"
  rm -rf "$script" "$home"
  echo "docs-commands: all ${#commands[@]} commands of $doc passed"
done
