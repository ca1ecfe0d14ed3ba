# apt_install PKG...: install the Debian packages of the list that are missing (sourced by the
# tools that need system packages; quick when everything is there).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    if [ ! -f /tmp/.twin-apt-updated ]; then
      "${sudo[@]}" apt-get update -qq && touch /tmp/.twin-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# apt_install_postgis: PostgreSQL's server and the PostGIS extension built for its version.
apt_install_postgis() {
  apt_install postgresql
  local version
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  apt_install "postgresql-${version}-postgis-3"
}
