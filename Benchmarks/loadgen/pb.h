/* The few protobuf wire helpers the load generator and the echo floor need (varints,
 * tags, length-delimited fields). Encoders write into a caller buffer and return the new
 * end; the reader returns 0 on malformed input instead of trusting lengths. */
#ifndef LOADGEN_PB_H
#define LOADGEN_PB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

static inline uint8_t *pb_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline size_t pb_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

static inline uint8_t *pb_tag(uint8_t *p, unsigned field, unsigned wire)
{
    return pb_varint(p, (uint64_t)field << 3 | wire);
}

static inline uint8_t *pb_uint(uint8_t *p, unsigned field, uint64_t v)
{
    return pb_varint(pb_tag(p, field, PB_VARINT), v);
}

static inline uint8_t *pb_bytes(uint8_t *p, unsigned field, const void *data, size_t len)
{
    p = pb_varint(pb_tag(p, field, PB_LEN), len);
    memcpy(p, data, len);
    return p + len;
}

static inline uint8_t *pb_str(uint8_t *p, unsigned field, const char *s)
{
    return pb_bytes(p, field, s, strlen(s));
}

static inline uint8_t *pb_fixed64(uint8_t *p, unsigned field, uint64_t v)
{
    p = pb_tag(p, field, PB_I64);
    for (int i = 0; i < 8; i++) *p++ = (uint8_t)(v >> (8 * i));   /* little-endian */
    return p;
}

/* Reads a varint at *pp (< end). Returns 1 and advances, or 0 if truncated/overlong. */
static inline int pb_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *p = *pp;
    for (int shift = 0; shift < 70 && p < end; shift += 7) {
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* One field of a message: number, wire type, and either the varint value or the bytes. */
typedef struct {
    unsigned field, wire;
    uint64_t value;          /* PB_VARINT, or PB_I64/PB_I32 raw */
    const uint8_t *data;     /* PB_LEN */
    size_t len;
} pb_field_t;

/* Reads the next field; returns 1 on success, 0 at a clean end, -1 on malformed input. */
static inline int pb_next(const uint8_t **pp, const uint8_t *end, pb_field_t *f)
{
    f->data = NULL;
    f->len = 0;
    if (*pp >= end)
        return 0;
    uint64_t key;
    if (!pb_read_varint(pp, end, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return -1;
    f->field = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    switch (f->wire) {
    case PB_VARINT:
        return pb_read_varint(pp, end, &f->value) ? 1 : -1;
    case PB_I64:
        if (end - *pp < 8) return -1;
        memcpy(&f->value, *pp, 8);
        *pp += 8;
        return 1;
    case PB_I32:
        if (end - *pp < 4) return -1;
        f->value = 0;
        memcpy(&f->value, *pp, 4);
        *pp += 4;
        return 1;
    case PB_LEN: {
        uint64_t len;
        if (!pb_read_varint(pp, end, &len) || len > (uint64_t)(end - *pp))
            return -1;
        f->data = *pp;
        f->len = (size_t)len;
        *pp += len;
        return 1;
    }
    default:
        return -1;   /* groups (3/4) are not used by OpAMP */
    }
}

#endif
