#!/usr/bin/env bash
# Installs what Postern's build, run and tests need on Debian, and nothing
# that is already there. Safe to run again. Needs root (or sudo) for apt.
set -euo pipefail

APT_PACKAGES=(
  libldns-dev ldnsutils        # DNS (CLDNS), drill for debugging
  libclamav-dev                # in-process ClamAV
  clamav                       # clamscan, to check the test signatures by hand
  clamav-daemon                # clamd: the network virus scanner the tests and benches start
  clamav-milter                # the Postfix side of the virus-scanning accept benchmark
  spamassassin                 # rules (GTUBE and the rest) for spamd
  spamc                        # spamc, to talk to spamd by hand
  spamd                        # spamd: a separate package on bookworm
  rspamd                       # the rspamd scanner the tests start (no Redis, no network)
  libcrypt-dev                 # crypt(3) for SMTP AUTH passwords
  openssl                      # test certificates
  swaks libnet-ssleay-perl     # test client (Net::SSLeay for swaks --tls)
  postfix                      # smtp-source / smtp-sink, and the benchmark peer
  dnsmasq-base                 # loopback DNS for tests
  haproxy                      # the load balancer in front of Postern in the PROXY protocol tests
  procps psmisc                # ps, pkill, fuser used by the test harness
  prometheus                   # promtool: checks the /metrics scrape and the alert rules
  systemd strace               # systemd-analyze and strace check deploy/postern.service
  curl fetchmail               # POP3 clients of the integration tests (pop3://, pop3s://)
  dovecot-pop3d                # Dovecot's pop3d, the reference the POP3 answers are compared with
  python3 python3-pip
  dovecot-imapd                # Dovecot's imapd: the mail client tests compare Postern's IMAP with it
  isync mutt                   # IMAP clients of the mail client tests (mbsync, mutt)
  publicsuffix                 # the Public Suffix List DMARC reads (organisational domains)
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  # Postfix must not ask questions or configure itself as a system MTA.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The scanner packages ship system services (clamd, freshclam, spamd, rspamd,
# clamav-milter), dovecot-core one on ports 110 and 143, haproxy one more. The
# tests start their own copies on loopback with private configs; the system
# ones must not run: freshclam and rspamd would reach the network, and the
# daemons would hold the default sockets. In a container policy-rc.d usually
# stops them from starting; on a machine with systemd, stop and disable them
# (harmless when they are not there or not running).
SCANNER_UNITS=(clamav-daemon.socket clamav-daemon.service clamav-freshclam.service clamav-milter.service
               spamd.service spamassassin.service rspamd.service dovecot.service dovecot.socket haproxy.service)
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  for unit in "${SCANNER_UNITS[@]}"; do
    if systemctl list-unit-files "$unit" 2>/dev/null | grep -q "^$unit"; then
      if systemctl is-active --quiet "$unit" || systemctl is-enabled --quiet "$unit" 2>/dev/null; then
        echo "deps: stopping and disabling the system $unit service (the tests run their own)"
        $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
      fi
    fi
  done
fi

# Python modules for the integration tests and the SPF conformance runner.
# dkimpy and PyNaCl (its Ed25519): the independent DKIM verifier of test_dkim.py.
PY_MODULES=(pytest dnslib yaml aiosmtpd dkim nacl)
PY_PIP=(pytest dnslib pyyaml aiosmtpd dkimpy pynacl)
PY_APT=(python3-pytest python3-dnslib python3-yaml python3-aiosmtpd python3-dkim python3-nacl)
need_py=0
for module in "${PY_MODULES[@]}"; do
  python3 -c "import $module" 2>/dev/null || need_py=1
done
if [ $need_py -eq 1 ]; then
  echo "deps: installing Python modules"
  if ! python3 -m pip install --quiet --disable-pip-version-check "${PY_PIP[@]}" 2>/dev/null; then
    # Debian's system Python refuses pip (PEP 668): use its packages.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PY_APT[@]}" >/dev/null
  fi
fi

command -v swift >/dev/null || { echo "deps: Swift 6 toolchain not found on PATH (https://www.swift.org/install/linux/)" >&2; exit 1; }
