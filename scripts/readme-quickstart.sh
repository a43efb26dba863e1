#!/usr/bin/env bash
# Runs the README's Quickstart exactly as written: every command in the sh
# blocks of the "## Quickstart" section, in order. The demo runs until it
# reports convergence, is checked over HTTP, then stopped with SIGINT (Ctrl-C)
# and must exit 0. Any other command must exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t commands < <(awk '
  /^## / { in_section = ($0 == "## Quickstart") }
  in_section && /^```sh$/ { in_block = 1; next }
  in_block && /^```$/ { in_block = 0; next }
  in_section && in_block && NF { print }
' README.md)

if [ "${#commands[@]}" -lt 2 ]; then
  echo "readme-quickstart: found ${#commands[@]} commands in the Quickstart, want the demo and the tests" >&2
  exit 1
fi

for cmd in "${commands[@]}"; do
  echo "readme-quickstart: \$ $cmd"
  case "$cmd" in
    *" demo"*)
      out=$(mktemp)
      # setsid: the demo gets its own process group, so Ctrl-C reaches go run and bindsync alike.
      setsid bash -c "$cmd" >"$out" 2>&1 &
      pid=$!
      # Whatever happens below, the demo does not outlive this script.
      trap 'kill -KILL -- "-$pid" 2>/dev/null || true' EXIT
      for _ in $(seq 1 240); do
        grep -q "converged with the file." "$out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5 # polling the demo's output, with the 120 s bound of the loop
      done
      if ! grep -q "converged with the file." "$out"; then
        echo "readme-quickstart: the demo did not converge:" >&2; cat "$out" >&2
        kill -INT -- "-$pid" 2>/dev/null || true; exit 1
      fi
      metrics=$(grep -o 'http://[0-9.:]*/metrics' "$out" | head -1)
      scraped=$(curl -fsS "$metrics")
      grep -q '^bindsync_changes_applied_total{op="update",result="success"} 2$' <<<"$scraped" || {
        echo "readme-quickstart: $metrics does not show the demo's two updates" >&2; exit 1; }
      # Ctrl-C, delivered to bindsync itself: `go run` exits 1 whenever it
      # receives SIGINT, whatever its child does, so signalling the whole
      # group would test go run rather than the demo. Given only the child's
      # exit, go run passes its status through.
      pkill -INT -x -s "$pid" bindsync
      status=0; wait "$pid" || status=$?
      if [ "$status" -ne 0 ]; then
        echo "readme-quickstart: the demo exited $status on Ctrl-C:" >&2; cat "$out" >&2; exit 1
      fi
      trap - EXIT
      head -n 30 "$out" | sed 's/^/  | /'
      rm -f "$out"
      ;;
    *)
      bash -c "$cmd"
      ;;
  esac
done
echo "readme-quickstart: all ${#commands[@]} Quickstart commands passed"
