#include <stdio.h>
#include <string.h>
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

// The certificate authority (Fleet): key generation, X.509 extensions and memory BIOs.
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/rand.h>
#include <openssl/bn.h>

static inline EVP_PKEY *ampora_ec_p256_generate(void) { return EVP_EC_gen("P-256"); }
static inline void ampora_x509v3_set_ctx(X509V3_CTX *ctx, X509 *issuer, X509 *subject, X509_CRL *crl) {
    X509V3_set_ctx_nodb(ctx);
    X509V3_set_ctx(ctx, issuer, subject, NULL, crl, 0);
}
static inline long ampora_bio_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
static inline int ampora_stack_count(const void *stack) { return OPENSSL_sk_num((const OPENSSL_STACK *)stack); }
static inline void *ampora_stack_value(const void *stack, int i) {
    return OPENSSL_sk_value((const OPENSSL_STACK *)stack, i);
}
static inline void ampora_extensions_free(STACK_OF(X509_EXTENSION) *extensions) {
    sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
}
static inline void ampora_general_names_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }

// OpenSSL's error queue as one line, reasons separated by "; ", into `out`; the queue is
// cleared. Returns the length written (0: no error was queued).
static inline size_t ampora_error_queue(char *out, size_t size) {
    size_t used = 0;
    unsigned long code;
    if (size == 0) return 0;
    out[0] = 0;
    while ((code = ERR_get_error()) != 0) {
        char reason[256];
        ERR_error_string_n(code, reason, sizeof reason);
        int n = snprintf(out + used, size - used, "%s%s", used ? "; " : "", reason);
        if (n < 0 || (size_t)n >= size - used) {
            ERR_clear_error();
            return strlen(out);
        }
        used += (size_t)n;
    }
    return used;
}
