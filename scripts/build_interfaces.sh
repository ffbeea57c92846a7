#!/usr/bin/env bash
# Build one interface package of interfaces/ (vision_msgs, tf2_msgs, control_msgs) into a pip venv
# holding the ROS 2 wheels. These packages are in every ROS distro but not on PyPI.
# Usage: scripts/build_interfaces.sh VENV_DIR PACKAGE
# Does nothing when `import PACKAGE.msg` already works (a ROS install provides the real package).
set -euo pipefail
venv=$(cd "${1:?usage: $0 VENV_DIR PACKAGE}" && pwd)
pkg=${2:?usage: $0 VENV_DIR PACKAGE}
repo=$(cd "$(dirname "$0")/.." && pwd)
py="$venv/bin/python"

src="$repo/interfaces/$pkg"
[ -f "$src/package.xml" ] || { echo "build_interfaces: no interface package $src" >&2; exit 2; }
if "$py" -c "import $pkg.msg" 2>/dev/null; then
  echo "$pkg: already importable, nothing to build"
  exit 0
fi

# The ROS wheels' exported cmake files carry the include paths of the machine that built them;
# point them at this venv's Python and numpy headers.
py_inc=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
np_inc=$("$py" -c "import numpy; print(numpy.get_include())")
{ grep -rlZ --include='*.cmake' '/opt/python/cp311-cp311' "$venv/share" 2>/dev/null || true; } \
  | xargs -0 -r sed -i \
      -e "s|/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include|$np_inc|g" \
      -e "s|/opt/python/cp311-cp311/include/python3.11|$py_inc|g"

build=$(mktemp -d "/tmp/${pkg}_build.XXXXXX")
trap 'rm -rf "$build"' EXIT
export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PATH="$venv/bin:$PATH"
echo "$pkg: building from $src into $venv"
cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" \
  -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release > "$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j2 > "$build/build.log" 2>&1 || { tail -50 "$build/build.log"; exit 1; }
cmake --install "$build" > /dev/null
"$py" -c "import $pkg.msg; print('$pkg: built and importable')"
