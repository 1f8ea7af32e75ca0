#!/bin/sh
# make demo: start the bundled leaky workload and watch it for a few
# reports. The workload is stopped however this script ends.
set -eu
out=${1:-build}
interval=${DEMO_INTERVAL:-2}
reports=${DEMO_REPORTS:-12}

"$out/leaky" >/dev/null &
leaky=$!
trap 'kill $leaky 2>/dev/null || true; wait $leaky 2>/dev/null || true' EXIT INT TERM
echo "demo: started the leaky workload (PID $leaky); watching it for $reports reports of ${interval} s"
"$out/leakwatch" -p "$leaky" "$interval" "$reports"
