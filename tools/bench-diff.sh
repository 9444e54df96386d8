#!/usr/bin/env bash
# make bench-diff BASE=<git ref>: compare the benchmarks of BASE with those of
# the working tree in ONE interleaved run, then print benchstat's table and
# the naq/raw, naq/floor ratio tables of both sides (docs/benchmarks.md).
#
#  1. BASE is extracted with `git archive` into a temporary directory (no
#     worktree entry, nothing in the repository changes).
#  2. Overlay: the benchmark files that BASE lacks (OVERLAY: internal/benchutil
#     and instrument/bench_truth_test.go, which use only naq's public API) are
#     copied into it, so the same benchmarks run on both sides. When BASE does
#     not build with them, they are dropped for that package and said so.
#  3. The test binaries of each package in BENCHPKGS are built on both sides.
#  4. Each benchmark function present on both sides runs COUNT times,
#     alternating base/head (head first on even rounds), one function at a
#     time, so that a busy machine's load hits both alike.
#  5. benchratio intersect keeps the benchmarks present on both sides (the
#     others are listed); benchstat compares them.
#
# Environment: BASE (required), GO, COUNT (5), BENCH (regexp on benchmark
# function names, default .), BENCHTIME (1s), BENCHPKGS, OVERLAY, BENCHSTAT
# (the go run target), OUT (directory the raw outputs are copied to, bin).
set -euo pipefail

: "${BASE:?usage: make bench-diff BASE=<git ref>}"
GO=${GO:-go}
COUNT=${COUNT:-5}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-1s}
BENCHPKGS=${BENCHPKGS:-instrument tracing metrics scope circuit}
OVERLAY=${OVERLAY:-internal/benchutil instrument/bench_truth_test.go}
BENCHSTAT=${BENCHSTAT:-golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}
OUT=${OUT:-bin}

root=$(git rev-parse --show-toplevel)
cd "$root"
sha=$(git rev-parse --verify --quiet "$BASE^{commit}") || {
	echo "bench-diff: unknown git ref: $BASE" >&2
	exit 2
}
short=$(git rev-parse --short "$sha")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/naq-bench-diff.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM # run the EXIT trap on an interrupt too
mkdir -p "$tmp/base" "$tmp/bin/base" "$tmp/bin/head"
git archive "$sha" | tar -x -C "$tmp/base"

overlaid=()
for f in $OVERLAY; do
	if [ -e "$f" ] && [ ! -e "$tmp/base/$f" ]; then
		mkdir -p "$(dirname "$tmp/base/$f")"
		cp -R "$f" "$tmp/base/$f"
		overlaid+=("$f")
	fi
done
if [ ${#overlaid[@]} -gt 0 ]; then
	echo "bench-diff: copied onto $short (absent there): ${overlaid[*]}"
fi

# build SIDE DIR PKG: the test binary of ./PKG in DIR.
build() {
	(cd "$2" && "$GO" test -c -o "$tmp/bin/$1/${3//\//_}.test" "./$3") 2>"$tmp/build.err"
}

pkgs=()
for pkg in $BENCHPKGS; do
	if [ ! -d "$tmp/base/$pkg" ]; then
		echo "bench-diff: $pkg does not exist at $short: skipped"
		continue
	fi
	if ! build head "$root" "$pkg"; then
		cat "$tmp/build.err" >&2
		echo "bench-diff: $pkg does not build in the working tree" >&2
		exit 1
	fi
	if ! build base "$tmp/base" "$pkg"; then
		dropped=()
		for f in "${overlaid[@]}"; do
			case $f in "$pkg"/*) rm -rf "$tmp/base/$f" && dropped+=("$f") ;; esac
		done
		if [ ${#dropped[@]} -gt 0 ] && build base "$tmp/base" "$pkg"; then
			echo "bench-diff: $pkg at $short does not build with ${dropped[*]}; compared without it"
		else
			sed 's/^/    /' "$tmp/build.err" | head -20
			echo "bench-diff: $pkg does not build at $short: skipped"
			continue
		fi
	fi
	pkgs+=("$pkg")
done

# bench functions of a test binary matching BENCH.
list() { (cd "$2" && "$1" -test.list '^Benchmark' 2>/dev/null) | grep -E '^Benchmark' | grep -E -- "$BENCH" || true; }

: >"$tmp/base.txt"
: >"$tmp/head.txt"
for pkg in "${pkgs[@]}"; do
	bin=${pkg//\//_}.test
	list "$tmp/bin/base/$bin" "$tmp/base/$pkg" | sort >"$tmp/fb"
	list "$tmp/bin/head/$bin" "$root/$pkg" | sort >"$tmp/fh"
	only=$(comm -3 "$tmp/fb" "$tmp/fh" | tr -d '\t' | tr '\n' ' ')
	if [ -n "$only" ]; then
		echo "bench-diff: $pkg: on one side only (not run): $only"
	fi
	for fn in $(comm -12 "$tmp/fb" "$tmp/fh"); do
		for ((i = 1; i <= COUNT; i++)); do
			order="base head"
			if ((i % 2 == 0)); then order="head base"; fi
			for side in $order; do
				dir=$root/$pkg
				if [ "$side" = base ]; then dir=$tmp/base/$pkg; fi
				echo "bench-diff: $pkg $fn round $i/$COUNT: $side" >&2
				if ! (cd "$dir" && "$tmp/bin/$side/$bin" -test.run '^$' -test.bench "^$fn\$" -test.benchmem \
					-test.benchtime "$BENCHTIME" -test.count 1) >>"$tmp/$side.txt" 2>&1; then
					echo "bench-diff: $pkg $fn failed on $side (see its output in $OUT)" >&2
				fi
			done
		done
	done
done

mkdir -p "$OUT"
old=$OUT/bench-diff-$short.txt
new=$OUT/bench-diff-head.txt
cp "$tmp/base.txt" "$old"
cp "$tmp/head.txt" "$new"
echo
"$GO" run ./internal/cmd/benchratio intersect "$old" "$new"
echo
"$GO" run "$BENCHSTAT" "$short=$old.common" "head=$new.common"
for side in "$short=$old" "working tree=$new"; do
	echo
	echo "naq/raw and naq/floor, ${side%%=*}:"
	"$GO" run ./internal/cmd/benchratio <"${side#*=}" || true
done
echo
echo "bench-diff: raw outputs in $old and $new (.common: the benchmarks of both)"
