#!/bin/bash
# tests/fs/t-fsx.sh MODE — the fsx-style random-operation verifier on a real
# mount (MODE: buffered or direct): 100,000 * SLATEFS_TEST_SCALE operations
# on a file of up to 1 MiB, then a pass on a small file (inline data and its
# growth into chunks); the model is saved, and after an unmount, fsck and
# remount the file must still equal it byte for byte. Last, a pass on a
# fresh image with the smallest buffer budget (memory pressure).
test_description="fsx random operations (${1:-buffered})"
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

case "${1:-buffered}" in
buffered) FSX_MODE= ;;
direct) FSX_MODE=-d ;;
*) echo "usage: t-fsx.sh buffered|direct" >&2; exit 2 ;;
esac
FSX=$HELPERS/fsx
OPS=$((100000 * SCALE))

fs_mkfs || exit 1

test_expect_success 'mount' '
	fs_mount
'

test_expect_success "fsx: $OPS operations on a file of up to 1 MiB" '
	"$FSX" $FSX_MODE -N "$OPS" -s "$ML_TMP/big.model" "$MNT/big"
'

test_expect_success "fsx: $((OPS / 5)) operations on a small file (inline and back)" '
	"$FSX" $FSX_MODE -N "$((OPS / 5))" -l 9000 -s "$ML_TMP/small.model" "$MNT/small"
'

test_expect_success 'the files equal the models after unmount, fsck and remount' '
	fs_umount &&
	fs_fsck &&
	fs_mount &&
	cmp "$ML_TMP/big.model" "$MNT/big" &&
	cmp "$ML_TMP/small.model" "$MNT/small" &&
	fs_umount &&
	fs_fsck
'

# Small scattered writes start sparse chunk buffers (4 KiB pages); with the
# smallest buffer budget and 256 KiB chunks, a file of 12 MiB passes the
# budget often, so flushes under memory pressure, sparse buffers made dense
# and filled from the store, all run among the other operations.
test_expect_success "fsx: $((OPS / 10)) operations on 12 MiB, cache=1M, 256 KiB chunks" '
	fs_mkfs --chunk-size 256k &&
	fs_mount -o cache=1M &&
	"$FSX" $FSX_MODE -N "$((OPS / 10))" -l 12582912 -s "$ML_TMP/press.model" "$MNT/press" &&
	fs_umount &&
	fs_fsck &&
	fs_mount &&
	cmp "$ML_TMP/press.model" "$MNT/press" &&
	fs_umount &&
	fs_fsck
'

test_done
