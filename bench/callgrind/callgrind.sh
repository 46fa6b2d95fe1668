#!/usr/bin/env bash
# callgrind.sh — instructions per benchmark operation, measured with
# valgrind's callgrind, immune to how fast (or slow) the machine is today.
#
# Usage:
#   bench/callgrind/callgrind.sh [options] PKG BENCH
#
#   PKG    Go package path, e.g. ./window or github.com/driftd/driftd/window
#   BENCH  benchmark name, e.g. BenchmarkWindowUpdate, or a sub-benchmark
#          such as BenchmarkKolmogorovSF/n=1000/d=0.06 (each '/'-separated
#          part is matched literally and anchored, so exactly one benchmark
#          runs).
#
# Options:
#   -1 N1      first iteration count  (default $CALLGRIND_N1 or 100000)
#   -2 N2      second iteration count (default $CALLGRIND_N2 or 200000)
#   -r         run each count twice and report whether the totals repeat
#   -k         keep the work directory (test binary, callgrind.out files)
#   -v         print the raw totals
#   -h         this help
#
# Method: the test binary is built once (go test -c) and run under
# callgrind with -test.benchtime=N1x and then N2x. A Go benchmark runs a
# calibration round with b.N = 1 and then the main round with b.N = N, so
# each run costs start-up + calibration + N·op; the difference of the two
# totals divided by N2 − N1 is the cost of one operation, with start-up,
# test-framework and calibration costs cancelled.
#
# Noise control: GOGC=off (no collector cycles, whose number would depend
# on N non-linearly), GOMAXPROCS=1 and -test.cpu=1 (one P),
# GODEBUG=asyncpreemptoff=1 (no signal-based preemption, whose timing
# depends on wall-clock time). Counts include every thread, so the
# runtime's sysmon thread adds a little wall-clock-dependent noise; use -r
# to see how much.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

n1=${CALLGRIND_N1:-100000}
n2=${CALLGRIND_N2:-200000}
repeat=0
keep=0
verbose=0
while getopts "1:2:rkvh" opt; do
	case $opt in
	1) n1=$OPTARG ;;
	2) n2=$OPTARG ;;
	r) repeat=1 ;;
	k) keep=1 ;;
	v) verbose=1 ;;
	h)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
if [[ $# -ne 2 ]]; then
	usage >&2
	exit 2
fi
pkg=$1
bench=$2
if ! [[ $n1 =~ ^[0-9]+$ && $n2 =~ ^[0-9]+$ ]] || ((n2 <= n1 || n1 < 1)); then
	echo "callgrind.sh: need integers 1 <= N1 < N2 (got N1=$n1, N2=$n2)" >&2
	exit 2
fi
for tool in go valgrind; do
	command -v "$tool" >/dev/null || {
		echo "callgrind.sh: $tool not found in PATH" >&2
		exit 1
	}
done

work=$(mktemp -d "${TMPDIR:-/tmp}/callgrind.XXXXXX")
if ((keep)); then
	echo "callgrind.sh: keeping $work" >&2
else
	trap 'rm -rf "$work"' EXIT
fi

# Anchor every '/'-separated level of the name and quote regexp
# metacharacters, so "BenchmarkX/n=1000/d=0.06" selects exactly that
# sub-benchmark (and BenchmarkX alone does not also run BenchmarkXY).
pattern=""
IFS=/ read -r -a parts <<<"$bench"
for part in "${parts[@]}"; do
	quoted=$(printf '%s' "$part" | sed -e 's/[][\\.^$*+?(){}|]/\\&/g')
	pattern+="${pattern:+/}^${quoted}\$"
done

bin="$work/bench.test"
go test -c -o "$bin" "$pkg"

# run N TAG: runs the benchmark with b.N = N under callgrind and prints the
# total instruction count (the "totals:" line of the callgrind output).
run() {
	local n=$1 tag=$2 out="$work/callgrind.out.$2" log="$work/bench.$2.log"
	GOGC=off GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 \
		valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$bin" -test.run='^$' -test.bench="$pattern" -test.benchtime="${n}x" \
		-test.count=1 -test.cpu=1 -test.benchmem >"$log" 2>"$work/valgrind.$tag.log" || {
		echo "callgrind.sh: run with N=$n failed; see below" >&2
		cat "$log" "$work/valgrind.$tag.log" >&2
		return 1
	}
	# Exactly one benchmark result line must have run.
	local lines
	lines=$(grep -c '^Benchmark.*[[:space:]]ns/op' "$log" || true)
	if [[ $lines != 1 ]]; then
		echo "callgrind.sh: pattern $pattern ran $lines benchmarks (want 1):" >&2
		cat "$log" >&2
		return 1
	fi
	local total
	total=$(awk '/^(totals|summary):/ {print $2; exit}' "$out")
	if ! [[ $total =~ ^[0-9]+$ ]]; then
		echo "callgrind.sh: no totals line in $out" >&2
		return 1
	fi
	echo "$total"
}

i1=$(run "$n1" n1a)
i2=$(run "$n2" n2a)
if ((verbose)); then
	echo "N1=$n1: $i1 instructions; N2=$n2: $i2 instructions" >&2
fi
per_op() { awk -v a="$1" -v b="$2" -v n1="$n1" -v n2="$n2" 'BEGIN { printf "%.1f", (b - a) / (n2 - n1) }'; }
result=$(per_op "$i1" "$i2")
name=$(grep -m1 -o '^Benchmark[^[:space:]]*' "$work/bench.n1a.log" | sed -e 's/-[0-9]*$//')
echo "$name: $result instructions/op (N1=$n1, N2=$n2)"

if ((repeat)); then
	j1=$(run "$n1" n1b)
	j2=$(run "$n2" n2b)
	if ((verbose)); then
		echo "repeat: N1=$n1: $j1 instructions; N2=$n2: $j2 instructions" >&2
	fi
	again=$(per_op "$j1" "$j2")
	same="identical totals"
	if [[ $i1 != "$j1" || $i2 != "$j2" ]]; then
		same="totals differ by $((j1 - i1)) (N1) and $((j2 - i2)) (N2) instructions"
	fi
	echo "$name: repeat $again instructions/op ($same)"
fi
