#!/usr/bin/env bash
# scripts/test.sh — the project's test command (README, CI).
#
#   scripts/test.sh                 # everything: deps, gofmt, vet, go test -race ./...
#   scripts/test.sh ./engine/...    # same checks, go test only the named packages
#
# Phases: scripts/deps.sh (build/cache the MinIO and Jaeger binaries), Chromium
# (apt-get install when /usr/bin/chromium is missing), a gofmt
# check, go vet ./..., then go test -race. Every phase runs even if an earlier
# one failed, a summary of the other phases is printed before go test starts,
# and go test runs last so the output ends with its own closing lines. The exit
# code is non-zero if any phase failed.
#
# Environment: FAASFLOW_CACHE (binary cache, default ~/.cache/faasflow),
# FAASFLOW_MINIO_BIN / FAASFLOW_JAEGER_BIN (override the binaries tests run),
# GO_TEST_TIMEOUT (default 25m), GO_TEST_P (parallel packages, default 2),
# GO_TEST_RACE (default 1; 0 drops -race).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
CACHE=${FAASFLOW_CACHE:-$HOME/.cache/faasflow}

failed=()
summary=()
phase_start=0
begin() {
	printf '\n==> %s\n' "$1"
	phase_start=$SECONDS
}
record() { # record NAME STATUS
	local took=$((SECONDS - phase_start))
	summary+=("$(printf '%-8s %-4s %5ss' "$1" "$2" "$took")")
	[[ $2 == ok ]] || failed+=("$1")
}

total_start=$SECONDS

begin "deps: scripts/deps.sh"
if bash "$ROOT/scripts/deps.sh" </dev/null 2>&1; then record deps ok; else record deps FAIL; fi

# The dashboard's browser test (internal/e2e) drives Debian's Chromium.
begin "chromium: /usr/bin/chromium for the dashboard's browser test"
if [[ -x /usr/bin/chromium ]]; then
	record chromium ok
else
	sudo=()
	((EUID == 0)) || sudo=(sudo)
	if "${sudo[@]}" apt-get update </dev/null && "${sudo[@]}" apt-get install -y --no-install-recommends chromium </dev/null && [[ -x /usr/bin/chromium ]]; then
		record chromium ok
	else
		printf 'ERROR: could not install Chromium (apt-get install chromium); the dashboard browser test will fail\n'
		record chromium FAIL
	fi
fi

export FAASFLOW_MINIO_BIN=${FAASFLOW_MINIO_BIN:-$CACHE/bin/minio}
export FAASFLOW_JAEGER_BIN=${FAASFLOW_JAEGER_BIN:-$CACHE/bin/jaeger}

begin "gofmt: gofmt -l (every .go file outside testdata)"
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l 2>&1)
if [[ -z $unformatted ]]; then
	record gofmt ok
else
	printf 'not gofmt-formatted (run gofmt -w on them):\n%s\n' "$unformatted"
	record gofmt FAIL
fi

begin "vet: go vet ./..."
if go vet ./... </dev/null; then record vet ok; else record vet FAIL; fi

printf '\n==> summary before go test (go test runs last; its closing lines end this output)\n'
for line in "${summary[@]}"; do printf '  %s\n' "$line"; done
if ((${#failed[@]})); then
	printf '  FAILED so far: %s\n' "${failed[*]}"
fi

race=(-race)
[[ ${GO_TEST_RACE:-1} == 0 ]] && race=()
pkgs=("$@")
((${#pkgs[@]})) || pkgs=(./...)
args=("${race[@]}" -count=1 -p "${GO_TEST_P:-2}" -timeout "${GO_TEST_TIMEOUT:-25m}" "${pkgs[@]}")
printf '  go test %s  (FAASFLOW_MINIO_BIN=%s FAASFLOW_JAEGER_BIN=%s)\n' "${args[*]}" "$FAASFLOW_MINIO_BIN" "$FAASFLOW_JAEGER_BIN"
printf '  elapsed before go test: %ss\n\n' "$((SECONDS - total_start))"

go test "${args[@]}" </dev/null
rc=$?

if ((rc != 0 || ${#failed[@]})); then
	exit 1
fi
exit 0
