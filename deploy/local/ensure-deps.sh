#!/usr/bin/env bash
# Install the system packages callfocus' demo and tests need, when missing.
#   ensure-deps.sh kafka       java + mvn (to fetch and run Apache Kafka)
#   ensure-deps.sh prometheus  prometheus + promtool (Debian's prometheus package)
#   ensure-deps.sh alertmanager  prometheus-alertmanager + amtool
#   ensure-deps.sh chromium    Debian's chromium (browser tests of the console)
# Uses apt-get (Debian); prints one clear line and fails when it cannot.
set -euo pipefail

declare -A package_of=(
  [java]=openjdk-17-jre-headless
  [mvn]=maven
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [chromium]=chromium
)

missing=()
for what in "$@"; do
  case "$what" in
    kafka) cmds=(java mvn) ;;
    prometheus) cmds=(prometheus promtool) ;;
    alertmanager) cmds=(prometheus-alertmanager amtool) ;;
    chromium) cmds=(chromium) ;;
    *) echo "ensure-deps: unknown group '$what'" >&2; exit 2 ;;
  esac
  for cmd in "${cmds[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${package_of[$cmd]}")
  done
done
# one package may provide several commands
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-deps: missing ${missing[*]} and no apt-get here: install them with your package manager" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "ensure-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "ensure-deps: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
# packaged services (prometheus.service) are not started: tests and the demo run their own
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "ensure-deps: apt-get could not install ${missing[*]}" >&2
  exit 1
fi
rm -f "$log"
