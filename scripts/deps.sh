#!/usr/bin/env bash
# scripts/deps.sh — install everything the tests need that is not a Go module
# of the main module: the MinIO and Jaeger v2 server binaries. Idempotent: a
# binary whose stamp matches the pinned version (scripts/versions.env, and
# tools/jaeger/go.mod + go.sum for Jaeger) is left alone.
#
# Binaries go to ${FAASFLOW_CACHE:-$HOME/.cache/faasflow}/bin (outside the repo).
# etcd and NATS JetStream need nothing here: tests embed them
# (go.etcd.io/etcd/server/v3/embed, github.com/nats-io/nats-server/v2).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.env
. "$ROOT/scripts/versions.env"
CACHE=${FAASFLOW_CACHE:-$HOME/.cache/faasflow}
BIN=$CACHE/bin

log() { printf 'deps: %s\n' "$*" >&2; }
die() {
	printf 'deps: ERROR: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go (see go.mod for the version) first"
mkdir -p "$BIN" || die "cannot create $BIN"

# One deps.sh at a time per cache (two concurrent builds of MinIO would only
# compete for the CPU and race on the output file).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$CACHE/.deps.lock"
	if ! flock -n 9; then
		log "another scripts/deps.sh holds $CACHE/.deps.lock; waiting for it"
		flock 9
	fi
fi

# stamp_ok NAME KEY: the binary exists, runs, and was built for KEY.
stamp_ok() {
	local name=$1 key=$2
	[[ -x "$BIN/$name" && -f "$BIN/$name.stamp" ]] && [[ "$(cat "$BIN/$name.stamp")" == "$key" ]]
}

# built_from BINARY MODULE VERSION: the binary's embedded Go build info says
# its main package comes from MODULE at VERSION.
built_from() {
	go version -m "$1" 2>/dev/null | awk -v m="$2" -v v="$3" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'
}

elapsed() { echo "$((SECONDS - $1))s"; }

# ---------------------------------------------------------------- MinIO
minio_key="$MINIO_MODULE@$MINIO_VERSION"
if stamp_ok minio "$minio_key"; then
	log "minio: up to date ($minio_key) at $BIN/minio"
elif [[ -x "$BIN/minio" ]] && built_from "$BIN/minio" "$MINIO_MODULE" "$MINIO_VERSION"; then
	# Built by hand or by an older deps.sh: its build info proves the version.
	echo "$minio_key" >"$BIN/minio.stamp"
	log "minio: existing $BIN/minio is $minio_key; stamped"
else
	log "minio: building $minio_key into $BIN (takes about 6 minutes on 2 cores)"
	start=$SECONDS
	tmp=$(mktemp -d "$CACHE/minio-build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	if ! GOBIN="$tmp" GOFLAGS= go install "$minio_key"; then
		die "minio: 'go install $minio_key' failed (see the go output above); is the Go module proxy reachable?"
	fi
	[[ -x "$tmp/minio" ]] || die "minio: go install produced no binary in $tmp"
	mv -f "$tmp/minio" "$BIN/minio"
	echo "$minio_key" >"$BIN/minio.stamp"
	rm -rf "$tmp"
	trap - EXIT
	log "minio: built in $(elapsed "$start")"
fi

# ---------------------------------------------------------------- Jaeger v2
tools="$ROOT/tools/jaeger"
[[ -f "$tools/go.mod" && -f "$tools/go.sum" ]] || die "jaeger: $tools/go.mod or go.sum is missing"
# versions.env and the tools module must agree, or the stamp would lie.
if ! awk -v m="$JAEGER_MODULE" -v v="$JAEGER_VERSION" '($1 == m && $2 == v) || ($1 == "require" && $2 == m && $3 == v) { found = 1 } END { exit !found }' "$tools/go.mod"; then
	die "jaeger: tools/jaeger/go.mod does not require $JAEGER_MODULE $JAEGER_VERSION (scripts/versions.env); re-resolve the tools module as docs/development.md describes"
fi
jaeger_key="$JAEGER_MODULE@$JAEGER_VERSION $(cat "$tools/go.mod" "$tools/go.sum" | sha256sum | cut -c1-16)"
if stamp_ok jaeger "$jaeger_key"; then
	log "jaeger: up to date ($JAEGER_MODULE@$JAEGER_VERSION) at $BIN/jaeger"
else
	log "jaeger: building $JAEGER_MODULE/cmd/jaeger@$JAEGER_VERSION from tools/jaeger into $BIN (takes about 3-8 minutes on 2 cores)"
	start=$SECONDS
	# -mod=readonly: every module is verified against the committed go.sum,
	# so no checksum-database lookups (and no GOSUMDB=off) are needed here.
	if ! (cd "$tools" && GOFLAGS="-mod=readonly -buildvcs=false" go build -o "$BIN/jaeger.tmp" "$JAEGER_MODULE/cmd/jaeger"); then
		rm -f "$BIN/jaeger.tmp"
		die "jaeger: 'go build $JAEGER_MODULE/cmd/jaeger' in tools/jaeger failed (see the go output above)"
	fi
	mv -f "$BIN/jaeger.tmp" "$BIN/jaeger"
	echo "$jaeger_key" >"$BIN/jaeger.stamp"
	log "jaeger: built in $(elapsed "$start")"
fi

# ---------------------------------------------------------------- smoke checks
"$BIN/minio" --version >/dev/null 2>&1 || die "minio: $BIN/minio does not run; delete it and run scripts/deps.sh again"
"$BIN/jaeger" version >/dev/null 2>&1 || die "jaeger: $BIN/jaeger does not run; delete it and run scripts/deps.sh again"

log "ready: FAASFLOW_MINIO_BIN=$BIN/minio FAASFLOW_JAEGER_BIN=$BIN/jaeger"
