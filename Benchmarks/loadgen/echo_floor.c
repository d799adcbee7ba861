/*
 * echo-floor: the least a WebSocket OpAMP server can do per message, as a yardstick.
 *
 * It accepts WebSocket upgrades on GET /v1/opamp and answers every binary frame with the shape
 * of Ampora's heartbeat ack: 0x00 header + ServerToAgent{instance_uid echoed} (plus
 * capabilities 0x3F in the first reply of a connection, as S4 requires and as Ampora sends).
 * No state beyond a few bytes per connection, no parsing beyond the uid: what remains is the
 * kernel's cost per message and per connection, which Ampora is compared against in the same
 * run (CPU per 1 000 messages, RSS and kernel memory per connection). Plain-HTTP polls
 * (POST /v1/opamp, keep-alive) get the same ack as a 200 response body.
 *
 * Engine: one io_uring per thread (--rings N), all sharing one listening socket. Each ring
 * accepts with multishot accept straight into its registered (direct) file table, so sockets
 * never take a process descriptor and N rings hold N × 20 000 connections despite the
 * 20 000-descriptor limit. Input arrives through multishot receive from a provided-buffer
 * ring; ENOBUFS or a completion without IORING_CQE_F_MORE re-arms the receive.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "pb.h"
#include "sha1.h"

#define SERVER_CAPABILITIES 0x3Fu   /* what Ampora announces: AcceptsStatus … OffersConnectionSettings */
#define MAX_FRAME (1u << 20)        /* the floor refuses messages over 1 MiB (close 1009) */
#define MAX_HTTP_HEAD 8192
#define SEND_SLOT_SIZE 256          /* 101 response, acks, pongs and close frames all fit */
#define SEND_SLOTS (1u << 16)       /* per ring, virtual; only slots in use get touched */

/* user_data = op (8 bits) | generation (24 bits) | index (32 bits): a completion for a slot
 * that was closed and reused carries the old generation and is recognised as stale. */
enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_SHUTDOWN, OP_CLOSE, OP_CANCEL, OP_WAKE, OP_RESUME, OP_MSG };

static uint64_t pack(enum op op, uint32_t gen, uint32_t idx)
{
    return (uint64_t)op << 56 | (uint64_t)(gen & 0xffffff) << 32 | idx;
}
static enum op ud_op(uint64_t ud) { return (enum op)(ud >> 56); }
static uint32_t ud_gen(uint64_t ud) { return (uint32_t)(ud >> 32) & 0xffffff; }
static uint32_t ud_idx(uint64_t ud) { return (uint32_t)ud; }

/* ------------------------------------------------------------------------------------------ */
/* Per-connection record: 16 bytes plus a partial-input buffer only while a frame is split.   */

enum conn_state { C_FREE, C_HTTP, C_WS, C_CLOSING };

typedef struct {
    uint8_t *partial;        /* bytes of an unfinished request/frame, NULL almost always */
    uint32_t gen : 24;
    uint32_t state : 4;
    uint32_t replied : 1;    /* first reply (with capabilities) already sent */
    uint32_t partial_len;
} conn_t;

typedef struct {
    int id;
    struct io_uring ring;
    unsigned table;                 /* registered-file slots */
    unsigned stop_at, resume_at;    /* accept hysteresis, below the table size */
    conn_t *conns;
    /* provided buffers */
    struct io_uring_buf_ring *br;
    uint8_t *bufs;
    unsigned nbufs, buf_size;
    /* send slots: a LIFO free list keeps the few hot slots in cache and the rest untouched */
    uint8_t *send_mem;
    uint32_t *send_free;
    uint32_t send_free_len;
    /* accept: `full` = table nearly full; `yielded` = paused to let a ring with fewer
     * connections take the next ones (read by the other rings, hence atomics) */
    bool accepting, accept_armed, full;
    int yielded;
    uint32_t accept_gen;
    /* counters, read by the stats thread (relaxed) */
    uint64_t live, accepted, closed, msgs, enobufs, rearms, send_errors, pool_exhausted, wakes;
} ring_t;

static ring_t *rings;
static int nrings = 2;
static int listen_fd;
static unsigned opt_table = 20000, opt_bufs = 2048, opt_buf_size = 2048, opt_backlog = 1024;

/* A wake-up on the shared listener goes to one waiting accept, and always the same one, so one
 * ring would take every connection. A ring that holds BALANCE_SLACK more connections than the
 * least-loaded open ring pauses its accept until that ring catches up. */
#define BALANCE_SLACK 32

/* ------------------------------------------------------------------------------------------ */
/* Submission helpers                                                                          */

static struct io_uring_sqe *get_sqe(ring_t *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    while (!sqe) {   /* SQ full: push what we have and try again */
        io_uring_submit(&r->ring);
        sqe = io_uring_get_sqe(&r->ring);
    }
    return sqe;
}

static void arm_accept(ring_t *r)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_multishot_accept_direct(sqe, listen_fd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, pack(OP_ACCEPT, ++r->accept_gen, 0));
    r->accept_armed = true;
}

static void cancel_accept(ring_t *r)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_cancel64(sqe, pack(OP_ACCEPT, r->accept_gen, 0), 0);
    io_uring_sqe_set_data64(sqe, pack(OP_CANCEL, 0, 0));
}

static void arm_recv(ring_t *r, uint32_t slot)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_recv_multishot(sqe, (int)slot, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, pack(OP_RECV, r->conns[slot].gen, slot));
}

/* Tells the next ring to re-arm its accept, so connections queued on the shared listener are
 * not stranded when this ring stops accepting (a wake goes to one waiter only). `hops` stops
 * the message after one round when every ring is full. */
static void msg_ring(ring_t *r, ring_t *to, enum op op, unsigned value)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_msg_ring(sqe, to->ring.ring_fd, value, pack(op, 0, 0), 0);
    io_uring_sqe_set_data64(sqe, pack(OP_MSG, 0, 0));
}

static void wake_next_ring(ring_t *r, unsigned hops)
{
    if (nrings < 2 || hops >= (unsigned)nrings - 1) return;
    msg_ring(r, &rings[(r->id + 1) % nrings], OP_WAKE, hops + 1);
}

/* Copies `len` bytes into a send slot and queues the send; the slot returns on completion. */
static void send_bytes(ring_t *r, uint32_t slot, const void *data, size_t len)
{
    if (r->send_free_len == 0 || len > SEND_SLOT_SIZE) {
        r->pool_exhausted++;
        return;
    }
    uint32_t s = r->send_free[--r->send_free_len];
    uint8_t *buf = r->send_mem + (size_t)s * SEND_SLOT_SIZE;
    memcpy(buf, data, len);
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_send(sqe, (int)slot, buf, len, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, pack(OP_SEND, 0, s));
}

/* Active close: shut the socket down so the armed multishot receive ends with 0; the
 * terminal receive completion then closes the slot (closing a direct descriptor under a
 * pending receive would leave the socket alive). */
static void conn_shutdown(ring_t *r, uint32_t slot)
{
    conn_t *c = &r->conns[slot];
    if (c->state == C_CLOSING) return;
    c->state = C_CLOSING;
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_shutdown(sqe, (int)slot, SHUT_RDWR);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, pack(OP_SHUTDOWN, c->gen, slot));
}

static void conn_close(ring_t *r, uint32_t slot)
{
    conn_t *c = &r->conns[slot];
    free(c->partial);
    c->partial = NULL;
    c->partial_len = 0;
    c->state = C_FREE;
    c->gen++;
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_close_direct(sqe, slot);
    io_uring_sqe_set_data64(sqe, pack(OP_CLOSE, 0, slot));
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP upgrade                                                                                */

static const char *find_header(const char *head, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t') v++;
            const char *e = strstr(v, "\r\n");
            if (!e) return NULL;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
            *vlen = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

static void reply_and_close(ring_t *r, uint32_t slot, const char *response)
{
    send_bytes(r, slot, response, strlen(response));
    conn_shutdown(r, slot);
}

static uint8_t *encode_ack(conn_t *c, const uint8_t *msg, size_t len, bool ws, uint8_t *out);

/* Plain-HTTP OpAMP (H1): each POST /v1/opamp carries one AgentToServer; the response body is
 * the same ack as over WebSocket. The connection stays open for the next poll. Returns bytes
 * consumed (0: body incomplete) or -1 when the connection is being closed. */
static ssize_t handle_post(ring_t *r, uint32_t slot, const char *head, size_t head_len, const uint8_t *buf,
                           size_t len)
{
    size_t vlen = 0;
    const char *cl = find_header(head, "Content-Length", &vlen);
    if (!cl) {
        reply_and_close(r, slot, "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\n\r\n");
        return -1;
    }
    size_t body_len = strtoul(cl, NULL, 10);
    if (body_len > MAX_FRAME) {
        reply_and_close(r, slot, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
        return -1;
    }
    if (len < head_len + body_len) return 0;
    uint8_t ack[32];
    size_t ack_len = (size_t)(encode_ack(&r->conns[slot], buf + head_len, body_len, false, ack) - ack);
    char resp[160];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                     ack_len);
    memcpy(resp + n, ack, ack_len);
    send_bytes(r, slot, resp, (size_t)n + ack_len);
    r->msgs++;
    return (ssize_t)(head_len + body_len);
}

/* Returns bytes consumed (0: need more), or -1 when the connection is being closed. */
static ssize_t handle_upgrade(ring_t *r, uint32_t slot, const uint8_t *buf, size_t len)
{
    const uint8_t *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) {
        if (len >= MAX_HTTP_HEAD) {
            reply_and_close(r, slot, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n");
            return -1;
        }
        return 0;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    if (head_len > MAX_HTTP_HEAD) {
        reply_and_close(r, slot, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n");
        return -1;
    }
    char head[MAX_HTTP_HEAD + 1];
    memcpy(head, buf, head_len);
    head[head_len] = 0;
    if (strncmp(head, "POST /v1/opamp ", 15) == 0) return handle_post(r, slot, head, head_len, buf, len);
    if (strncmp(head, "GET /v1/opamp ", 14) != 0) {
        reply_and_close(r, slot, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return -1;
    }
    size_t klen = 0;
    const char *key = find_header(head, "Sec-WebSocket-Key", &klen);
    if (!key || klen == 0) {
        reply_and_close(r, slot, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return -1;
    }
    char accept[29], resp[200];
    ws_accept_for_key(key, klen, accept);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    send_bytes(r, slot, resp, (size_t)n);
    r->conns[slot].state = C_WS;
    return (ssize_t)head_len;
}

/* ------------------------------------------------------------------------------------------ */
/* WebSocket frames                                                                            */

/* ServerToAgent{1: instance_uid (, 7: capabilities in a connection's first reply)} for the
 * AgentToServer `msg` (WebSocket payloads start with the 0x00 header, HTTP bodies do not);
 * writes it at `out` and returns the end. */
static uint8_t *encode_ack(conn_t *c, const uint8_t *msg, size_t len, bool ws, uint8_t *out)
{
    const uint8_t *p = msg, *end = msg + len, *uid = NULL;
    size_t uid_len = 0;
    uint64_t header = 0;
    if (!ws || (pb_read_varint(&p, end, &header) && header == 0)) {
        pb_field_t f;
        while (pb_next(&p, end, &f) > 0) {
            if (f.field == 1 && f.wire == PB_LEN && f.len <= 16) {
                uid = f.data;
                uid_len = f.len;
                break;
            }
        }
    }
    uint8_t *q = pb_bytes(out, 1, uid ? uid : (const uint8_t *)"", uid_len);
    if (!c->replied) {
        c->replied = 1;
        q = pb_uint(q, 7, SERVER_CAPABILITIES);
    }
    return q;
}

/* The ack: [0x82][len][0x00 header][ServerToAgent]. */
static void send_ack(ring_t *r, uint32_t slot, const uint8_t *msg, size_t len)
{
    uint8_t out[32];
    out[2] = 0;
    uint8_t *q = encode_ack(&r->conns[slot], msg, len, true, out + 3);
    out[0] = 0x82;
    out[1] = (uint8_t)(q - out - 2);
    send_bytes(r, slot, out, (size_t)(q - out));
    r->msgs++;
}

static void send_control(ring_t *r, uint32_t slot, int opcode, const uint8_t *payload, size_t len)
{
    uint8_t out[2 + 125];
    out[0] = (uint8_t)(0x80 | opcode);
    out[1] = (uint8_t)len;
    memcpy(out + 2, payload, len);
    send_bytes(r, slot, out, 2 + len);
}

static void close_with(ring_t *r, uint32_t slot, uint16_t code)
{
    uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    send_control(r, slot, 0x8, body, 2);
    conn_shutdown(r, slot);
}

/* Parses complete frames (unmasking in place: the bytes are ours until recycled). Returns
 * bytes consumed or -1 once the connection is closing. Fragmented messages are not needed by
 * the load generator; the floor refuses them (1003) rather than pretend. */
static ssize_t handle_frames(ring_t *r, uint32_t slot, uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (len - off >= 2) {
        uint8_t *f = buf + off;
        uint8_t op = f[0] & 0x0f;
        uint64_t plen = f[1] & 0x7f;
        size_t h = 2;
        if (plen == 126) {
            if (len - off < 4) break;
            plen = (uint64_t)f[2] << 8 | f[3];
            h = 4;
        } else if (plen == 127) {
            if (len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = plen << 8 | f[2 + i];
            h = 10;
        }
        if (!(f[1] & 0x80) || (f[0] & 0x70)) { close_with(r, slot, 1002); return -1; }  /* unmasked / RSV */
        if (plen > MAX_FRAME) { close_with(r, slot, 1009); return -1; }
        if (!(f[0] & 0x80) || op == 0x0) { close_with(r, slot, 1003); return -1; }
        if (len - off < h + 4 + plen) break;
        uint8_t *mask = f + h, *payload = f + h + 4;
        for (uint64_t i = 0; i < plen; i++) payload[i] ^= mask[i & 3];
        off += h + 4 + (size_t)plen;

        switch (op) {
        case 0x2: send_ack(r, slot, payload, (size_t)plen); break;
        case 0x8: close_with(r, slot, plen >= 2 ? (uint16_t)(payload[0] << 8 | payload[1]) : 1000); return -1;
        case 0x9: if (plen <= 125) send_control(r, slot, 0xA, payload, (size_t)plen); break;
        case 0xA: break;
        default: close_with(r, slot, 1003); return -1;   /* text or unknown */
        }
    }
    return (ssize_t)off;
}

/* Feeds received bytes to the parser; only a split frame is copied into `partial`. */
static void handle_input(ring_t *r, uint32_t slot, uint8_t *data, size_t len)
{
    conn_t *c = &r->conns[slot];
    uint8_t *buf = data;
    size_t blen = len;
    if (c->partial) {
        uint8_t *p = realloc(c->partial, c->partial_len + len);
        if (!p) { conn_shutdown(r, slot); return; }
        memcpy(p + c->partial_len, data, len);
        c->partial = p;
        c->partial_len += (uint32_t)len;
        buf = p;
        blen = c->partial_len;
    }
    size_t off = 0;
    while (c->state == C_HTTP && off < blen) {   /* an upgrade, or plain-HTTP polls */
        ssize_t n = handle_upgrade(r, slot, buf + off, blen - off);
        if (n < 0) return;
        if (n == 0) break;
        off += (size_t)n;
    }
    if (c->state == C_WS && off < blen) {
        ssize_t n = handle_frames(r, slot, buf + off, blen - off);
        if (n < 0) return;
        off += (size_t)n;
    }
    size_t rest = blen - off;
    if (rest > MAX_FRAME + 16) { conn_shutdown(r, slot); return; }
    if (buf == c->partial) {
        if (rest == 0) {
            free(c->partial);
            c->partial = NULL;
        } else {
            memmove(c->partial, c->partial + off, rest);
        }
        c->partial_len = (uint32_t)rest;
    } else if (rest) {
        c->partial = malloc(rest);
        if (!c->partial) { conn_shutdown(r, slot); return; }
        memcpy(c->partial, buf + off, rest);
        c->partial_len = (uint32_t)rest;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Completions                                                                                 */

static void recycle_buffer(ring_t *r, unsigned bid)
{
    io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * r->buf_size, r->buf_size, (unsigned short)bid,
                          io_uring_buf_ring_mask(r->nbufs), 0);
    io_uring_buf_ring_advance(r->br, 1);
}

static uint64_t live_of(ring_t *r) { return __atomic_load_n(&r->live, __ATOMIC_RELAXED); }

/* Fewest connections among the other rings still open for connections, or UINT64_MAX. */
static uint64_t min_open_live(ring_t *self)
{
    uint64_t min = UINT64_MAX;
    for (int i = 0; i < nrings; i++) {
        ring_t *o = &rings[i];
        if (o == self || __atomic_load_n(&o->full, __ATOMIC_RELAXED)) continue;
        uint64_t l = live_of(o);
        if (l < min) min = l;
    }
    return min;
}

static void stop_accepting(ring_t *r)
{
    r->accepting = false;
    cancel_accept(r);
    wake_next_ring(r, 0);   /* someone must take what is queued on the listener */
}

static void start_accepting(ring_t *r)
{
    r->accepting = true;
    if (!r->accept_armed) arm_accept(r);
}

/* After this ring's count changed: resume rings that yielded and are no longer ahead. */
static void resume_yielded(ring_t *r)
{
    uint64_t mine = r->live;
    for (int i = 0; i < nrings; i++) {
        ring_t *o = &rings[i];
        if (o != r && __atomic_load_n(&o->yielded, __ATOMIC_RELAXED) &&
            live_of(o) <= mine + BALANCE_SLACK / 2) {
            __atomic_store_n(&o->yielded, 0, __ATOMIC_RELAXED);
            msg_ring(r, o, OP_RESUME, 0);
        }
    }
}

static void on_accept(ring_t *r, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE) && ud_gen(cqe->user_data) == (r->accept_gen & 0xffffff)) {
        r->accept_armed = false;   /* ended (cancelled, error or overflow): re-arm below */
        if (r->accepting) arm_accept(r);
    }
    if (cqe->res < 0) return;
    uint32_t slot = (uint32_t)cqe->res;
    conn_t *c = &r->conns[slot];
    c->state = C_HTTP;
    c->replied = 0;
    c->partial = NULL;
    c->partial_len = 0;
    __atomic_store_n(&r->live, r->live + 1, __ATOMIC_RELAXED);
    r->accepted++;
    arm_recv(r, slot);
    if (r->accepting && r->live >= r->stop_at) {
        /* A full table makes the kernel accept and then drop: stop well before it. */
        __atomic_store_n(&r->full, true, __ATOMIC_RELAXED);
        stop_accepting(r);
    } else if (r->accepting && min_open_live(r) != UINT64_MAX &&
               r->live > min_open_live(r) + BALANCE_SLACK) {
        __atomic_store_n(&r->yielded, 1, __ATOMIC_RELAXED);
        stop_accepting(r);
    }
    resume_yielded(r);
}

static void on_recv(ring_t *r, struct io_uring_cqe *cqe)
{
    uint32_t slot = ud_idx(cqe->user_data);
    conn_t *c = &r->conns[slot];
    bool stale = ud_gen(cqe->user_data) != c->gen || c->state == C_FREE;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (cqe->res > 0) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (!stale && c->state != C_CLOSING)
            handle_input(r, slot, r->bufs + (size_t)bid * r->buf_size, (size_t)cqe->res);
        recycle_buffer(r, bid);
    }
    if (stale || more) return;
    /* The multishot receive ended. Out of buffers (or a completion that merely ended the
     * shot): re-arm. EOF, an error, or our own shutdown: close the slot. */
    if ((cqe->res == -ENOBUFS || cqe->res > 0) && c->state != C_CLOSING) {
        if (cqe->res == -ENOBUFS) r->enobufs++;
        r->rearms++;
        arm_recv(r, slot);
        return;
    }
    conn_close(r, slot);
}

static void on_close(ring_t *r)
{
    __atomic_store_n(&r->live, r->live - 1, __ATOMIC_RELAXED);
    r->closed++;
    if (r->full && r->live <= r->resume_at) {
        __atomic_store_n(&r->full, false, __ATOMIC_RELAXED);
        if (!__atomic_load_n(&r->yielded, __ATOMIC_RELAXED)) start_accepting(r);
    }
}

static void on_resume(ring_t *r)
{
    if (!r->full && !r->accepting) start_accepting(r);
}

static void on_wake(ring_t *r, struct io_uring_cqe *cqe)
{
    r->wakes++;
    if (!r->accepting) {
        wake_next_ring(r, (unsigned)cqe->res);   /* full too: pass it on */
        return;
    }
    /* Re-issuing the accept makes it try the listener now instead of waiting for a new
     * arrival: the queued connections get taken. */
    if (r->accept_armed) cancel_accept(r);   /* its final completion re-arms */
    else arm_accept(r);
}

static void handle_cqe(ring_t *r, struct io_uring_cqe *cqe)
{
    switch (ud_op(cqe->user_data)) {
    case OP_ACCEPT: on_accept(r, cqe); break;
    case OP_RECV: on_recv(r, cqe); break;
    case OP_SEND:
        r->send_free[r->send_free_len++] = ud_idx(cqe->user_data);
        if (cqe->res < 0) r->send_errors++;   /* the receive side notices and closes */
        break;
    case OP_CLOSE: on_close(r); break;
    case OP_WAKE: on_wake(r, cqe); break;
    case OP_RESUME: on_resume(r); break;
    default: break;   /* shutdown, cancel, msg-ring results need no action */
    }
}

static void *ring_loop(void *arg)
{
    ring_t *r = arg;
    struct io_uring_cqe *cqes[256];
    for (;;) {
        io_uring_submit_and_wait(&r->ring, 1);
        unsigned n;
        while ((n = io_uring_peek_batch_cqe(&r->ring, cqes, 256)) > 0) {
            for (unsigned i = 0; i < n; i++) handle_cqe(r, cqes[i]);
            io_uring_cq_advance(&r->ring, n);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Setup                                                                                       */

static void die(const char *what)
{
    fprintf(stderr, "echo-floor: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void setup_buffers(ring_t *r)
{
    r->nbufs = opt_bufs;
    r->buf_size = opt_buf_size;
    size_t ring_bytes = (sizeof(struct io_uring_buf) * r->nbufs + 4095) & ~(size_t)4095;
    r->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    r->bufs = mmap(NULL, (size_t)r->nbufs * r->buf_size, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (r->br == MAP_FAILED || r->bufs == MAP_FAILED) die("mmap buffers");
    /* Touch the pool now, so RSS measured before the load already includes it and RSS growth
     * is per-connection memory only. */
    memset(r->bufs, 0, (size_t)r->nbufs * r->buf_size);
    /* liburing 2.3 has no io_uring_setup_buf_ring: register memory we mapped ourselves. */
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)r->br,
                                   .ring_entries = r->nbufs, .bgid = 0};
    int ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
    if (ret < 0) { errno = -ret; die("io_uring_register_buf_ring"); }
    io_uring_buf_ring_init(r->br);
    for (unsigned i = 0; i < r->nbufs; i++)
        io_uring_buf_ring_add(r->br, r->bufs + (size_t)i * r->buf_size, r->buf_size, (unsigned short)i,
                              io_uring_buf_ring_mask(r->nbufs), (int)i);
    io_uring_buf_ring_advance(r->br, (int)r->nbufs);
}

static void setup_send_pool(ring_t *r)
{
    r->send_mem = mmap(NULL, (size_t)SEND_SLOTS * SEND_SLOT_SIZE, PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    r->send_free = malloc(SEND_SLOTS * sizeof *r->send_free);
    if (r->send_mem == MAP_FAILED || !r->send_free) die("send pool");
    /* Pushed in reverse so slot 0 is handed out first and the used set stays compact. */
    for (uint32_t i = 0; i < SEND_SLOTS; i++) r->send_free[i] = SEND_SLOTS - 1 - i;
    r->send_free_len = SEND_SLOTS;
}

/* Ring creation runs on the ring's own thread: SINGLE_ISSUER binds the ring to its creator. */
static pthread_barrier_t ready;

static void *ring_thread(void *arg)
{
    ring_t *r = arg;
    struct io_uring_params p = {0};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = 65536;   /* a connect storm posts many completions between two waits */
    int ret = io_uring_queue_init_params(4096, &r->ring, &p);
    if (ret < 0) { errno = -ret; die("io_uring_queue_init_params"); }
    ret = io_uring_register_files_sparse(&r->ring, r->table);
    if (ret < 0) { errno = -ret; die("io_uring_register_files_sparse (table above RLIMIT_NOFILE?)"); }
    r->conns = calloc(r->table, sizeof *r->conns);  /* lazily backed: touched per connection */
    if (!r->conns) die("calloc conns");
    setup_buffers(r);
    setup_send_pool(r);
    r->accepting = true;
    arm_accept(r);
    io_uring_submit(&r->ring);
    pthread_barrier_wait(&ready);   /* all ring fds exist before anyone sends MSG_RING */
    return ring_loop(r);
}

static int open_listener(const char *bind_addr, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "echo-floor: --bind must be an address in 127.0.0.0/8\n");
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Accepted sockets inherit TCP_NODELAY from the listener; direct descriptors cannot be
     * given socket options from user space on liburing 2.3. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    if (listen(fd, (int)opt_backlog) < 0) die("listen");
    return fd;
}

static uint64_t load64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

static void print_stats(double t, const char *type)
{
    uint64_t live = 0, accepted = 0, closed = 0, msgs = 0, enobufs = 0, rearms = 0, serr = 0, pool = 0;
    for (int i = 0; i < nrings; i++) {
        ring_t *r = &rings[i];
        live += load64(&r->live); accepted += load64(&r->accepted); closed += load64(&r->closed);
        msgs += load64(&r->msgs); enobufs += load64(&r->enobufs); rearms += load64(&r->rearms);
        serr += load64(&r->send_errors); pool += load64(&r->pool_exhausted);
    }
    fprintf(stderr, "{\"echo_floor\":\"%s\",\"t\":%.1f,\"live\":%llu,\"accepted\":%llu,\"closed\":%llu,"
                    "\"msgs\":%llu,\"enobufs\":%llu,\"recv_rearms\":%llu,\"send_errors\":%llu,"
                    "\"pool_exhausted\":%llu,\"per_ring_live\":[",
            type, t, (unsigned long long)live, (unsigned long long)accepted, (unsigned long long)closed,
            (unsigned long long)msgs, (unsigned long long)enobufs, (unsigned long long)rearms,
            (unsigned long long)serr, (unsigned long long)pool);
    for (int i = 0; i < nrings; i++)
        fprintf(stderr, "%s%llu", i ? "," : "", (unsigned long long)load64(&rings[i].live));
    fprintf(stderr, "]}\n");
}

static void usage(void)
{
    fprintf(stderr, "usage: echo-floor --port PORT [--bind 127.0.0.1] [--rings N] [--table SLOTS]\n"
                    "                  [--bufs N] [--buf-size BYTES] [--backlog N] [--duration S]\n"
                    "                  [--stats-interval S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, 0, 'p'},  {"bind", required_argument, 0, 'b'},
        {"rings", required_argument, 0, 'r'}, {"table", required_argument, 0, 't'},
        {"bufs", required_argument, 0, 'n'},  {"buf-size", required_argument, 0, 's'},
        {"backlog", required_argument, 0, 'l'}, {"duration", required_argument, 0, 'd'},
        {"stats-interval", required_argument, 0, 'i'}, {0, 0, 0, 0}};
    int port = 0, c;
    const char *bind_addr = "127.0.0.1";
    double duration = 600, stats_interval = 5;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': port = atoi(optarg); break;
        case 'b': bind_addr = optarg; break;
        case 'r': nrings = atoi(optarg); break;
        case 't': opt_table = (unsigned)atoi(optarg); break;
        case 'n': opt_bufs = (unsigned)atoi(optarg); break;
        case 's': opt_buf_size = (unsigned)atoi(optarg); break;
        case 'l': opt_backlog = (unsigned)atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'i': stats_interval = atof(optarg); break;
        default: usage();
        }
    }
    if (port <= 0 || port > 65535 || nrings < 1 || nrings > 64 || opt_table < 1024 ||
        (opt_bufs & (opt_bufs - 1)) || opt_bufs == 0 || opt_bufs > 32768 || opt_buf_size < 256 ||
        duration <= 0)
        usage();

    /* The registered-file table may not exceed RLIMIT_NOFILE: use the hard limit. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (opt_table > rl.rlim_cur) opt_table = (unsigned)rl.rlim_cur;

    signal(SIGPIPE, SIG_IGN);
    listen_fd = open_listener(bind_addr, port);

    /* Stop accepting a backlog's worth (plus slack) below the table size: one multishot
     * accept can drain the whole backlog before our cancel lands. */
    unsigned margin = opt_backlog + 256;
    if (margin > opt_table / 4) margin = opt_table / 4;

    rings = calloc((size_t)nrings, sizeof *rings);
    pthread_barrier_init(&ready, NULL, (unsigned)nrings + 1);
    for (int i = 0; i < nrings; i++) {
        rings[i].id = i;
        rings[i].table = opt_table;
        rings[i].stop_at = opt_table - margin;
        rings[i].resume_at = opt_table - 2 * margin;
        pthread_t th;
        if (pthread_create(&th, NULL, ring_thread, &rings[i]) != 0) die("pthread_create");
        pthread_detach(th);
    }
    pthread_barrier_wait(&ready);
    fprintf(stderr, "echo-floor: listening on %s:%d, %d rings x %u slots, %u x %u B buffers per ring, pid %d\n",
            bind_addr, port, nrings, opt_table, opt_bufs, opt_buf_size, (int)getpid());

    /* The process is bounded in time: the main thread ends it (and every ring with it). */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double next_stats = stats_interval;
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double t = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (t >= duration) {
            print_stats(t, "final");
            exit(0);
        }
        if (t >= next_stats) {
            print_stats(t, "interval");
            next_stats += stats_interval;
        }
        usleep(100000);
    }
}
