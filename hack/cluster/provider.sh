#!/usr/bin/env bash
# Prints the cluster provider the scripts will use: local or kind (see provider in lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
provider
