#!/usr/bin/env bash
# The scale scenario against Apache Kafka from deploy/kafka with default
# broker settings: 100 models × 100 numeric features on one partition at
# N = 10,000 (4,000 events per model), a checkpoint every 200 ms, SIGKILL
# half-way and a restart; the windows read back from the state topic must
# equal an uninterrupted run. Prints the figures of BENCHMARKS.md's scale
# scenario (TestScaleScenario's log).
#
#   bench/scale/run.sh          # the full shape (several minutes)
#   SHAPE=ci bench/scale/run.sh # CI's shape: 20 models × 3 features, one
#                               # 450-feature model, N = 60,000
#
# The broker uses DRIFTD_KAFKA_RUN / DRIFTD_KAFKA_PORT (+1 SASL, +2
# controller) when set, else deploy/kafka's defaults; it is stopped at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export DRIFTD_KAFKA_RUN="${DRIFTD_KAFKA_RUN:-/tmp/driftd-kafka-scale}"
if [ -n "${DRIFTD_KAFKA_PORT:-}" ]; then
	export DRIFTD_KAFKA_SASL_PORT="${DRIFTD_KAFKA_SASL_PORT:-$((DRIFTD_KAFKA_PORT + 1))}"
	export DRIFTD_KAFKA_CONTROLLER_PORT="${DRIFTD_KAFKA_CONTROLLER_PORT:-$((DRIFTD_KAFKA_PORT + 2))}"
fi
trap 'deploy/kafka/kafka.sh stop >/dev/null 2>&1 || true' EXIT
deploy/kafka/kafka.sh start
set -a
# shellcheck disable=SC1091
. "$DRIFTD_KAFKA_RUN/env"
set +a
DRIFTD_TEST_SCALE_SHAPE="${SHAPE:-full}" go test -timeout 60m -count=1 -v -run '^TestScaleScenario$' ./cmd/driftd/
