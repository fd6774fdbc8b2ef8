#!/usr/bin/env bash
# Set everything up, then lint and run the whole test suite.
#
#   bash scripts/test.sh                      # ruff + all tests
#   bash scripts/test.sh -k qr -x             # extra pytest arguments
#   bash scripts/test.sh tests/unit           # only these paths
#   WAMC_JUNITXML=out.xml bash scripts/test.sh
#
# Exits non-zero if ruff, lint-imports, mypy or pytest fails, and also when pytest collects no tests.
# Under CI=true a JUnit report goes to test-artifacts/junit.xml.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

bash "$ROOT/scripts/setup.sh"

# tests/integration/test_privilege.py runs a daemon as the service user: as root, make sure
# it exists and can reach this checkout (under CI=true, by letting it traverse the parents).
if [[ "$(id -u)" -eq 0 ]]; then
    bash "$ROOT/scripts/service-user.sh" ensure
    if ! bash "$ROOT/scripts/service-user.sh" check >/dev/null 2>&1; then
        if [[ "${CI:-}" == "true" ]]; then
            bash "$ROOT/scripts/service-user.sh" grant
        fi
        bash "$ROOT/scripts/service-user.sh" check ||
            echo "[test] tests/integration/test_privilege.py will fail until this is fixed" >&2
    fi
fi

export WAMC_TEST_ARTIFACTS="${WAMC_TEST_ARTIFACTS:-$ROOT/test-artifacts}"
mkdir -p "$WAMC_TEST_ARTIFACTS"

failed=()

echo "== ruff check"
"$ROOT/.venv/bin/ruff" check . || failed+=("ruff check")
echo "== ruff format --check"
"$ROOT/.venv/bin/ruff" format --check . || failed+=("ruff format --check")
echo "== lint-imports (architecture contracts in pyproject.toml)"
"$ROOT/.venv/bin/lint-imports" --no-cache || failed+=("lint-imports")
echo "== mypy (strict for wamc/wire, wamc/storage, wamc/daemon; see pyproject.toml)"
"$ROOT/.venv/bin/mypy" || failed+=("mypy")

# Run all of tests/ unless the caller named paths or node ids of their own.
targets=(tests)
for arg in "$@"; do
    if [[ "$arg" != -* && ("$arg" == *::* || -e "${arg%%::*}") ]]; then
        targets=()
        break
    fi
done

junit=()
if [[ -n "${WAMC_JUNITXML:-}" ]]; then
    junit=("--junitxml=$WAMC_JUNITXML")
elif [[ "${CI:-}" == "true" ]]; then
    junit=("--junitxml=$WAMC_TEST_ARTIFACTS/junit.xml")
fi

echo "== pytest"
rc=0
"$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider "${junit[@]}" "${targets[@]}" "$@" </dev/null || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "[test] ERROR: pytest collected no tests" >&2
    failed+=("pytest (no tests collected)")
elif [[ $rc -ne 0 ]]; then
    failed+=("pytest (exit $rc)")
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    printf '[test] FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
# Nothing printed after pytest's own summary line on success.
