#!/usr/bin/env bash
# Raw pointers (Unsafe*Pointer, OpaquePointer) stay in the hand-written files listed below, each
# for the reason its group gives; generated code (Sources/*/Generated) is not counted. A new
# file that needs one fails this check until it is added here with its reason, and a listed file
# that no longer uses any fails it too, so the list only shrinks by being edited. Views handed
# to callers are non-escapable instead (scripts/check_views.sh, docs/ARCHITECTURE.md).
set -euo pipefail
cd "$(dirname "$0")/.."

ALLOWED=(
    # io_uring: the rings, the provided buffers and every submission
    Sources/Gateway/Engine/URing.swift
    # The C library: system calls, epoll, the memory the kernel reads and writes
    # (`KernelBuffer`, which the loops see only as spans) and OpenSSL's allocator
    Sources/Gateway/Engine/Syscalls.swift
    # OpenSSL: the agent listener's TLS (context, BIOs, sessions) and the CA
    Sources/GatewayCore/TLS/OpenSSL.swift
    Sources/Fleet/Identity/CertificateAuthority.swift
    # zlib (one stream wrapper for gzip and permessage-deflate)
    Sources/GatewayCore/Connection/ZStream.swift
    # SQLite and libpq
    Sources/Fleet/Store/SQLiteStore+Plumbing.swift
    Sources/Fleet/Store/PostgresStore+Plumbing.swift
    # Core reads its input through RawSpan; bulk copies and comparisons of those spans open them
    Sources/Core/Wire/BorrowedBytes.swift
)

# Named pointer types, the calls that hand out a pointer without naming its type, and spans
# made from one.
PATTERN='Unsafe(Mutable)?(Raw)?(Buffer)?Pointer|OpaquePointer|withUnsafe|_unsafe[A-Z]|baseAddress|assumingMemoryBound|bindMemory|withMemoryRebound|\.pointee|Unmanaged|\.allocate\(|deallocate\('
mapfile -t USING < <(git ls-files 'Sources/*.swift' | grep -v '/Generated/' | xargs grep -lE "$PATTERN" | sort)
mapfile -t LISTED < <(printf '%s\n' "${ALLOWED[@]}" | sort)

unlisted=$(comm -23 <(printf '%s\n' "${USING[@]}") <(printf '%s\n' "${LISTED[@]}"))
stale=$(comm -13 <(printf '%s\n' "${USING[@]}") <(printf '%s\n' "${LISTED[@]}"))
status=0
if [[ -n $unlisted ]]; then
    echo "check_raw_pointers: raw pointers in files not on the list (use a span or a view, or list the file with its reason):" >&2
    echo "$unlisted" | sed 's/^/  /' >&2
    status=1
fi
if [[ -n $stale ]]; then
    echo "check_raw_pointers: listed files that no longer use raw pointers (take them off the list):" >&2
    echo "$stale" | sed 's/^/  /' >&2
    status=1
fi
((status == 0)) && echo "check_raw_pointers: raw pointers in ${#USING[@]} hand-written files, all listed"
exit $status
