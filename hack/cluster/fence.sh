#!/usr/bin/env bash
# The network fence of the local cluster. It goes up before any pod runs and comes down last.
#
#   filter OUTPUT  -> ELASTI-FENCE-OUT : reject host traffic to private ranges out of the default-route
#                                        interface (except host-sourced DNS to the host's resolvers,
#                                        so `go` downloads keep working beside the cluster)
#   filter FORWARD -> ELASTI-FENCE-FWD : reject every forwarded packet entering or leaving through it
#   filter INPUT   -> ELASTI-FENCE-IN  : refuse the apiserver and kubelet ports from outside
#   mangle POSTROUTING -> ELASTI-BACKSTOP: DROP pod-sourced packets and private destinations on that
#                                        interface; kube-proxy and CNI never touch mangle POSTROUTING,
#                                        and it sees the post-DNAT destination
#   the same for IPv6 (fc00::/7), and an ifb link that owns the Service and pod CIDR routes, so an
#   address nothing answers for is dropped instead of following the default route.
#
# kube-proxy inserts its own jumps at the top of OUTPUT/FORWARD/INPUT; `fence.sh watch` (started by
# up.sh as the fence-watchdog process) keeps ours first.
#
# Usage: fence.sh up | down | check | watch
set -euo pipefail
. "$(dirname "$0")/lib.sh"

IPT=(iptables -w 5)
IP6T=(ip6tables -w 5)

# chain_fresh CMD TABLE CHAIN: creates CHAIN or empties it.
chain_fresh() {
  local -n cmd=$1
  "${cmd[@]}" -t "$2" -N "$3" 2>/dev/null || "${cmd[@]}" -t "$2" -F "$3"
}

# jump_first CMD TABLE HOOK CHAIN: makes "-j CHAIN" the first rule of HOOK.
jump_first() {
  local -n cmd=$1
  local first
  first="$("${cmd[@]}" -t "$2" -S "$3" | sed -n 2p)"
  [ "$first" = "-A $3 -j $4" ] && return 0
  while "${cmd[@]}" -t "$2" -D "$3" -j "$4" 2>/dev/null; do :; done
  "${cmd[@]}" -t "$2" -I "$3" 1 -j "$4"
}

rules_v4() {
  local ifc="$1" node="$2" r ns
  chain_fresh IPT filter ELASTI-FENCE-OUT
  for ns in $(resolvers); do
    for p in udp tcp; do "${IPT[@]}" -A ELASTI-FENCE-OUT -o "$ifc" -d "$ns" -p "$p" --dport 53 -j RETURN; done
  done
  for r in "${PRIVATE_V4[@]}"; do "${IPT[@]}" -A ELASTI-FENCE-OUT -o "$ifc" -d "$r" -j REJECT --reject-with icmp-admin-prohibited; done
  chain_fresh IPT filter ELASTI-FENCE-FWD
  "${IPT[@]}" -A ELASTI-FENCE-FWD -i "$ifc" -j REJECT --reject-with icmp-admin-prohibited
  "${IPT[@]}" -A ELASTI-FENCE-FWD -o "$ifc" -j REJECT --reject-with icmp-admin-prohibited
  chain_fresh IPT filter ELASTI-FENCE-IN
  "${IPT[@]}" -A ELASTI-FENCE-IN -i "$ifc" -p tcp -m multiport --dports "$APISERVER_PORT,$KUBELET_PORT" -j REJECT --reject-with tcp-reset
  chain_fresh IPT mangle ELASTI-BACKSTOP
  for ns in $(resolvers); do
    for p in udp tcp; do "${IPT[@]}" -t mangle -A ELASTI-BACKSTOP -o "$ifc" -s "$node" -d "$ns" -p "$p" --dport 53 -j RETURN; done
  done
  "${IPT[@]}" -t mangle -A ELASTI-BACKSTOP -o "$ifc" -s "$POD_CIDR_ALL" -j DROP
  for r in "${PRIVATE_V4[@]}"; do "${IPT[@]}" -t mangle -A ELASTI-BACKSTOP -o "$ifc" -d "$r" -j DROP; done
}

rules_v6() {
  local ifc="$1" r
  chain_fresh IP6T filter ELASTI-FENCE-OUT
  # Neighbour discovery to the router must keep working for the host.
  "${IP6T[@]}" -A ELASTI-FENCE-OUT -o "$ifc" -p ipv6-icmp -j RETURN
  for r in "${PRIVATE_V6[@]}"; do "${IP6T[@]}" -A ELASTI-FENCE-OUT -o "$ifc" -d "$r" -j REJECT --reject-with adm-prohibited; done
  chain_fresh IP6T filter ELASTI-FENCE-FWD
  "${IP6T[@]}" -A ELASTI-FENCE-FWD -i "$ifc" -j REJECT --reject-with adm-prohibited
  "${IP6T[@]}" -A ELASTI-FENCE-FWD -o "$ifc" -j REJECT --reject-with adm-prohibited
  chain_fresh IP6T mangle ELASTI-BACKSTOP
  "${IP6T[@]}" -t mangle -A ELASTI-BACKSTOP -o "$ifc" -p ipv6-icmp -j RETURN
  for r in "${PRIVATE_V6[@]}"; do "${IP6T[@]}" -t mangle -A ELASTI-BACKSTOP -o "$ifc" -d "$r" -j DROP; done
}

jumps() {
  jump_first IPT filter OUTPUT ELASTI-FENCE-OUT
  jump_first IPT filter FORWARD ELASTI-FENCE-FWD
  jump_first IPT filter INPUT ELASTI-FENCE-IN
  jump_first IPT mangle POSTROUTING ELASTI-BACKSTOP
  jump_first IP6T filter OUTPUT ELASTI-FENCE-OUT
  jump_first IP6T filter FORWARD ELASTI-FENCE-FWD
  jump_first IP6T mangle POSTROUTING ELASTI-BACKSTOP
}

blackhole_up() {
  ip link show "$BLACKHOLE_LINK" >/dev/null 2>&1 || ip link add "$BLACKHOLE_LINK" type ifb
  ip link set "$BLACKHOLE_LINK" up
  ip route replace "$SERVICE_CIDR" dev "$BLACKHOLE_LINK"
  ip route replace "$POD_CIDR_ALL" dev "$BLACKHOLE_LINK"
}

up() {
  local ifc node
  ifc="$(default_iface)"; node="$(node_ip)"
  if [ -z "$ifc" ] || [ -z "$node" ]; then die "no default route: cannot tell which interface to fence"; fi
  rules_v4 "$ifc" "$node"
  rules_v6 "$ifc"
  jumps
  blackhole_up
  echo "$ifc" > "$STATE/fence.iface"
  log "fence up on $ifc ($node): private ranges rejected, forwarding through $ifc refused, $SERVICE_CIDR and $POD_CIDR_ALL routed to $BLACKHOLE_LINK"
}

# remove_chain CMD TABLE HOOK CHAIN: deletes every jump to CHAIN and CHAIN itself; says so.
remove_chain() {
  local -n cmd=$1
  local removed=0
  while "${cmd[@]}" -t "$2" -D "$3" -j "$4" 2>/dev/null; do removed=1; done
  if "${cmd[@]}" -t "$2" -S "$4" >/dev/null 2>&1; then
    "${cmd[@]}" -t "$2" -F "$4"; "${cmd[@]}" -t "$2" -X "$4"; removed=1
  fi
  [ "$removed" = 1 ] && echo "${cmd[0]} chain $2/$4"
  return 0
}

down() {
  remove_chain IPT filter OUTPUT ELASTI-FENCE-OUT
  remove_chain IPT filter FORWARD ELASTI-FENCE-FWD
  remove_chain IPT filter INPUT ELASTI-FENCE-IN
  remove_chain IPT mangle POSTROUTING ELASTI-BACKSTOP
  remove_chain IP6T filter OUTPUT ELASTI-FENCE-OUT
  remove_chain IP6T filter FORWARD ELASTI-FENCE-FWD
  remove_chain IP6T mangle POSTROUTING ELASTI-BACKSTOP
  if ip link show "$BLACKHOLE_LINK" >/dev/null 2>&1; then
    ip link del "$BLACKHOLE_LINK"   # its routes go with it
    echo "interface $BLACKHOLE_LINK (routes $SERVICE_CIDR, $POD_CIDR_ALL)"
  fi
  rm -f "$STATE/fence.iface"
}

# check: exit 0 when every chain exists, is jumped to first, and the blackhole link is up.
check() {
  local c table chain jump
  for c in "filter OUTPUT ELASTI-FENCE-OUT" "filter FORWARD ELASTI-FENCE-FWD" "filter INPUT ELASTI-FENCE-IN" "mangle POSTROUTING ELASTI-BACKSTOP"; do
    read -r table chain jump <<< "$c"
    [ "$(iptables -w 5 -t "$table" -S "$chain" | sed -n 2p)" = "-A $chain -j $jump" ] || { echo "iptables $table/$chain does not start with -j $jump"; return 1; }
  done
  for c in "filter OUTPUT ELASTI-FENCE-OUT" "filter FORWARD ELASTI-FENCE-FWD" "mangle POSTROUTING ELASTI-BACKSTOP"; do
    read -r table chain jump <<< "$c"
    [ "$(ip6tables -w 5 -t "$table" -S "$chain" | sed -n 2p)" = "-A $chain -j $jump" ] || { echo "ip6tables $table/$chain does not start with -j $jump"; return 1; }
  done
  ip route show "$SERVICE_CIDR" | grep -q "dev $BLACKHOLE_LINK" || { echo "no $SERVICE_CIDR route on $BLACKHOLE_LINK"; return 1; }
}

# watch: keeps our jumps first (kube-proxy re-inserts its own above them on every restart).
watch() {
  while true; do
    if ! check >/dev/null 2>&1; then jumps; blackhole_up; log "fence re-asserted"; fi
    sleep 1
  done
}

mkdir -p "$STATE"
case "${1:-}" in
  up) up ;;
  down) down ;;
  check) check ;;
  watch) watch ;;
  *) echo "usage: $0 up|down|check|watch" >&2; exit 2 ;;
esac
