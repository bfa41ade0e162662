#!/usr/bin/env bash
# make test (last part): `make install`, `make uninstall` and `make deb` as an operator would use them,
# checked from the outside - the installed binary runs without a Swift toolchain's libraries, its man
# pages render, its completion scripts load, the package's Depends is computed and lintian finds no
# error; as root, the package is installed, removed and purged for real (the ledger survives both).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d /tmp/partner-export-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@" >"$tmp/out" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/       /' "$tmp/out" | head -20; fi; }

version=$(cat VERSION)
echo "install: make install DESTDIR=$tmp/root PREFIX=/usr/local"
make --no-print-directory install DESTDIR="$tmp/root" PREFIX=/usr/local > "$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; exit 1; }
bin=$tmp/root/usr/local/bin/partner-export
check "the binary is installed, executable" test -x "$bin"
"$bin" --version > "$tmp/version" 2>&1 || true
check "--version names the version ($version)" grep -q "^$version (commit " "$tmp/version"
check "--version names the commit it was built from" grep -Eq "commit [0-9a-f]{12}(-modified)?;" "$tmp/version"
check "validate accepts the example configuration" "$bin" validate --config .
check "no Swift runtime library is linked dynamically" bash -c "! ldd '$bin' | grep -Ei 'libswift|libFoundation|libdispatch|libBlocksRuntime'"
check "the binary is stripped" bash -c "file '$bin' | grep -q 'stripped' && ! file '$bin' | grep -q 'not stripped'"
for page in partner-export partner-export.run partner-export.audit.verify partner-export.disclosures; do
  check "man -l renders $page.1" bash -c "MANWIDTH=80 man -l '$tmp/root/usr/local/share/man/man1/$page.1' 2>/dev/null | grep -q 'partner-export'"
done
check "bash loads the completion script" bash -n "$tmp/root/usr/local/share/bash-completion/completions/partner-export"
check "the bash completion completes 'run'" bash -c "source '$tmp/root/usr/local/share/bash-completion/completions/partner-export'; complete -p partner-export"
if command -v zsh >/dev/null; then check "zsh loads the completion script" zsh -n "$tmp/root/usr/local/share/zsh/site-functions/_partner-export"
else echo "  skip zsh is not installed"; fi
if command -v fish >/dev/null; then check "fish loads the completion script" fish -n "$tmp/root/usr/local/share/fish/vendor_completions.d/partner-export.fish"
else echo "  skip fish is not installed"; fi
check "the units run the installed binary" grep -q "^ExecStart=/usr/local/bin/partner-export run --due" "$tmp/root/usr/local/share/partner-export/partner-export.service"
check "the environment template holds no secret value" bash -c "! grep -Eq '^[A-Z_]*(TOKEN|KEY|PASSWORD|SECRET)[A-Z_]*=.' '$tmp/root/usr/local/share/partner-export/partner-export.env'"
make --no-print-directory uninstall DESTDIR="$tmp/root" PREFIX=/usr/local > "$tmp/make.log" 2>&1
check "make uninstall leaves no file behind" bash -c "[ -z \"\$(find '$tmp/root' -type f)\" ]"

echo "install: make deb"
make --no-print-directory deb > "$tmp/deb.log" 2>&1 || { cat "$tmp/deb.log"; exit 1; }
cat "$tmp/deb.log" | grep '^deb:' || true
deb=partner-export_${version}_amd64.deb
check "the package exists" test -s "$deb"
dpkg-deb -I "$deb" > "$tmp/info"
check "Depends is computed (libcurl, libxml2, libsqlite3, libpq, libssl)" bash -c \
  "grep '^ Depends:' '$tmp/info' | grep -q libcurl4 && grep '^ Depends:' '$tmp/info' | grep -q libxml2 && grep '^ Depends:' '$tmp/info' | grep -q libsqlite3 && grep '^ Depends:' '$tmp/info' | grep -q libpq5 && grep '^ Depends:' '$tmp/info' | grep -q libssl3"
check "Depends names no Swift toolchain library" bash -c "! grep '^ Depends:' '$tmp/info' | grep -qi swift"
dpkg-deb -c "$deb" | awk '{print $6}' > "$tmp/contents"
for f in ./usr/bin/partner-export ./lib/systemd/system/partner-export.service ./lib/systemd/system/partner-export.timer \
         ./usr/share/man/man1/partner-export.1.gz ./usr/share/man/man1/partner-export.run.1.gz \
         ./usr/share/bash-completion/completions/partner-export ./usr/share/zsh/site-functions/_partner-export \
         ./usr/share/fish/vendor_completions.d/partner-export.fish ./usr/share/partner-export/partner-export.env \
         ./usr/share/doc/partner-export/copyright; do
  check "the package holds $f" grep -qx "$f" "$tmp/contents"
done
check "the package's unit runs /usr/bin/partner-export" bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./lib/systemd/system/partner-export.service | grep -q '^ExecStart=/usr/bin/partner-export '"
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 "$deb" > "$tmp/lintian" 2>&1 || true
  sed 's/^/       lintian: /' "$tmp/lintian"
  check "lintian reports no error" bash -c "! grep -q '^E:' '$tmp/lintian'"
else
  fail "lintian is not installed (make deps installs it)"
fi
dpkg-deb -x "$deb" "$tmp/extracted"
check "the package's binary runs" bash -c "'$tmp/extracted/usr/bin/partner-export' --version | grep -q '^$version '"

# As root on a machine where it is not installed yet: install, remove and purge it for real.
if [ "$(id -u)" = 0 ] && ! dpkg -s partner-export >/dev/null 2>&1 && [ ! -e /var/lib/partner-export ]; then
  echo "install: dpkg -i, -r, --purge (as root)"
  check "dpkg -i installs it" dpkg -i "$deb"
  check "a partner-export system user exists" getent passwd partner-export
  check "/var/lib/partner-export is 0700, the user's" bash -c "[ \"\$(stat -c '%a %U' /var/lib/partner-export)\" = '700 partner-export' ]"
  check "/etc/partner-export/env is 0640 root:partner-export" bash -c "[ \"\$(stat -c '%a %U:%G' /etc/partner-export/env)\" = '640 root:partner-export' ]"
  echo "PARTNER_EXPORT_TEST=kept" >> /etc/partner-export/env
  echo "ledger" > /var/lib/partner-export/ledger.sqlite
  check "installing again (an upgrade) keeps the environment file" bash -c "dpkg -i '$deb' && grep -q PARTNER_EXPORT_TEST=kept /etc/partner-export/env"
  check "dpkg -r removes the binary" bash -c "dpkg -r partner-export && [ ! -e /usr/bin/partner-export ]"
  check "removing keeps the ledger and the environment file" test -f /var/lib/partner-export/ledger.sqlite -a -f /etc/partner-export/env
  dpkg --purge partner-export > "$tmp/purge" 2>&1 || true
  check "purging says what it deletes and what it keeps" bash -c "grep -q 'deletes /etc/partner-export/env' '$tmp/purge' && grep -q 'is kept' '$tmp/purge'"
  check "purging keeps the ledger" test -f /var/lib/partner-export/ledger.sqlite
  check "purging deletes the environment file" test ! -e /etc/partner-export/env
  rm -rf /var/lib/partner-export
  userdel partner-export 2>/dev/null || true
  groupdel partner-export 2>/dev/null || true
else
  echo "  skip dpkg -i/-r/--purge (needs root and no installed partner-export)"
fi
rm -f "$deb"

if [ "$failures" -gt 0 ]; then echo "install: $failures check(s) failed"; exit 1; fi
echo "install: every check passed"
