#!/usr/bin/env bash
# third_party/kfake is upstream kfake at the version named in
# third_party/kfake/UPSTREAM with the patches in third_party/kfake/patches
# applied, nothing else. This script rebuilds it from those two, checks it
# (--check, run by make lint), or prints how the copy differs from upstream
# (--diff, to write a patch after editing the copy).
#
#   scripts/kfake-patch.sh           rebuild third_party/kfake
#   scripts/kfake-patch.sh --check   fail if the copy is not upstream + patches
#   scripts/kfake-patch.sh --diff    the copy against upstream, as a patch
set -euo pipefail
cd "$(dirname "$0")/.."
dir=third_party/kfake
read -r mod version < "$dir/UPSTREAM"

# The upstream module from the Go module proxy (checked against go.sum's
# database), outside this module so that the replace does not apply.
src=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "$mod@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $src ]] || { echo "kfake-patch: cannot download $mod@$version" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/a" "$work/b"
# What the product builds: the package's Go files (not its tests, not its
# `//go:build none` main.go), go.mod, go.sum and the licence.
for f in "$src"/*; do
	n=$(basename "$f")
	case $n in
	*_test.go | main.go) ;;
	*.go | go.mod | go.sum | LICENSE) cp "$f" "$work/a/" ;;
	esac
done
chmod -R u+w "$work/a"

# Files of this repository's own that live beside the copy.
ours='PATCHES.md UPSTREAM patches'

case ${1:-} in
--diff)
	cp -r "$dir"/. "$work/b/"
	for o in $ours; do rm -rf "${work:?}/b/$o"; done
	(cd "$work" && git diff --no-index --src-prefix= --dst-prefix= a b) || true
	exit 0
	;;
esac

cp -r "$work/a"/. "$work/b/"
for p in "$dir"/patches/*.patch; do
	(cd "$work/b" && git apply -p1 "$OLDPWD/$p") || { echo "kfake-patch: $p does not apply to $mod@$version" >&2; exit 1; }
done
for o in $ours; do cp -r "$dir/$o" "$work/b/"; done

case ${1:-} in
--check)
	if ! diff -r "$work/b" "$dir" >"$work/out"; then
		cat "$work/out" >&2
		echo "kfake-patch: $dir is not $mod@$version with its patches; rebuild it with scripts/kfake-patch.sh" >&2
		exit 1
	fi
	echo "kfake-patch: $dir is $mod@$version with $(ls "$dir"/patches/*.patch | wc -l) patch(es)"
	;;
"")
	rm -rf "$dir"
	cp -r "$work/b" "$dir"
	echo "kfake-patch: rebuilt $dir from $mod@$version and its patches"
	;;
*)
	echo "usage: scripts/kfake-patch.sh [--check|--diff]" >&2
	exit 2
	;;
esac
