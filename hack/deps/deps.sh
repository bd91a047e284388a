#!/usr/bin/env bash
# What a fresh machine lacks for this project, from the one list in hack/deps/packages.txt.
#
#   deps.sh check    GROUP...   exit 0 when nothing of the groups is missing; else list what is
#   deps.sh ensure   GROUP...   install what is missing, or say the one command that would:
#   deps.sh packages GROUP...   print the groups' package names, one per line
#
# ensure decides as follows (hack/deps/deps_test.go checks each row):
#
#   nothing missing                  -> nothing to do, exit 0
#   root, apt-get present            -> say which packages and why, `apt-get update` once, then
#                                       `apt-get install`; exit 0 when the check passes afterwards
#   root, apt-get present, it fails  -> apt-get's last lines, exit 1
#   not root                         -> print the one command to run as root, exit 1
#   no apt-get                       -> name the packages and the command for Debian, exit 1
#
# Groups: ci (.ci/run's test command), cluster (the local cluster: make cluster-up, make demo),
# kind (the kind provider). ELASTI_DEPS_LIST names another list (the tests use it).
# Only bash builtins, `id` and apt-get are used, so this runs before anything else is there.
set -euo pipefail
HERE="${BASH_SOURCE[0]%/*}"; [ "$HERE" != "${BASH_SOURCE[0]}" ] || HERE=.
LIST="${ELASTI_DEPS_LIST:-$HERE/packages.txt}"

say() { printf '%s deps: %s\n' "$(printf '%(%H:%M:%S)T' -1)" "$*" >&2; }

# entries GROUP...: the list's lines of those groups, "CHECK PACKAGE WHY"; fails on an unknown group.
entries() {
  local g found group check pkg why
  for g in "$@"; do
    found=0
    while read -r group check pkg why || [ -n "$group" ]; do
      case "$group" in '' | '#'*) continue ;; esac
      [ "$group" = "$g" ] || continue
      found=1
      printf '%s %s %s\n' "$check" "$pkg" "$why"
    done < "$LIST"
    [ "$found" = 1 ] || { say "ERROR: no group '$g' in $LIST"; return 2; }
  done
}

present() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

# missing GROUP...: sets MISSING_PKGS (each package once, in list order) and MISSING_LINES (what
# is missing and why, for the messages).
missing() {
  local lines check pkg why seen=" "
  MISSING_PKGS=() MISSING_LINES=()
  lines="$(entries "$@")" || return
  while read -r check pkg why; do
    [ -n "$check" ] || continue
    present "$check" && continue
    MISSING_LINES+=("$check (package $pkg): $why")
    case "$seen" in *" $pkg "*) continue ;; esac
    seen+="$pkg "
    MISSING_PKGS+=("$pkg")
  done <<< "$lines"
}

# last_lines TEXT: the last 15 lines of TEXT, indented, on stderr.
last_lines() {
  local l=() from
  mapfile -t l <<< "$1"
  from=$(( ${#l[@]} > 15 ? ${#l[@]} - 15 : 0 ))
  printf '    %s\n' "${l[@]:from}" >&2
}

list_missing() { local l; for l in "${MISSING_LINES[@]}"; do printf '    %s\n' "$l" >&2; done; }

apt_command() { echo "apt-get update && apt-get install -y --no-install-recommends ${MISSING_PKGS[*]}"; }

check() {
  missing "$@" || return
  [ ${#MISSING_PKGS[@]} -eq 0 ] && return 0
  say "missing for $*:"; list_missing
  return 1
}

ensure() {
  missing "$@" || return
  [ ${#MISSING_PKGS[@]} -eq 0 ] && return 0
  say "this machine lacks what $* needs:"; list_missing
  if [ "$(id -u)" != 0 ]; then
    say "ERROR: installing Debian packages needs root; run this, then try again:"
    printf '\n    sudo sh -c '\''%s'\''\n\n' "$(apt_command)" >&2
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "ERROR: no apt-get here: install the packages above (Debian names: ${MISSING_PKGS[*]}) with your"
    say "system's package manager, or on Debian or Ubuntu run: $(apt_command)"
    return 1
  fi
  say "installing the Debian packages ${MISSING_PKGS[*]} (apt-get update, then apt-get install)"
  local out
  if ! out="$(apt-get update -qq 2>&1)"; then
    last_lines "$out"
    say "ERROR: apt-get update failed (above); the packages were not installed"
    return 1
  fi
  if ! out="$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING_PKGS[@]}" 2>&1)"; then
    last_lines "$out"
    say "ERROR: apt-get install ${MISSING_PKGS[*]} failed (above)"
    return 1
  fi
  missing "$@"
  if [ ${#MISSING_PKGS[@]} -gt 0 ]; then
    say "ERROR: still missing after apt-get install:"; list_missing
    return 1
  fi
  say "installed; everything $* needs is here"
}

packages() {
  local lines check pkg why seen=" "
  lines="$(entries "$@")" || return
  while read -r check pkg why; do
    case "$seen" in *" $pkg "*) continue ;; esac
    seen+="$pkg "
    echo "$pkg"
  done <<< "$lines"
}

cmd="${1:-}"
[ $# -ge 2 ] || { echo "usage: $0 check|ensure|packages GROUP..." >&2; exit 2; }
shift
case "$cmd" in
  check) check "$@" ;;
  ensure) ensure "$@" ;;
  packages) packages "$@" ;;
  *) echo "usage: $0 check|ensure|packages GROUP..." >&2; exit 2 ;;
esac
