#!/usr/bin/env bash
# Install the system packages the lakehouse needs, only where missing:
# Java 17+ for Spark, Maven (copies the pinned jars of infra/maven/pom.xml into the download
# cache), PostgreSQL's server (the `lakehouse stack` catalog), Chromium for the dashboards'
# browser test (driven by playwright-core, never downloaded).
# Idempotent; safe to run on every `make setup`.
set -euo pipefail

need=()
if ! command -v java >/dev/null 2>&1; then
  need+=(openjdk-17-jre-headless)
fi
command -v mvn >/dev/null 2>&1 || need+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[[ -x /usr/bin/chromium ]] || need+=(chromium)

if ((${#need[@]})); then
  echo "system-deps: installing ${need[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "system-deps: need root to install: ${need[*]} (apt-get install -y ${need[*]})" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian's package starts a cluster of its own on 5432; the stack runs its own server.
  if [[ " ${need[*]} " == *" postgresql "* ]] && command -v pg_ctlcluster >/dev/null; then
    $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
fi

java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [[ -z "$java_major" || "$java_major" -lt 17 || "$java_major" -gt 21 ]]; then
  echo "system-deps: Spark 3.5 needs Java 17 or 21; found '${java_major:-none}'." >&2
  echo "Install openjdk-17-jre-headless or set JAVA_HOME to a Java 17/21." >&2
  exit 1
fi
