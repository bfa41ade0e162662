#!/usr/bin/env bash
# make deb: partner-export_<version>_amd64.deb from the release build (make release).
# Depends is computed from the libraries the binary links (dpkg-shlibdeps), never typed by hand.
set -euo pipefail
version=$1
build=$2
root=$build/deb/root
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$build/deb"
mkdir -p "$root"
make --no-print-directory install DESTDIR="$PWD/$root" PREFIX=/usr >/dev/null

# The units in /lib/systemd/system, run from the package's folders; the rest stays under share/.
mkdir -p "$root/lib/systemd/system"
for unit in partner-export.service partner-export.timer; do
  sed -e 's|^WorkingDirectory=.*|WorkingDirectory=/var/lib/partner-export|' \
      -e 's|^Documentation=.*|Documentation=man:partner-export(1)|' \
      "$root/usr/share/partner-export/$unit" > "$root/lib/systemd/system/$unit"
  chmod 0644 "$root/lib/systemd/system/$unit"
  rm "$root/usr/share/partner-export/$unit"
done
# Debian's man pages are compressed.
gzip -9n "$root"/usr/share/man/man1/*.1
mkdir -p "$root/usr/share/doc/partner-export" "$root/usr/share/lintian/overrides"
install -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/partner-export"
install -m 0644 "$here/copyright" "$root/usr/share/doc/partner-export/copyright"
sed "s/@VERSION@/$version/; s/@DATE@/$(date -R -u -d @"$(git log -1 --format=%ct 2>/dev/null || date +%s)")/" "$here/changelog" \
  | gzip -9n > "$root/usr/share/doc/partner-export/changelog.gz"
chmod 0644 "$root/usr/share/doc/partner-export/changelog.gz"

# Depends: the packages that ship the libraries the binary needs, at the versions the build saw.
work=$build/deb/shlibs
mkdir -p "$work/debian"
printf 'Source: partner-export\n\nPackage: partner-export\nArchitecture: any\n' > "$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O "$OLDPWD/$root/usr/bin/partner-export" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@DEPENDS@/$depends/" -e "s/@SIZE@/$size/" "$here/control" > "$root/DEBIAN/control"
for script in postinst postrm; do install -m 0755 "$here/$script" "$root/DEBIAN/$script"; done
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\n' | sort | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"
find "$root" -type d -exec chmod 0755 {} +
out=partner-export_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "deb: $out ($(du -k "$out" | cut -f1) KiB), Depends: $depends"
