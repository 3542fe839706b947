# Shared by the install scripts (sourced, not run): Debian packages for the real servers
# the tests start.

# Exits with `need` and `how` on stderr unless this runs as root on a machine with apt-get.
require_root_apt() {
  local need="$1" how="$2"
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$need" >&2
    echo "$how" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
}

# Installs Debian packages, refreshing the package lists once if a package is not known yet.
apt_install() {
  if ! apt-get install -y -qq "$@" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
  fi
}
