#!/usr/bin/env bash
# Installs whatever is missing for Stackyard on this machine, and nothing that is
# already there: npm packages (from package-lock.json), then OpenTofu and OPA built from
# their Go modules into a cache outside the repository, and Debian's bubblewrap (the run
# sandbox) when it is missing. Safe to run again and again.
#
#   SETUP_BROWSER=1   also installs Debian's Chromium for the browser tests.
#   SETUP_CLIENTS=1   also builds the real Spacelift clients (spacectl, the Terraform
#                     provider) for the client suites, from the source snapshots in
#                     ${STACKYARD_CLIENTS_SOURCE:-../shared/clients} (cached outside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  log "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
  exit 1
fi

# npm ci only when the installed tree does not match the lockfile.
if ! cmp -s package-lock.json node_modules/.stackyard-lock 2>/dev/null; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.stackyard-lock
fi

bash scripts/setup-toolchain.sh >/dev/null

# The web UI (apps/web/dist, served by the api role at /): rebuilt when any of its
# sources is newer than the last build. Takes a few seconds.
web_index=apps/web/dist/index.html
if [ ! -f "$web_index" ] || [ -n "$(find apps/web/src apps/web/index.html apps/web/vite.config.ts \
    apps/web/package.json packages/api-client/src -newer "$web_index" -print -quit 2>/dev/null)" ]; then
  log "building the web UI"
  npm run build -w @stackyard/web --silent >/dev/null
fi

# Runs execute inside bubblewrap; a launcher without it refuses runs (unless
# STACKYARD_UNSANDBOXED_RUNS=true), so `stackyard up` needs it on this machine.
if ! command -v bwrap >/dev/null 2>&1; then
  log "installing bubblewrap (the run sandbox) from Debian's packages"
  if [ "$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap >/dev/null; fi
fi

if [ "${SETUP_BROWSER:-0}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Chromium from Debian's packages"
  if [ "$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
if [ "${SETUP_CLIENTS:-0}" = "1" ]; then
  clients_build="${STACKYARD_CLIENTS_SOURCE:-../shared/clients}/build.sh"
  if [ -f "$clients_build" ]; then
    bash "$clients_build" >/dev/null
  else
    log "no $clients_build: the spacectl and provider suites will be skipped"
  fi
fi
log "ready"
