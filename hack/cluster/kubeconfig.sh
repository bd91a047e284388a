#!/usr/bin/env bash
# Prints the kubeconfig of the current provider's cluster (the Makefile's install, e2e and bench
# targets use it; see provider in lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
echo "$KUBECONFIG_ADMIN"
