#!/usr/bin/env bash
# kill9.sh WRITER [CYCLES] — kill -9 durability test (RELIABILITY.md §4 A1, embedded).
# Each cycle starts kill9_writer (2 inserting threads, each acked id printed), kills it
# with SIGKILL after a random 50..500 ms, then reopens the data directory and checks that
# every acknowledged id is present exactly once.  Exits 1 on the first loss.
set -u
WRITER=${1:?usage: kill9.sh WRITER [CYCLES]}
CYCLES=${2:-100}
DIR=$(mktemp -d /tmp/kite-kill9-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
ACKED="$DIR/acked.txt"
: > "$ACKED"
for ((i = 1; i <= CYCLES; i++)); do
    "$WRITER" write "$DIR/data" "$i" >> "$ACKED" 2>> "$DIR/writer.err" &
    pid=$!
    sleep "0.$(( (RANDOM % 450) + 50 ))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # A partial last line (killed mid-print) is not an acknowledgement: drop it so the
    # next cycle's output starts on a fresh line.
    if [ -s "$ACKED" ] && [ "$(tail -c1 "$ACKED" | od -An -c | tr -d ' ')" != '\n' ]; then
        sed -i '$ d' "$ACKED"
    fi
    if ! out=$("$WRITER" check "$DIR/data" "$ACKED"); then
        echo "cycle $i: FAILED: $out"
        cat "$DIR/writer.err" | tail -5
        exit 1
    fi
    [ $((i % 10)) -eq 0 ] && echo "cycle $i: $out"
done
echo "kill9: $CYCLES cycles, 0 acknowledged rows lost"
