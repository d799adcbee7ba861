import CLibURing
import COpenSSL
import CZlib

/// The gateway module's namespace: what it links, for `ampora version` and bug reports.
public enum Gateway {
    /// Versions of the C libraries the gateway links, for `--version` output and bug reports.
    public static var linkedLibraries: [(name: String, version: String)] {
        [
            ("liburing", "io_uring SQE \(MemoryLayout<io_uring_sqe>.size) bytes"),
            ("openssl", String(cString: OpenSSL_version(Int32(OPENSSL_VERSION)))),
            ("zlib", String(cString: zlibVersion())),
        ]
    }
}
