#!/usr/bin/env bash
# kafka.sh - run a real single-node Apache Kafka 4.x broker (KRaft, combined
# broker+controller, loopback only) for driftd's integration tests, without
# Docker: the broker's jars come from Maven Central through pom.xml.
#
# Usage: deploy/kafka/kafka.sh {start|stop|restart|status|env|logs|clean}
#
#   start    fetch the jars (once; cached), create TLS material, format the
#            storage (only if not formatted yet), start the broker in the
#            background, wait until both client listeners answer, write
#            <run>/env.
#   stop     SIGTERM, wait up to DRIFTD_KAFKA_STOP_TIMEOUT s, then SIGKILL.
#            Idempotent.
#   restart  stop + start, keeping data, certificates and SCRAM users.
#   status   exit 0 if the broker runs (and print its env), 3 if not.
#   env      print <run>/env.
#   logs     tail the broker log.
#   clean    stop, then delete the run folder (data, logs, certificates).
#
# Settings (environment variables, defaults in brackets):
#   DRIFTD_KAFKA_VERSION          Kafka version [4.4.0]
#   DRIFTD_KAFKA_CACHE            jar cache [$HOME/.cache/driftd/kafka-<version>]
#   DRIFTD_KAFKA_RUN              run folder [/tmp/driftd-kafka]
#   DRIFTD_KAFKA_PORT             PLAINTEXT port [19092]
#   DRIFTD_KAFKA_SASL_PORT        SASL_SSL (SCRAM-SHA-512) port [19093]
#   DRIFTD_KAFKA_CONTROLLER_PORT  KRaft controller port [19094]
#   DRIFTD_KAFKA_SASL_USER        SCRAM user [driftd]
#   DRIFTD_KAFKA_SASL_PASSWORD    SCRAM password [driftd-secret]
#   DRIFTD_KAFKA_START_TIMEOUT    seconds to wait for readiness [120]
#   DRIFTD_KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL [30]
#   DRIFTD_KAFKA_HEAP_OPTS        broker heap [-Xms256m -Xmx512m]
#   DRIFTD_KAFKA_JVM_OPTS         other broker JVM options
#                                 [-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1]
#   DRIFTD_KAFKA_MAVEN_ARGS       extra mvn arguments, e.g. -Dmaven.repo.local=...
#   DRIFTD_KAFKA_VERIFY_SCRAM     1: readiness includes a SCRAM login with a Kafka
#                                 client (+~2 s); 0: TCP/TLS ApiVersions probes only [1]
#   JAVA_HOME                     Java 17+ to use [java on PATH]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

KAFKA_VERSION="${DRIFTD_KAFKA_VERSION:-4.4.0}"
CACHE_DIR="${DRIFTD_KAFKA_CACHE:-${HOME:?HOME is not set}/.cache/driftd/kafka-${KAFKA_VERSION}}"
RUN_DIR="${DRIFTD_KAFKA_RUN:-/tmp/driftd-kafka}"
PLAIN_PORT="${DRIFTD_KAFKA_PORT:-19092}"
SASL_PORT="${DRIFTD_KAFKA_SASL_PORT:-19093}"
CONTROLLER_PORT="${DRIFTD_KAFKA_CONTROLLER_PORT:-19094}"
SASL_USER="${DRIFTD_KAFKA_SASL_USER:-driftd}"
SASL_PASSWORD="${DRIFTD_KAFKA_SASL_PASSWORD:-driftd-secret}"
START_TIMEOUT="${DRIFTD_KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT="${DRIFTD_KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${DRIFTD_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
# C1 only (TieredStopAtLevel=1): on a 2-core machine the broker is ready in
# ~5-7 s instead of ~12-16 s, because C2 compiler threads no longer compete
# with startup. Plenty for a test broker; set to '' for full JIT (perf runs).
JVM_OPTS="${DRIFTD_KAFKA_JVM_OPTS--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1}"
MAVEN_ARGS="${DRIFTD_KAFKA_MAVEN_ARGS:-}"
SCRAM_MECHANISM="SCRAM-SHA-512"

# Relative folders are taken relative to the current directory.
[[ "$CACHE_DIR" = /* ]] || CACHE_DIR="$(pwd)/${CACHE_DIR}"
[[ "$RUN_DIR" = /* ]] || RUN_DIR="$(pwd)/${RUN_DIR}"

LIBS_DIR="${CACHE_DIR}/libs"
DATA_DIR="${RUN_DIR}/data"
LOG_DIR="${RUN_DIR}/logs"
TLS_DIR="${RUN_DIR}/tls"
PID_FILE="${RUN_DIR}/kafka.pid"
ENV_FILE="${RUN_DIR}/env"
SERVER_PROPS="${RUN_DIR}/server.properties"
CLIENT_PROPS="${RUN_DIR}/client-sasl.properties"
CRED_FILE="${RUN_DIR}/scram-user"

# ---------------------------------------------------------------- helpers

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { printf 'kafka.sh: error: %s\n' "$*" >&2; exit 1; }

now() { date +%s.%N; }
# elapsed START -> seconds with one decimal
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# Escape a value for use as a sed replacement with '|' as delimiter.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

check_settings() {
  local p
  for p in "$PLAIN_PORT" "$SASL_PORT" "$CONTROLLER_PORT" "$START_TIMEOUT" "$STOP_TIMEOUT"; do
    [[ "$p" =~ ^[0-9]+$ ]] || die "not a number: '$p'"
  done
  # The SCRAM spec ([name=..,password=..]) and the env file (KEY=value) take
  # these verbatim, so keep them to a safe alphabet.
  [[ "$SASL_USER" =~ ^[A-Za-z0-9._-]+$ ]] || die "DRIFTD_KAFKA_SASL_USER may only use [A-Za-z0-9._-]"
  [[ "$SASL_PASSWORD" =~ ^[A-Za-z0-9._-]+$ ]] || die "DRIFTD_KAFKA_SASL_PASSWORD may only use [A-Za-z0-9._-]"
}

find_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
    JAVA="${JAVA_HOME}/bin/java"
  else
    JAVA="$(command -v java || true)"
  fi
  [[ -n "$JAVA" ]] || die "java not found (set JAVA_HOME to a Java 17+ runtime)"
  local spec
  spec="$("$JAVA" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ { print $2; exit }')"
  spec="${spec%%.*}"
  [[ "$spec" =~ ^[0-9]+$ ]] || die "cannot tell the version of $JAVA"
  # Kafka 4.x brokers and tools need Java 17+ (class files are version 61).
  (( spec >= 17 )) || die "$JAVA is Java $spec; Kafka $KAFKA_VERSION needs Java 17 or newer (set JAVA_HOME)"
  JAVA_MAJOR="$spec"
}

# The pid of our broker, or nothing. A pid counts only if that process is a
# kafka.Kafka JVM started with this run folder's server.properties (guards
# against pid reuse and against other brokers).
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid args
  pid="$(tr -dc '0-9' < "$PID_FILE")"
  [[ -n "$pid" ]] || return 0
  args="$(ps -p "$pid" -o args= 2>/dev/null || true)"
  if [[ "$args" == *kafka.Kafka*"$SERVER_PROPS"* ]]; then
    printf '%s' "$pid"
  fi
}

# launch_alive: the process started for the broker is still there, though
# it may not be the JVM yet (setsid and nohup exec into java; on a loaded
# machine the first readiness check can come before the exec), or setsid
# forked it (a process group leader) — then the JVM found by its command
# line is recorded as the broker's pid.
launch_alive() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid jvm
  pid="$(tr -dc '0-9' < "$PID_FILE")"
  jvm="$(pgrep -n -f "kafka\.Kafka ${SERVER_PROPS}" 2>/dev/null || true)"
  if [[ -n "$jvm" && "$jvm" != "$pid" ]]; then
    printf '%s\n' "$jvm" > "$PID_FILE"
    return 0
  fi
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Run a Kafka CLI class on the cached classpath with a small, quick JVM:
# kafka_tool TIMEOUT_SECONDS CLASS ARGS...
kafka_tool() {
  local secs="$1"
  shift
  timeout "$secs" "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="${SCRIPT_DIR}/tools-log4j2.properties" \
    -cp "${LIBS_DIR}/*" "$@"
}

# ---------------------------------------------------------------- libs

jar_count() { local jars=("${LIBS_DIR}"/*.jar); printf '%s' "${#jars[@]}"; }

ensure_libs() {
  local t0 want
  t0="$(now)"
  # The cache is valid for exactly this version and this pom.
  want="${KAFKA_VERSION} $(sha256sum "${SCRIPT_DIR}/pom.xml" | cut -d' ' -f1)"
  mkdir -p "$CACHE_DIR"
  exec 9>"${CACHE_DIR}/.lock"
  flock 9
  if [[ -f "${CACHE_DIR}/.complete" && "$(cat "${CACHE_DIR}/.complete")" == "$want" ]] \
     && [[ -f "${LIBS_DIR}/kafka_2.13-${KAFKA_VERSION}.jar" ]]; then
    log "libs: reusing ${LIBS_DIR} ($(jar_count) jars, $(elapsed "$t0")s)"
    exec 9>&-
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found and no cached libs in ${LIBS_DIR}"
  log "libs: fetching Kafka ${KAFKA_VERSION} jars from Maven Central into ${LIBS_DIR} ..."
  local tmp
  tmp="$(mktemp -d "${CACHE_DIR}/.fetch.XXXXXX")"
  # Run Maven on a copy of the pom inside the cache so that nothing (target/)
  # is written next to the sources.
  cp "${SCRIPT_DIR}/pom.xml" "${tmp}/pom.xml"
  # (Debian's Maven 3.8 prints stray ANSI resets even with -B; strip them.)
  # shellcheck disable=SC2086 # MAVEN_ARGS is a list of arguments
  if ! mvn -q -B -Dstyle.color=never -f "${tmp}/pom.xml" -Dkafka.version="${KAFKA_VERSION}" ${MAVEN_ARGS} \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="${tmp}/libs" 2>&1 \
        | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2; then
    rm -rf "$tmp"
    die "maven could not resolve the Kafka ${KAFKA_VERSION} classpath"
  fi
  [[ -f "${tmp}/libs/kafka_2.13-${KAFKA_VERSION}.jar" ]] || die "maven did not produce kafka_2.13-${KAFKA_VERSION}.jar"
  rm -rf "$LIBS_DIR"
  mv "${tmp}/libs" "$LIBS_DIR"
  rm -rf "$tmp"
  printf '%s\n' "$want" > "${CACHE_DIR}/.complete"
  log "libs: fetched $(jar_count) jars ($(du -sh "$LIBS_DIR" | cut -f1)) in $(elapsed "$t0")s"
  exec 9>&-
}

# ---------------------------------------------------------------- TLS

# A self-signed CA and a server certificate for localhost / 127.0.0.1, kept in
# <run>/tls and reused across restarts (so DRIFTD_TEST_TLS_CA stays valid).
ensure_tls() {
  local t0
  t0="$(now)"
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  if [[ -f "${TLS_DIR}/ca.pem" && -f "${TLS_DIR}/server-keystore.pem" && -f "${TLS_DIR}/key.password" ]] \
     && openssl x509 -checkend 86400 -noout -in "${TLS_DIR}/server.crt" >/dev/null 2>&1; then
    log "tls: reusing ${TLS_DIR}"
    return 0
  fi
  command -v openssl >/dev/null || die "openssl not found"
  (
    cd "$TLS_DIR"
    rm -f ./*.pem ./*.crt ./*.key ./*.csr ./*.cnf key.password
    umask 077
    openssl rand -hex 24 > key.password
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
      -keyout ca.key -out ca.pem -subj "/CN=driftd test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server-plain.key -out server.csr \
      -subj "/CN=localhost" 2>/dev/null
    cat > server-ext.cnf <<'EOF'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -sha256 -days 825 \
      -set_serial "0x$(openssl rand -hex 12)" -extfile server-ext.cnf -out server.crt 2>/dev/null
    # Kafka's file-based PEM key store wants an *encrypted* PKCS#8 key plus
    # ssl.key.password. It decrypts with SecretKeyFactory.getInstance(<alg>),
    # which on Java 17 fails for OpenSSL 3's default PBES2 ("PBES2
    # SecretKeyFactory not available"), so use the PKCS#12-style PBE that the
    # JDK knows (PBEWithSHA1AndDESede). Test-only key on loopback.
    openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in server-plain.key -out server.key -passout file:key.password
    cat server.key server.crt ca.pem > server-keystore.pem
    rm -f server-plain.key server.csr server-ext.cnf
    chmod 644 ca.pem server.crt
  )
  openssl verify -CAfile "${TLS_DIR}/ca.pem" "${TLS_DIR}/server.crt" >/dev/null \
    || die "generated server certificate does not verify against the CA"
  log "tls: generated CA + server certificate for localhost/127.0.0.1 in $(elapsed "$t0")s"
}

# ---------------------------------------------------------------- config

render_config() {
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  sed -e "s|@PLAIN_PORT@|${PLAIN_PORT}|g" \
      -e "s|@SASL_PORT@|${SASL_PORT}|g" \
      -e "s|@CONTROLLER_PORT@|${CONTROLLER_PORT}|g" \
      -e "s|@DATA_DIR@|$(sed_escape "$DATA_DIR")|g" \
      -e "s|@KEYSTORE_PATH@|$(sed_escape "${TLS_DIR}/server-keystore.pem")|g" \
      -e "s|@KEY_PASSWORD@|$(sed_escape "$(cat "${TLS_DIR}/key.password")")|g" \
      "${SCRIPT_DIR}/server.properties.tmpl" > "${SERVER_PROPS}.tmp"
  if grep -n '^[^#]*@[A-Z_]*@' "${SERVER_PROPS}.tmp" >&2; then
    die "unreplaced tokens in server.properties"
  fi
  chmod 600 "${SERVER_PROPS}.tmp"
  mv "${SERVER_PROPS}.tmp" "$SERVER_PROPS"

  # Client settings for the SASL_SSL listener: used by the readiness probe and
  # handy for the CLI tools (--command-config).
  (
  umask 077
  cat > "$CLIENT_PROPS" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=${SCRAM_MECHANISM}
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${SASL_USER}" password="${SASL_PASSWORD}";
ssl.truststore.type=PEM
ssl.truststore.location=${TLS_DIR}/ca.pem
EOF
  )
}

# "user sha256(user:password)" - what the storage was formatted with.
cred_id() {
  printf '%s %s\n' "$SASL_USER" "$(printf '%s:%s' "$SASL_USER" "$SASL_PASSWORD" | sha256sum | cut -c1-16)"
}

# Format the log dir unless it already is (restart keeps the data).
ensure_formatted() {
  local t0
  t0="$(now)"
  if [[ -f "${DATA_DIR}/meta.properties" ]]; then
    if [[ -f "$CRED_FILE" && "$(cat "$CRED_FILE")" != "$(cred_id)" ]]; then
      die "storage in ${DATA_DIR} was formatted with other SCRAM credentials ($(cat "$CRED_FILE")); use those or run '$0 clean' first"
    fi
    log "storage: already formatted ($(grep '^cluster.id=' "${DATA_DIR}/meta.properties" || true)), keeping data"
    return 0
  fi
  # A Kafka Uuid in base64url without padding; Kafka never hands out ids
  # starting with '-', so neither do we.
  local cluster_id=""
  while [[ -z "$cluster_id" || "$cluster_id" == -* ]]; do
    cluster_id="$(openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  log "storage: formatting ${DATA_DIR} (cluster.id=${cluster_id}, ${SCRAM_MECHANISM} user '${SASL_USER}') ..."
  # --standalone: this node alone forms the dynamic KRaft quorum (needs
  # controller.quorum.bootstrap.servers, not controller.quorum.voters).
  if ! kafka_tool 120 kafka.tools.StorageTool format \
        --config "$SERVER_PROPS" --cluster-id "$cluster_id" --standalone \
        --add-scram "${SCRAM_MECHANISM}=[name=${SASL_USER},password=${SASL_PASSWORD}]" \
        > "${LOG_DIR}/format.log" 2>&1; then
    cat "${LOG_DIR}/format.log" >&2
    die "formatting the storage failed"
  fi
  cred_id > "$CRED_FILE"
  log "storage: formatted in $(elapsed "$t0")s"
}

write_env() {
  cat > "${ENV_FILE}.tmp" <<EOF
DRIFTD_TEST_BROKERS=127.0.0.1:${PLAIN_PORT}
DRIFTD_TEST_SASL_BROKERS=localhost:${SASL_PORT}
DRIFTD_TEST_SASL_MECHANISM=${SCRAM_MECHANISM}
DRIFTD_TEST_SASL_USER=${SASL_USER}
DRIFTD_TEST_SASL_PASSWORD=${SASL_PASSWORD}
DRIFTD_TEST_TLS_CA=${TLS_DIR}/ca.pem
DRIFTD_TEST_KAFKA_VERSION=${KAFKA_VERSION}
EOF
  mv "${ENV_FILE}.tmp" "$ENV_FILE"
}

show_log_tail() {
  local f
  for f in "${LOG_DIR}/server.log" "${LOG_DIR}/stdout.log"; do
    if [[ -s "$f" ]]; then
      printf '\n----- last 60 lines of %s -----\n' "$f" >&2
      tail -n 60 "$f" >&2
    fi
  done
}

# ---------------------------------------------------------------- broker

launch_broker() {
  # One log per broker run (the previous one is kept as *.prev), so that the
  # tail shown on a failed start is about this start.
  local f
  for f in server.log stdout.log; do
    if [[ -f "${LOG_DIR}/${f}" ]]; then mv -f "${LOG_DIR}/${f}" "${LOG_DIR}/${f}.prev"; fi
  done
  cd "$RUN_DIR"
  # setsid + nohup: the broker outlives this script and the CI step's shell.
  # -Dkafka.logs.dir is read by log4j2.properties.
  # shellcheck disable=SC2086 # HEAP_OPTS and JVM_OPTS are lists of JVM options
  setsid nohup "$JAVA" ${HEAP_OPTS} ${JVM_OPTS} -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOG_DIR" \
    -Dlog4j2.configurationFile="${SCRIPT_DIR}/log4j2.properties" \
    -cp "${LIBS_DIR}/*" kafka.Kafka "$SERVER_PROPS" \
    > "${LOG_DIR}/stdout.log" 2>&1 < /dev/null &
  printf '%s\n' "$!" > "$PID_FILE"
  cd - >/dev/null
}

# ApiVersions v0 request (api_key 18, correlation id 1, client id "probe"),
# size-prefixed. A healthy broker answers with correlation id 1, error 0.
APIVERSIONS_REQ='\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x01\x00\x05probe'
APIVERSIONS_OK='00000001 0000'   # correlation id, error code (bytes 4..9)

# Check the first 10 bytes of a response read from stdin.
apiversions_ok() {
  local hex
  hex="$(head -c 10 | od -An -tx1 | tr -d ' \n')"
  [[ "${hex:8:12}" == "${APIVERSIONS_OK// /}" ]]
}

# PLAINTEXT: one ApiVersions round trip over bash's /dev/tcp (no JVM).
probe_plaintext() {
  REQ="$APIVERSIONS_REQ" timeout 5 bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/${PLAIN_PORT} && printf '%b' \"\$REQ\" >&3 && head -c 10 <&3" \
    2>/dev/null | apiversions_ok
}

# SASL_SSL: TLS handshake that verifies the server certificate against our CA
# for the name "localhost", then ApiVersions (allowed before SASL auth).
probe_tls() {
  { printf '%b' "$APIVERSIONS_REQ"; sleep 0.5; } \
    | timeout 10 openssl s_client -connect "127.0.0.1:${SASL_PORT}" -servername localhost \
        -verify_hostname localhost -CAfile "${TLS_DIR}/ca.pem" -verify_return_error \
        -quiet -no_ign_eof 2>"${LOG_DIR}/probe.err" \
    | apiversions_ok
}

# SASL_SSL end to end with a real Kafka client: TLS + SCRAM-SHA-512 login.
probe_scram() {
  kafka_tool 30 org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "localhost:${SASL_PORT}" --command-config "$CLIENT_PROPS" \
    >/dev/null 2>"${LOG_DIR}/probe.err"
}

# Poll until PLAINTEXT answers ApiVersions, SASL_SSL answers over verified TLS
# and (unless DRIFTD_KAFKA_VERIFY_SCRAM=0) a Kafka client logs in with SCRAM.
# The broker opens its client listeners only after it has caught up with the
# metadata log and been unfenced, so this means "ready for tests".
wait_ready() {
  local t0 deadline
  t0="$(now)"
  deadline=$(( SECONDS + START_TIMEOUT ))
  local plain_ok=0 tls_ok=0
  while (( SECONDS < deadline )); do
    if [[ -z "$(broker_pid)" ]] && ! launch_alive; then
      log "broker process exited during startup"
      return 1
    fi
    if (( ! plain_ok )) && probe_plaintext; then
      plain_ok=1
      log "ready: PLAINTEXT 127.0.0.1:${PLAIN_PORT} answers ApiVersions after $(elapsed "$t0")s"
    fi
    if (( plain_ok && ! tls_ok )) && probe_tls; then
      tls_ok=1
      log "ready: SASL_SSL localhost:${SASL_PORT} TLS (cert verified against CA) after $(elapsed "$t0")s"
    fi
    if (( plain_ok && tls_ok )); then
      if [[ "${DRIFTD_KAFKA_VERIFY_SCRAM:-1}" == 0 ]]; then
        return 0
      fi
      if probe_scram; then
        log "ready: SASL_SSL ${SCRAM_MECHANISM} login as '${SASL_USER}' works after $(elapsed "$t0")s"
        return 0
      fi
    fi
    sleep 0.25
  done
  log "broker not ready after ${START_TIMEOUT}s"
  if [[ -s "${LOG_DIR}/probe.err" ]]; then
    printf '\n----- last probe error -----\n' >&2
    tail -n 20 "${LOG_DIR}/probe.err" >&2
  fi
  return 1
}

cmd_start() {
  local t0 pid t1
  t0="$(now)"
  check_settings
  find_java
  pid="$(broker_pid)"
  if [[ -n "$pid" ]]; then
    log "already running (pid ${pid}); not starting another"
    write_env
    print_summary
    return 0
  fi
  local port
  for port in "$PLAIN_PORT" "$SASL_PORT" "$CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "port ${port} on 127.0.0.1 is already in use (another broker? set DRIFTD_KAFKA_*PORT)"
    fi
  done
  ensure_libs
  mkdir -p "$RUN_DIR"
  ensure_tls
  render_config
  ensure_formatted
  rm -f "$ENV_FILE"
  t1="$(now)"
  log "broker: starting Kafka ${KAFKA_VERSION} on Java ${JAVA_MAJOR} ($JAVA), run folder ${RUN_DIR} ..."
  launch_broker
  if ! wait_ready; then
    show_log_tail
    log "stopping the broker that did not come up"
    cmd_stop >/dev/null 2>&1 || true
    exit 1
  fi
  write_env
  log "broker: pid $(broker_pid), ready $(elapsed "$t1")s after launch; total start $(elapsed "$t0")s"
  print_summary
}

print_summary() {
  printf 'Kafka %s is running (pid %s)\n' "$KAFKA_VERSION" "$(broker_pid)"
  printf '  PLAINTEXT bootstrap: 127.0.0.1:%s\n' "$PLAIN_PORT"
  printf '  SASL_SSL  bootstrap: localhost:%s (%s, user %s, CA %s)\n' "$SASL_PORT" "$SCRAM_MECHANISM" "$SASL_USER" "${TLS_DIR}/ca.pem"
  printf '  env file:            %s   (set -a; . %s; set +a)\n' "$ENV_FILE" "$ENV_FILE"
  printf '  broker log:          %s\n' "${LOG_DIR}/server.log"
}

cmd_stop() {
  local pid t0
  t0="$(now)"
  pid="$(broker_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping broker pid ${pid} (SIGTERM, SIGKILL after ${STOP_TIMEOUT}s) ..."
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$(( SECONDS + STOP_TIMEOUT ))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still running after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE" "$ENV_FILE"
  log "stopped in $(elapsed "$t0")s"
}

cmd_status() {
  local pid
  pid="$(broker_pid)"
  if [[ -z "$pid" ]]; then
    echo "not running (run folder ${RUN_DIR})"
    return 3
  fi
  local p state
  echo "running: pid ${pid}, run folder ${RUN_DIR}"
  for p in "PLAINTEXT:${PLAIN_PORT}" "SASL_SSL:${SASL_PORT}" "CONTROLLER:${CONTROLLER_PORT}"; do
    if port_open "${p#*:}"; then state=listening; else state="not listening"; fi
    echo "  ${p%%:*} 127.0.0.1:${p#*:} ${state}"
  done
  if [[ -f "$ENV_FILE" ]]; then
    echo "env (${ENV_FILE}):"
    sed 's/^/  /' "$ENV_FILE"
  fi
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    start) cmd_start ;;
    stop) check_settings; cmd_stop ;;
    restart) check_settings; cmd_stop; cmd_start ;;
    status) check_settings; cmd_status ;;
    env) check_settings; [[ -f "$ENV_FILE" ]] || die "no env file (broker not started?)"; cat "$ENV_FILE" ;;
    logs) check_settings; tail -n "${2:-100}" "${LOG_DIR}/server.log" ;;
    clean) check_settings; cmd_stop; rm -rf "$RUN_DIR"; log "removed ${RUN_DIR}" ;;
    -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
