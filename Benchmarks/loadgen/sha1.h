/* Tiny SHA-1 and base64, only for the WebSocket handshake (RFC 6455 §4.2.2):
 * Sec-WebSocket-Accept = base64(SHA-1(key + GUID)). Not for anything secret. */
#ifndef LOADGEN_SHA1_H
#define LOADGEN_SHA1_H

#include <stddef.h>
#include <stdint.h>

void sha1(const void *data, size_t len, uint8_t out[20]);

/* Writes base64 of `len` bytes plus a NUL; `out` needs 4*ceil(len/3)+1 bytes. */
void base64_encode(const uint8_t *in, size_t len, char *out);

/* The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (key_len bytes, not NUL-terminated).
 * `out` receives 28 characters plus a NUL. */
void ws_accept_for_key(const char *key, size_t key_len, char out[29]);

#endif
