#!/usr/bin/env bash
# Builds the pinned OpenTofu and OPA binaries, and the object-storage test servers
# (MinIO for S3, fake-gcs-server for GCS), from their Go modules into a cache outside
# the repository, and reuses them when present. Prints the bin directory.
# (Azurite, the Azure Blob test server, comes from npm: node_modules/.bin/azurite-blob.)
#
# STACKYARD_TOOLCHAIN_DIR overrides the cache (default ~/.cache/stackyard/toolchain).
set -euo pipefail

TOFU_VERSION="${STACKYARD_TOFU_VERSION:-v1.10.10}"
OPA_VERSION="${STACKYARD_OPA_VERSION:-v1.22.2}"
# MinIO's RELEASE.* tags are not semver, and the module proxy answers 403 for them; the
# proxy serves this pseudo-version (the repository's last commit, 2026-02-12). Its go.mod
# has no replace directives, so a plain `go install` builds it.
MINIO_VERSION="${STACKYARD_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
FAKE_GCS_VERSION="${STACKYARD_FAKE_GCS_VERSION:-v1.56.1}"
# OpenTofu's go.mod carries a replace line that `go install` ignores, so a small
# wrapper module requires OpenTofu and repeats the line.
TOFU_HCL_REPLACE="github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828"

cache="${STACKYARD_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stackyard/toolchain}"
bin="$cache/bin"
mkdir -p "$bin"

log() { echo "[toolchain] $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "Go is required to build OpenTofu, OPA, MinIO and fake-gcs-server; install Go 1.24+ and retry."
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

# go install <module>@<version> into the cache as <name>-<version>.
build_go_tool() {
  local name="$1" pkg="$2" version="$3"
  local target="$bin/$name-$version"
  if [ -x "$target" ]; then return; fi
  log "building $name $version from its Go module (first time only, a few minutes)"
  local gobin
  gobin="$(mktemp -d)"
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "$pkg@$version"
  mv "$gobin/$(basename "$pkg")" "$target"
  rm -rf "$gobin"
}

build_tofu &
tofu_pid=$!
build_opa &
opa_pid=$!
build_go_tool minio github.com/minio/minio "$MINIO_VERSION" &
minio_pid=$!
build_go_tool fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION" &
gcs_pid=$!
status=0
for pid in "$tofu_pid" "$opa_pid" "$minio_pid" "$gcs_pid"; do
  wait "$pid" || status=1
done
if [ "$status" -ne 0 ]; then
  log "a build failed; see the output above"
  exit 1
fi

ln -sf "tofu-$TOFU_VERSION" "$bin/tofu"
ln -sf "opa-$OPA_VERSION" "$bin/opa"
ln -sf "minio-$MINIO_VERSION" "$bin/minio"
ln -sf "fake-gcs-server-$FAKE_GCS_VERSION" "$bin/fake-gcs-server"
echo "$bin"
