#!/usr/bin/env bash
# One-time set-up of a pip venv for grasp_pipeline on Debian/Ubuntu (idempotent, seconds when done):
#   apt packages -> .venv -> pinned requirements + ROS 2 wheels -> interfaces -> package.
# Each step leaves a stamp in .venv/ keyed by the hash of its inputs, so re-runs skip finished steps.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="${VENV:-$repo/.venv}"
cd "$repo"

stamp_ok() { [ -f "$venv/.stamp-$1" ] && [ "$(cat "$venv/.stamp-$1")" = "$2" ]; }
stamp_set() { echo "$2" > "$venv/.stamp-$1"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. System packages: libusb for pyrealsense2, cmake + g++ to build interfaces.
apt_pkgs=(libusb-1.0-0 cmake g++ make)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing apt packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. The venv.
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip setuptools wheel
fi
pip=("$venv/bin/pip" install -q --disable-pip-version-check)

# 3. Python requirements (torch pinned to the local CPU build) and the ROS 2 wheels.
h=$(hash_of requirements.txt requirements-ros.txt)
if ! stamp_ok requirements "$h"; then
  echo "bootstrap: installing Python requirements (first run takes a few minutes)"
  "${pip[@]}" -r requirements.txt -r requirements-ros.txt
  stamp_set requirements "$h"
fi

# 4. Interfaces that every ROS distro has but PyPI lacks, built from interfaces/ unless importable
#    (a sourced ROS install provides them): vision_msgs (detections), tf2_msgs (/tf_static),
#    control_msgs (FollowJointTrajectory, GripperCommand). Dependencies first.
for pkg in vision_msgs tf2_msgs control_msgs; do
  h=$(hash_of scripts/build_interfaces.sh $(find "interfaces/$pkg" -type f | sort))
  if ! stamp_ok "$pkg" "$h"; then
    rm -rf "$venv/lib/python3"*/site-packages/"$pkg"
    scripts/build_interfaces.sh "$venv" "$pkg"
    stamp_set "$pkg" "$h"
  fi
done

# 5. The package itself, editable (a path entry, so source edits need no reinstall).
h=$(hash_of setup.py setup.cfg pyproject.toml)
if ! stamp_ok package "$h"; then
  "${pip[@]}" --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
  stamp_set package "$h"
fi
echo "bootstrap: ready ($venv)"
