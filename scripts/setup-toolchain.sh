#!/usr/bin/env bash
# Builds the pinned OpenTofu and OPA binaries from their Go modules into a cache
# outside the repository, and reuses them when present. Prints the bin directory.
#
# STACKYARD_TOOLCHAIN_DIR overrides the cache (default ~/.cache/stackyard/toolchain).
set -euo pipefail

TOFU_VERSION="${STACKYARD_TOFU_VERSION:-v1.10.10}"
OPA_VERSION="${STACKYARD_OPA_VERSION:-v1.22.2}"
# OpenTofu's go.mod carries a replace line that `go install` ignores, so a small
# wrapper module requires OpenTofu and repeats the line.
TOFU_HCL_REPLACE="github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828"

cache="${STACKYARD_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stackyard/toolchain}"
bin="$cache/bin"
mkdir -p "$bin"

log() { echo "[toolchain] $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "Go is required to build OpenTofu and OPA; install Go 1.24+ and retry."
  exit 1
fi

build_tofu() {
  local target="$bin/tofu-$TOFU_VERSION"
  if [ -x "$target" ]; then return; fi
  log "building OpenTofu $TOFU_VERSION from its Go module (first time only, a few minutes)"
  local mod
  mod="$(mktemp -d)"
  cat >"$mod/go.mod" <<MOD
module stackyard.local/tofu-build

go 1.24

require github.com/opentofu/opentofu $TOFU_VERSION

replace $TOFU_HCL_REPLACE
MOD
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
GO
  (cd "$mod" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
  (cd "$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$target.tmp" github.com/opentofu/opentofu/cmd/tofu)
  mv "$target.tmp" "$target"
  rm -rf "$mod"
}

build_opa() {
  local target="$bin/opa-$OPA_VERSION"
  if [ -x "$target" ]; then return; fi
  log "building OPA $OPA_VERSION from its Go module (first time only)"
  local gobin
  gobin="$(mktemp -d)"
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "github.com/open-policy-agent/opa@$OPA_VERSION"
  mv "$gobin/opa" "$target"
  rm -rf "$gobin"
}

build_tofu &
tofu_pid=$!
build_opa &
opa_pid=$!
wait "$tofu_pid"
wait "$opa_pid"

ln -sf "tofu-$TOFU_VERSION" "$bin/tofu"
ln -sf "opa-$OPA_VERSION" "$bin/opa"
echo "$bin"
