#!/bin/bash
# mount-helpers/install.sh — installs dofs system-wide:
#   PREFIX/bin/dofs                       the release binary (Swift runtime linked in statically)
#   SBINDIR/mount.dofs                    the mount(8) helper (mount -t dofs, fstab, .mount units)
#   SYSTEMD_DIR/dofs-node.service         the host's node, which mount units attach to
#   SYSTEMD_DIR/dofs@.service             the per-mount-point service template (a node per mount)
#   PREFIX/share/doc/dofs/                README, example mnt-dofs.mount and catalog
#   /etc/dofs/catalog.example.json        example catalog (never overwrites)
#   /var/cache/dofs                       default piece cache directory
#
# usage: mount-helpers/install.sh [--prefix DIR] [--sbindir DIR] [--systemd-dir DIR]
#                                 [--destdir DIR] [--bin PATH] [--no-static] [--uninstall]
#   --bin PATH    install this dofs binary instead of building one
#   --no-static   build without --static-swift-stdlib (the binary then needs the
#                 Swift runtime of the build machine at run time)
#   --destdir DIR stage into DIR (for packaging); no systemctl calls
# Environment: DOFS_SCRATCH_PATH (swift build --scratch-path), DOFS_BIN (= --bin).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

prefix=/usr/local sbindir=/sbin systemd_dir=/etc/systemd/system destdir="" static=1 uninstall=0
bin="${DOFS_BIN:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)      prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --sbindir)     sbindir="${2:?--sbindir needs a directory}"; shift 2 ;;
        --systemd-dir) systemd_dir="${2:?--systemd-dir needs a directory}"; shift 2 ;;
        --destdir)     destdir="${2:?--destdir needs a directory}"; shift 2 ;;
        --bin)         bin="${2:?--bin needs a path}"; shift 2 ;;
        --no-static)   static=0; shift ;;
        --uninstall)   uninstall=1; shift ;;
        -h|--help)     usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

bindir="$prefix/bin"
docdir="$prefix/share/doc/dofs"
D="$destdir"

systemd_running() { [ -z "$D" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

if [ "$uninstall" = 1 ]; then
    log "removing dofs from $D$bindir, $D$sbindir, $D$systemd_dir, $D$docdir"
    rm -f "$D$bindir/dofs" "$D$sbindir/mount.dofs" "$D$systemd_dir/dofs@.service" "$D$systemd_dir/dofs-node.service"
    rm -rf "$D$docdir" "$D$prefix/share/dofs"
    systemd_running && systemctl daemon-reload
    note "left in place: /etc/dofs and /var/cache/dofs (remove them by hand if you want)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] && [ -z "$D" ]; then
    die "run as root (or use --destdir to stage the files somewhere you can write)"
fi

# ---- the binary
if [ -z "$bin" ]; then
    ensure_system_packages "${DOFS_SYSTEM_PACKAGES[@]}"
    ensure_swift
    mapfile -t scratch < <(swift_scratch_args)
    flags=(-c release --product dofs)
    [ "$static" = 1 ] && flags+=(--static-swift-stdlib)
    log "building: swift build ${flags[*]} ${scratch[*]}"
    (cd "$DOFS_ROOT" && swift build "${flags[@]}" "${scratch[@]}") || die "swift build failed"
    bin="$(cd "$DOFS_ROOT" && swift build -c release --show-bin-path "${scratch[@]}")/dofs"
fi
[ -x "$bin" ] || die "no dofs binary at $bin"
libs="$(ldd "$bin" 2>/dev/null || true)"
if [[ "$libs" == *libswiftCore* ]]; then
    warn "$bin links the Swift runtime dynamically; it will only run where that runtime is (build without --no-static to avoid this)"
fi

# ---- files
log "installing into ${D:-/}"
install -D -m755 "$bin" "$D$bindir/dofs"
note "$D$bindir/dofs"
install -d -m755 "$D$sbindir"
sed "s|^DEFAULT_DOFS_BIN=.*|DEFAULT_DOFS_BIN=$bindir/dofs|" "$HERE/mount.dofs" >"$D$sbindir/mount.dofs"
chmod 755 "$D$sbindir/mount.dofs"
note "$D$sbindir/mount.dofs"
install -d -m755 "$D$systemd_dir"
for unit in dofs-node.service dofs@.service; do
    sed "s|/usr/local/bin/dofs|$bindir/dofs|g; s|/usr/local/share/doc/dofs|$docdir|g" \
        "$HERE/systemd/$unit" >"$D$systemd_dir/$unit"
    chmod 644 "$D$systemd_dir/$unit"
    note "$D$systemd_dir/$unit"
done
install -D -m644 "$HERE/README.md" "$D$docdir/README.md"
install -D -m644 "$HERE/systemd/mnt-dofs.mount" "$D$docdir/examples/mnt-dofs.mount"
install -D -m644 "$HERE/catalog.example.json" "$D$docdir/examples/catalog.example.json"
note "$D$docdir/"
# The cache node's nginx template, where `dofs cache-server` looks for it (PREFIX/share/dofs/).
install -D -m644 "$HERE/cache-server/nginx.conf.template" "$D$prefix/share/dofs/cache-server/nginx.conf.template"
install -D -m644 "$HERE/cache-server/dofs-cache-server.service" "$D$docdir/examples/dofs-cache-server.service"
note "$D$prefix/share/dofs/cache-server/nginx.conf.template"
install -d -m755 "$D/etc/dofs" "$D/var/cache/dofs"
if [ ! -e "$D/etc/dofs/catalog.example.json" ]; then
    install -m644 "$HERE/catalog.example.json" "$D/etc/dofs/catalog.example.json"
    note "$D/etc/dofs/catalog.example.json"
fi
systemd_running && systemctl daemon-reload

cat <<EOF

dofs installed. Next steps:
  1. write a catalog to /etc/dofs/catalog.json (see /etc/dofs/catalog.example.json;
     \`dofs publish FILE --url URL --phf-out FILE.phf\` prints what goes in it)
  2. start the node (settings: DOFS_NODE_OPTS in /etc/dofs/node.env):
       systemctl enable --now dofs-node.service
  3. mount it one of three ways (each attaches to the node):
       mount -t dofs /etc/dofs/catalog.json /mnt/dofs -o read_deadline=60
       fstab: /etc/dofs/catalog.json /mnt/dofs dofs _netdev,nofail,x-systemd.requires=dofs-node.service 0 0
       a .mount unit: see $docdir/examples/mnt-dofs.mount
  See $docdir/README.md.
EOF
