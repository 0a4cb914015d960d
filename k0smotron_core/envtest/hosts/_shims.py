"""The programs a simulated host has in /usr/local/bin in place of the real ones: `curl` (offline, but serving the
get.k0s.sh installer of the simulated k0s) and `systemctl` (the k0s units only, mapped onto the simulated k0s).

Both are POSIX sh, so that they cost no Python start-up; only the k0s they install or start is Python.
"""

from __future__ import annotations

import re

SIM_MODULE = "k0smotron_core.envtest.hosts.k0s"
DEFAULT_K0S_VERSION = "v1.33.1+k0s.0"
"""What get.k0s.sh installs without K0S_VERSION (the real one asks docs.k0sproject.io/stable.txt)."""
GET_K0S_HOST = "get.k0s.sh"

# The interpreter's path is spliced into shell text (an unquoted here-document among others): keep it plain.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+-]*$")


def _checked_python(python: str) -> str:
    if not _SAFE_PATH.match(python):
        raise ValueError(f"the interpreter path {python!r} has characters a shell would interpret")
    return python


def k0s_installer(python: str) -> str:
    """The script https://get.k0s.sh serves: writes `$K0S_INSTALL_PATH/k0s` (default /usr/local/bin), a wrapper
    that runs the simulated k0s with `K0S_VERSION` (default DEFAULT_K0S_VERSION) baked in."""
    python = _checked_python(python)
    return f"""#!/bin/sh
# get.k0s.sh as served to a simulated host: installs the simulated k0s ({SIM_MODULE}).
set -e

if [ -n "${{DEBUG}}" ]; then
  set -x
fi

k0sInstallPath="${{K0S_INSTALL_PATH:-/usr/local/bin}}"
k0sVersion="${{K0S_VERSION:-{DEFAULT_K0S_VERSION}}}"
k0sDownloadUrl="https://github.com/k0sproject/k0s/releases/download/$k0sVersion/k0s-$k0sVersion-amd64"

# A version the releases do not have is a 404 for the real script's `curl -sSLf`.
case "$k0sVersion" in
  *[!A-Za-z0-9.+-]*) echo "curl: (22) The requested URL returned error: 404" >&2; exit 22 ;;
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "curl: (22) The requested URL returned error: 404" >&2; exit 22 ;;
esac

printf "Downloading k0s from URL: %s\\n" "$k0sDownloadUrl"
mkdir -p -- "$k0sInstallPath"
cat > "$k0sInstallPath/k0s.download" <<K0S_WRAPPER_EOF
#!/bin/sh
# k0s $k0sVersion, simulated by {SIM_MODULE}
K0S_SIM_VERSION='$k0sVersion'
K0S_SIM_BINARY="\\$0"
export K0S_SIM_VERSION K0S_SIM_BINARY
exec {python} -m {SIM_MODULE} "\\$@"
K0S_WRAPPER_EOF
chmod 755 "$k0sInstallPath/k0s.download"
mv -f "$k0sInstallPath/k0s.download" "$k0sInstallPath/k0s"
printf "k0s is now executable in %s\\n" "$k0sInstallPath"
"""


def curl_shim(python: str) -> str:
    """`curl` without network: get.k0s.sh answers with `k0s_installer`, any other host does not resolve
    (exit 6, `curl: (6) Could not resolve host: <host>`, unless -s without -S)."""
    installer = k0s_installer(python)
    if "K0S_INSTALLER_EOF" in installer:
        raise ValueError("installer text collides with its here-document delimiter")
    return f"""#!/bin/sh
# curl on a simulated host, which has no Internet access: {GET_K0S_HOST} serves the simulated k0s installer,
# every other host fails to resolve, as an offline curl does.
silent=0
show_error=0
output=""
url=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o|--output) output="$2"; shift 2; continue ;;
    --output=*) output="${{1#--output=}}" ;;
    --silent) silent=1 ;;
    --show-error) show_error=1 ;;
    --url) url="$2"; shift 2; continue ;;
    -H|--header|-X|--request|-d|--data|--data-raw|--data-binary|--data-urlencode|-u|--user|-A|--user-agent|\\
    -e|--referer|-w|--write-out|--cacert|--capath|-E|--cert|--key|-T|--upload-file|-x|--proxy|-r|--range|\\
    -b|--cookie|-c|--cookie-jar|-F|--form|--resolve|--interface|-K|--config|-m|--max-time|--connect-timeout|\\
    --retry|--retry-delay|--retry-max-time|--max-redirs|-z|--time-cond|-D|--dump-header|--limit-rate|\\
    -Y|--speed-limit|-y|--speed-time|--stderr|--trace|--trace-ascii|--noproxy|--oauth2-bearer|-P|--ftp-port)
      shift 2; continue ;;
    --*) ;;
    -?*)
      flags="${{1#-}}"
      case "$flags" in *s*) silent=1 ;; esac
      case "$flags" in *S*) show_error=1 ;; esac
      case "$flags" in *o) output="$2"; shift 2; continue ;; esac
      ;;
    *) url="$1" ;;
  esac
  shift
done

if [ -z "$url" ]; then
  echo "curl: no URL specified!" >&2
  echo "curl: try 'curl --help' or 'curl --manual' for more information" >&2
  exit 2
fi

rest="${{url#*://}}"
host="${{rest%%/*}}"
host="${{host%%\\?*}}"
host="${{host%%#*}}"
host="${{host##*@}}"
host="${{host%:*}}"

case "$host" in
  {GET_K0S_HOST})
    if [ -n "$output" ] && [ "$output" != "-" ]; then
      exec 1> "$output"
    fi
    cat <<'K0S_INSTALLER_EOF'
{installer}K0S_INSTALLER_EOF
    exit 0
    ;;
esac

if [ "$silent" = 0 ] || [ "$show_error" = 1 ]; then
  echo "curl: (6) Could not resolve host: $host" >&2
fi
exit 6
"""


def systemctl_shim(python: str) -> str:
    """`systemctl start|stop|restart|is-active|status|enable|disable|is-enabled k0sworker|k0scontroller` on the
    simulated k0s: the unit file `k0s install` wrote names the k0s binary (ExecStart), which is run with
    `start`/`stop`/`status`. Other units are not found, as on a machine without them."""
    python = _checked_python(python)
    return f"""#!/bin/sh
# systemctl on a simulated host: only the k0s units exist; they run the simulated k0s.
root="${{K0S_SIM_ROOT:-/}}"
root="${{root%/}}"
verb=""
units=""
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) if [ -z "$verb" ]; then verb="$arg"; else units="$units $arg"; fi ;;
  esac
done

case "$verb" in
  "") exit 0 ;;
  daemon-reload|daemon-reexec|reset-failed) exit 0 ;;
  start|stop|restart|try-restart|reload-or-restart|is-active|status|enable|disable|is-enabled) ;;
  *) echo "Unknown command verb '$verb'." >&2; exit 1 ;;
esac

if [ -z "$units" ]; then
  echo "Too few arguments." >&2
  exit 1
fi

k0s() {{
  if [ -x "$root$binary" ]; then
    "$root$binary" "$@"
  else
    {python} -m {SIM_MODULE} "$@"
  fi
}}

status=0
for unit in $units; do
  name="${{unit%.service}}"
  unitfile="$root/etc/systemd/system/$name.service"
  binary=""
  if [ -f "$unitfile" ]; then
    case "$name" in
      k0sworker|k0scontroller) binary="$(sed -n 's/^ExecStart=\\([^ ]*\\).*/\\1/p' "$unitfile" | head -n 1)" ;;
    esac
  fi
  if [ -z "$binary" ]; then
    case "$verb" in
      start|restart|try-restart|reload-or-restart)
        echo "Failed to $verb $name.service: Unit $name.service not found." >&2; status=5 ;;
      stop) echo "Failed to stop $name.service: Unit $name.service not loaded." >&2; status=5 ;;
      is-active) echo "inactive"; [ "$status" = 0 ] && status=3 ;;
      status) echo "Unit $name.service could not be found." >&2; status=4 ;;
      enable|disable) echo "Failed to $verb unit: Unit file $name.service does not exist." >&2; status=1 ;;
      is-enabled)
        echo "Failed to get unit file state for $name.service: No such file or directory" >&2; status=1 ;;
    esac
    continue
  fi
  case "$verb" in
    start|restart|try-restart|reload-or-restart)
      if [ "$verb" != start ]; then
        k0s stop >/dev/null 2>&1 || true
      fi
      if ! k0s start; then
        echo "Job for $name.service failed because the control process exited with error code." >&2
        echo "See \\"systemctl status $name.service\\" and \\"journalctl -xeu $name.service\\" for details." >&2
        status=1
      fi
      ;;
    stop) k0s stop >/dev/null || status=1 ;;
    is-active)
      if k0s status >/dev/null 2>&1; then echo "active"; else echo "inactive"; [ "$status" = 0 ] && status=3; fi ;;
    status)
      echo "* $name.service - k0s - Zero Friction Kubernetes"
      echo "     Loaded: loaded ($unitfile; enabled; preset: enabled)"
      if k0s status >/dev/null 2>&1; then
        echo "     Active: active (running)"
      else
        echo "     Active: inactive (dead)"
        status=3
      fi
      ;;
    enable|disable) ;;
    is-enabled) echo "enabled" ;;
  esac
done
exit $status
"""
