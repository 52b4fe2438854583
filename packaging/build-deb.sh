#!/usr/bin/env bash
# Builds the Debian package: a release build, the man pages and shell completions generated
# from the binary's own clap definitions (its hidden `generate-assets` subcommand), then
# `cargo deb --no-build` (metadata and assets: [package.metadata.deb] in Cargo.toml).
#
#   bash packaging/build-deb.sh            → $TARGET/debian/pg-replication-exporter_<version>-1_<arch>.deb
#   UPGRADE_TEST_DEB=1 bash packaging/build-deb.sh
#                                          → also $TARGET/debian/upgrade-test/…_<version>-2_<arch>.deb,
#                                            the same files under a higher revision, which
#                                            tests/e2e_package.rs installs over the first
# $TARGET is $CARGO_TARGET_DIR, default target/. Needs cargo-deb (scripts/deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo deb --version >/dev/null 2>&1 || {
    echo "build-deb: cargo-deb not found: cargo install cargo-deb --locked (scripts/deps.sh does)" >&2
    exit 1
}
cargo build --release --locked --bin pg_replication_exporter
generated=$target/release/generated
rm -rf "$generated"
"$target/release/pg_replication_exporter" generate-assets --out-dir "$generated"
# Debian wants man pages gzipped; cargo-deb compresses only assets that are not under
# target/release/, so this does it (-n: no timestamp, the same bytes on every build).
gzip -9n "$generated"/man/*.1
rm -rf "$target/debian"
# cargo-deb removes the package's other .deb files in target/debian when it writes one: the
# upgrade copy is made first, in a directory of its own.
if [ -n "${UPGRADE_TEST_DEB:-}" ]; then
    cargo deb --no-build --locked --deb-revision 2 --output "$target/debian/upgrade-test/"
fi
cargo deb --no-build --locked
ls -l "$target"/debian/*.deb "$target"/debian/upgrade-test/*.deb 2>/dev/null || true
