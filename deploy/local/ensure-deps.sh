#!/usr/bin/env bash
# Install the system packages callfocus' demo and tests need, when missing.
#   ensure-deps.sh kafka       java + mvn (to fetch and run Apache Kafka)
# Uses apt-get (Debian); prints one clear line and fails when it cannot.
set -euo pipefail

declare -A package_of=(
  [java]=openjdk-17-jre-headless
  [mvn]=maven
)

missing=()
for what in "$@"; do
  case "$what" in
    kafka) for cmd in java mvn; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${package_of[$cmd]}"); done ;;
    *) echo "ensure-deps: unknown group '$what'" >&2; exit 2 ;;
  esac
done
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
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
