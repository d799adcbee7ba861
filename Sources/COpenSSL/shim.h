#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

// Macros of OpenSSL's API, which Swift does not import, as functions.
static inline long ampora_ssl_ctx_set_min_proto(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long ampora_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long ampora_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline int ampora_tls1_2_version(void) { return TLS1_2_VERSION; }
static inline int ampora_tls1_3_version(void) { return TLS1_3_VERSION; }
static inline long ampora_mode_release_buffers(void) { return SSL_MODE_RELEASE_BUFFERS; }
static inline long ampora_mode_partial_write(void) { return SSL_MODE_ENABLE_PARTIAL_WRITE; }
static inline uint64_t ampora_op_no_renegotiation(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t ampora_op_cipher_server_preference(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline long ampora_ssl_ctx_set_max_proto(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}
