import CLibURing
import COpenSSL
import CZlib

/// I/O engine namespace; the io_uring and epoll loops arrive with the Gateway issue.
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
