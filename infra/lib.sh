# Shared helpers for the local stack's component scripts (infra/*/ctl). Source, don't run.
#
# Layout (all overridable by environment variables):
#   EVENTSHOP_CACHE_DIR  downloads and builds that survive `make down` (jars, Go builds)
#   EVENTSHOP_STATE_DIR  data directories, pid files and logs of the running stack
#   EVENTSHOP_LOG_DIR    one folder holding every server's and service's log
set -euo pipefail

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$INFRA_DIR")"
EVENTSHOP_CACHE_DIR="${EVENTSHOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eventshop}"
EVENTSHOP_STATE_DIR="${EVENTSHOP_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/eventshop}"
EVENTSHOP_LOG_DIR="${EVENTSHOP_LOG_DIR:-$EVENTSHOP_STATE_DIR/logs}"
EVENTSHOP_RUN_DIR="$EVENTSHOP_STATE_DIR/run"
MAVEN_REPO_DIR="$EVENTSHOP_CACHE_DIR/maven"
mkdir -p "$EVENTSHOP_CACHE_DIR" "$EVENTSHOP_STATE_DIR" "$EVENTSHOP_LOG_DIR" "$EVENTSHOP_RUN_DIR"

COMPONENT="${COMPONENT:-stack}"

log() { printf '[%s] %s\n' "$COMPONENT" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$COMPONENT" "$*" >&2; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every half second until it succeeds.
wait_until() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.5
  done
}

pid_file() { echo "$EVENTSHOP_RUN_DIR/$1.pid"; }

# wait_healthy NAME SECONDS COMMAND...: poll COMMAND until it succeeds, for as long as NAME's
# process is alive, up to SECONDS. Gives up at once if the process dies (its log says why), and
# every 15 s says what it is still waiting for, with the newest line of the process's log: a
# first start on a cold 2-core machine can take minutes, and silence looks like a hang.
wait_healthy() {
  local name="$1" timeout="$2"; shift 2
  local started=$SECONDS next_report=$((SECONDS + 15))
  until "$@" >/dev/null 2>&1; do
    is_running "$name" || fail_with_log "$name" "$name exited during start-up"
    ((SECONDS - started < timeout)) || fail_with_log "$name" "$name was not healthy within ${timeout}s"
    if ((SECONDS >= next_report)); then
      log "still waiting for $name ($((SECONDS - started))s of ${timeout}s); its log: $(last_log_line "$name")"
      next_report=$((SECONDS + 15))
    fi
    sleep 0.5
  done
}

# last_log_line NAME: the newest line NAME's process has written to its log since it was
# started (its message, for a JSON line), cut to 160 characters. Logs are appended across runs,
# so the line a previous run left last is not shown as this run's progress.
last_log_line() {
  local offset=0
  [[ -f "$(log_start_file "$1")" ]] && offset="$(cat "$(log_start_file "$1")")"
  tail -c "+$((offset + 1))" "$EVENTSHOP_LOG_DIR/$1.log" 2>/dev/null | tail -n 1 | python3 -c '
import json, sys
line = sys.stdin.read().strip()
try:
    line = json.loads(line).get("message", line)
except (ValueError, AttributeError):
    pass
print(line[:160] or "(nothing written yet)")'
}

# log_start_file NAME: where start_daemon records how long NAME's log was when it started.
log_start_file() { echo "$EVENTSHOP_RUN_DIR/$1.log-start"; }

# is_running NAME: the process recorded in NAME's pid file is alive.
is_running() {
  local file pid
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# start_daemon NAME COMMAND...: start COMMAND in its own session, output to NAME's log, record its pid.
start_daemon() {
  local name="$1"; shift
  local logfile="$EVENTSHOP_LOG_DIR/$name.log"
  stat -c %s "$logfile" 2>/dev/null >"$(log_start_file "$name")" || echo 0 >"$(log_start_file "$name")"
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
}

# stop_daemon NAME [SECONDS]: SIGTERM the recorded process group, SIGKILL it after SECONDS.
stop_daemon() {
  local name="$1" grace="${2:-30}" file pid
  file="$(pid_file "$name")"
  if ! is_running "$name"; then
    rm -f "$file"
    return 0
  fi
  pid="$(cat "$file")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until "$grace" "$name to stop" bash -c "! kill -0 $pid"; then
    log "$name did not stop within ${grace}s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# fail_with_log NAME MESSAGE: exit with MESSAGE and the tail of NAME's log, which says why.
fail_with_log() {
  local name="$1" message="$2"
  log "$message; last lines of $EVENTSHOP_LOG_DIR/$name.log:"
  tail -n 25 "$EVENTSHOP_LOG_DIR/$name.log" >&2 || true
  exit 1
}

# maven_copy_dependencies POM OUTPUT_DIR: resolve POM's dependencies from Maven Central into the
# cache's Maven repository and copy the jars into OUTPUT_DIR (done once; a marker file records it).
maven_copy_dependencies() {
  local pom="$1" out="$2" marker="$2/.complete"
  local digest
  digest="$(sha256sum "$pom" | cut -c1-16)"
  if [[ -f "$marker" && "$(cat "$marker")" == "$digest" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch jars from Maven Central; install it (apt-get install maven)"
  log "fetching $(basename "$(dirname "$pom")") jars from Maven Central into $out (first run only)"
  rm -rf "$out"
  mkdir -p "$out"
  # Maven's output (even with -q, a few stray colour codes) goes to a log, shown on failure.
  local name
  name="maven-$(basename "$(dirname "$pom")")"
  mvn -q -B -f "$pom" -Dmaven.repo.local="$MAVEN_REPO_DIR" \
    dependency:copy-dependencies -DoutputDirectory="$out" -DincludeScope=runtime \
    >"$EVENTSHOP_LOG_DIR/$name.log" 2>&1 || fail_with_log "$name" "Maven could not fetch the jars for $pom"
  echo "$digest" >"$marker"
}

# java_home_at_least VERSION: print the JAVA_HOME of an installed JDK of at least VERSION.
java_home_at_least() {
  local wanted="$1" candidate version
  for candidate in ${JAVA_HOME:-} /usr/lib/jvm/*; do
    [[ -x "$candidate/bin/java" ]] || continue
    version="$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 \
      | awk -F'= ' '/java.specification.version/ {print $2}')"
    if [[ -n "$version" && "${version%%.*}" -ge "$wanted" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
