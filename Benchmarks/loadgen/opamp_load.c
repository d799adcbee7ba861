/*
 * opamp-load: one worker process simulating up to ~20 000 OpAMP agents over WebSocket.
 *
 * Each agent: non-blocking TCP connect from a chosen 127.0.0.x source address
 * (IP_BIND_ADDRESS_NO_PORT, so the port is picked per destination and one source address
 * carries ~28 000 connections to one server), RFC 6455 handshake to GET /v1/opamp, a first
 * full-status AgentToServer, then heartbeats every --heartbeat seconds. Every ServerToAgent is
 * checked for the few rules a load test can check cheaply (instance_uid echo, capabilities in
 * the first reply, framing); breaking one is a "violation". Reply latency goes into a fixed
 * log-linear histogram.
 *
 * With --transport http the same agents poll over plain HTTP instead (one keep-alive connection
 * each, a POST /v1/opamp per message, one request in flight at a time).
 *
 * Remote config: an AgentRemoteConfig in a ServerToAgent is "applied" at once: the agent reports
 * RemoteConfigStatus APPLYING, then APPLIED with the server's config_hash and the received config
 * map as its new effective config; full status reports carry both from then on. Four markers in
 * a config make the agents misbehave the ways rollout gates are there to catch (RC_*_MARKER).
 *
 * With --tls every connection speaks TLS first (OpenSSL 3, non-blocking, driven by the same
 * epoll loop; optional server verification, a client certificate, session resumption), and all
 * of the above travels in TLS records. --mode handshake turns the agents into C slots that only
 * connect, complete the TLS handshake (and optionally the WebSocket upgrade), close and repeat:
 * full and resumed handshakes per second. --storm-at drops every connection at once at a given
 * time and measures how long until every agent is back.
 *
 * One epoll loop, one timer wheel, no threads: a worker should cost the machine as little CPU
 * as possible, because on two cores every cycle it burns is taken from the server it measures.
 * Scale out with several worker processes (run_load.py does that).
 *
 * Output: one JSON object per line on stdout every --stats-interval and a final one.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "pb.h"
#include "sha1.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ------------------------------------------------------------------------------------------ */
/* Protocol constants                                                                          */

/* Agent capabilities we announce (AgentCapabilities bits, OPAMP.md §6):
 *   ReportsStatus 0x1 | AcceptsRemoteConfig 0x2 | ReportsEffectiveConfig 0x4 |
 *   ReportsHealth 0x800 | ReportsRemoteConfig 0x1000 | ReportsHeartbeat 0x2000  = 0x3807.
 * Exactly the parts the first message carries (description, health tree, effective config,
 * remote config status), so a server that checks "required status parts" (S8) finds them all
 * and has no reason to ask for full state. */
#define AGENT_CAPABILITIES 0x3807u

/* RemoteConfigStatuses */
#define RC_UNSET 0
#define RC_APPLIED 1
#define RC_APPLYING 2
#define RC_FAILED 3
/* A pushed config that contains this text is reported FAILED instead of applied (rollout
 * gates are measured with agents that really fail). */
#define RC_FAIL_MARKER "ampora-bench-fail"
/* ... is never answered (no RemoteConfigStatus at all, heartbeats go on), as an agent hung in
 * its reload would: only the server's apply timeout (STALLED) notices. */
#define RC_STALL_MARKER "ampora-bench-stall"
/* ... is applied as usual, then the agent reports itself unhealthy (its health follows the
 * config it applied, so applying another config makes it healthy again). */
#define RC_UNHEALTHY_MARKER "ampora-bench-unhealthy"
/* ... fails, and the agent goes back to the config it ran before and reports that one APPLIED,
 * as the Collector's Supervisor does (FAILED for the new hash, then APPLIED for the old). An
 * agent with no earlier remote config only reports FAILED. */
#define RC_ROLLBACK_MARKER "ampora-bench-rollback"
/* Not a protocol value: the APPLIED of the old config still to report after a rollback. */
#define RC_ROLLED_BACK 100
#define RC_HASH_MAX 64
#define RC_MAP_MAX 49152             /* larger pushed configs are applied but not echoed */

#define SERVER_CAP_ACCEPTS_STATUS 0x1u
#define SERVER_FLAG_REPORT_FULL_STATE 0x1u
#define SERVER_ERROR_UNAVAILABLE 2u

#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA

#define MAX_MESSAGE (64u << 20)     /* W4 default limit: anything larger is a violation */
#define PENDING_MAX 8               /* replies we can wait for at once per agent */
#define CONNECT_TIMEOUT_NS (10ull * 1000000000ull)
#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS 30000

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                               */

typedef struct {
    struct sockaddr_in target;
    char target_text[64];
    struct in_addr sources[4];
    uint32_t source_count[4];   /* agents per source (ADDR=COUNT), or all 0 for round robin */
    int nsources;
    uint32_t agents;
    double duration_s, heartbeat_s, rate, stats_interval_s, reply_timeout_s;
    int max_inflight;
    int worker;
    bool http;                  /* --transport http: plain-HTTP polling instead of WebSocket */
    bool handshake_mode;        /* --mode handshake: connect, handshake, close, repeat */
    bool hs_upgrade;            /* --upgrade: in handshake mode, also the WebSocket upgrade */
    bool rate_set, inflight_set;
    double storm_at_s, storm_rate;   /* --storm-at / --storm-rate (0: no storm / same rate) */
    int attributes;             /* --attributes: resource attributes in each description */
    /* TLS (all off unless --tls) */
    bool tls, tls_resume;
    const char *tls_ca, *tls_cert, *tls_key, *tls_sni;
    int tls_max;                /* 0: library default (1.3), else TLS1_2_VERSION / TLS1_3_VERSION */
    char target_host[64];
} config_t;

static config_t cfg = {
    .agents = 1000,
    .duration_s = 60,
    .heartbeat_s = 30,
    .rate = 1000,
    .stats_interval_s = 1,
    .reply_timeout_s = 30,
    .max_inflight = 500,
    .attributes = 3,
};

/* ------------------------------------------------------------------------------------------ */
/* Agent state                                                                                 */

enum agent_state {
    A_IDLE,        /* waiting for a reconnect timer */
    A_QUEUED,      /* waiting for a connect token (ramp / rate limit) */
    A_CONNECTING,  /* TCP connect in progress */
    A_HANDSHAKE,   /* upgrade request sent, waiting for 101 */
    A_OPEN,        /* WebSocket open, talking OpAMP */
    A_TLS,         /* TCP connected, TLS handshake in progress (--tls) */
    A_CLOSING,     /* handshake mode: close_notify sent, reading until the server closes */
};

enum timer_kind { T_NONE, T_CONNECT_TIMEOUT, T_HEARTBEAT, T_RECONNECT };

typedef struct {
    int fd;
    uint32_t gen;              /* bumped per socket so stale epoll events are recognised */
    uint8_t state, timer_kind;
    bool got_first_reply;      /* first ServerToAgent of this connection seen */
    bool need_full;            /* send a full status at the next heartbeat */
    bool broken;               /* fail the connection once the current event is done */
    bool ever_connected;
    bool tls_want_write;       /* OpenSSL needs the socket writable to make progress */
    bool tls_offered;          /* this handshake offered a session for resumption */
    bool tls_reused;           /* the server accepted it (a resumed handshake) */
    bool hs_pending;           /* handshake mode: done on our side, the server's verdict pending */
    uint8_t pend_head, pend_count;
    uint8_t pend_full;         /* bit per pending slot: that message was a full status */
    uint8_t frag_active;
    uint8_t pend_other;        /* bit per pending slot: a remote config status (not timed) */
    bool need_full_now;        /* ReportFullState to answer as soon as the connection allows */
    bool unhealthy;            /* the applied config carried RC_UNHEALTHY_MARKER */
    bool unhealthy_next;       /* ... the config being applied does */
    bool health_send;          /* a health report is due (after APPLIED) */
    bool rc_stalling;          /* ignoring a config that carried RC_STALL_MARKER */
    bool rc_rollback;          /* after the FAILED, go back to rc_previous (RC_ROLLBACK_MARKER) */
    bool rc_refused;           /* went back from rc_latest: offers of it again are ignored */
    uint8_t rc_status;         /* RemoteConfigStatuses last reported */
    uint8_t rc_send;           /* status still to report (HTTP: one request in flight) */
    uint8_t rc_hash_len;
    uint8_t rc_hash[RC_HASH_MAX];  /* config_hash of the applied remote config */
    uint16_t attempts;         /* consecutive failures: drives the backoff */
    uint32_t retry_after_ms;   /* server hint for the next backoff, 0 if none */
    uint8_t uid[16];
    char key[25];              /* Sec-WebSocket-Key sent, to verify the accept value */
    uint64_t seq;
    uint64_t pend_ns[PENDING_MAX];
    uint64_t conn_ns;          /* when the connection attempt started (handshake mode, once
                                  done: how long it took) */
    SSL *ssl;                  /* NULL unless --tls */
    /* timer wheel links */
    uint64_t due_ns;
    int32_t t_next, t_prev, t_slot;
    /* buffers, NULL unless a partial frame / blocked write / fragmented message exists */
    uint8_t *in;  uint32_t in_len, in_cap;
    uint8_t *out; uint32_t out_len, out_off, out_cap;
    uint8_t *frag; uint32_t frag_len, frag_cap;
} agent_t;

static agent_t *agents;
static int epfd;

/* ------------------------------------------------------------------------------------------ */
/* Counters                                                                                    */

typedef struct {
    uint64_t handshakes, msgs_sent, replies, errors, violations, reconnects;
    uint64_t server_closes, server_errors, full_state_requests, hb_skipped, timeouts;
    uint64_t unsolicited, connect_errors, connect_timeouts, rejected;
    uint64_t rc_received, rc_repeats, rc_applied, rc_failed, rc_stalled, rc_rolled_back, unhealthy_reports;
    uint64_t http_errors;
    uint64_t tls_full, tls_resumed, tls_errors, tls_tickets, tls_declined, storm_dropped;
} counters_t;

static counters_t ctr;
static uint32_t n_ws_open, n_ready, n_inflight;
static uint64_t t_start, all_ready_ns;   /* when every agent first had its first reply */
static uint64_t last_all_ready_ns;       /* the latest time every agent was connected again */
static uint64_t t_start_unix_ns;         /* wall clock at start: the health tree's start time */
static uint64_t storm_ns, storm_back_ns; /* --storm-at: when every connection was dropped, and
                                            when every agent had its first reply again */
static counters_t ctr_at_storm;

/* The newest remote config this worker received: its hash, its config map (echoed as the
 * effective config of agents that applied it), and how many agents applied it. */
static uint8_t rc_latest[RC_HASH_MAX], rc_latest_len;
/* The config this worker's agents were sent before rc_latest: what a rollback goes back to. */
static uint8_t rc_previous[RC_HASH_MAX], rc_previous_len;
static uint8_t rc_map[RC_MAP_MAX];
static size_t rc_map_len;
static bool rc_map_ok;
static uint32_t rc_agents_applied;
static uint64_t rc_first_ns, rc_all_ns;
/* The config received last, stalled ones included, and when it first came. */
static uint8_t rc_newest[RC_HASH_MAX], rc_newest_len;
static uint64_t rc_newest_ns;
static hist_t hist_interval, hist_total, hist_status_total;
static int violation_reports;

/* ------------------------------------------------------------------------------------------ */
/* Small utilities                                                                             */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: masks, keys, jitter. The WebSocket mask only has to defeat proxies' caches,
 * not an attacker, and getrandom() per frame would cost a syscall per message. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static void die(const char *msg)
{
    fprintf(stderr, "opamp-load: %s\n", msg);
    exit(2);
}

static void report_violation(agent_t *a, const char *what)
{
    ctr.violations++;
    if (violation_reports++ < 10)  /* enough to debug, never a flood */
        fprintf(stderr, "opamp-load[%d]: violation (agent %ld): %s\n", cfg.worker,
                (long)(a - agents), what);
}

static bool buf_append(uint8_t **buf, uint32_t *len, uint32_t *cap, const void *data, size_t n)
{
    if (*len + n > *cap) {
        size_t want = *cap ? *cap : 256;
        while (want < *len + n) want *= 2;
        uint8_t *p = realloc(*buf, want);
        if (!p) return false;
        *buf = p;
        *cap = (uint32_t)want;
    }
    memcpy(*buf + *len, data, n);
    *len += (uint32_t)n;
    return true;
}

static void buf_free(uint8_t **buf, uint32_t *len, uint32_t *cap)
{
    free(*buf);
    *buf = NULL;
    *len = 0;
    *cap = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Timer wheel: one timer per agent (connect timeout, heartbeat or reconnect), 5 ms ticks.     */
/* Hashed: an entry further out than one turn just stays in its slot until it is due.         */

#define WHEEL_TICK_NS 5000000ull
#define WHEEL_SLOTS 8192
static int32_t wheel[WHEEL_SLOTS];
static uint64_t wheel_tick;  /* last tick processed */

static void timer_cancel(agent_t *a)
{
    if (a->t_slot < 0) return;
    if (a->t_prev >= 0) agents[a->t_prev].t_next = a->t_next;
    else wheel[a->t_slot] = a->t_next;
    if (a->t_next >= 0) agents[a->t_next].t_prev = a->t_prev;
    a->t_slot = -1;
    a->timer_kind = T_NONE;
}

static void timer_set(agent_t *a, enum timer_kind kind, uint64_t due)
{
    timer_cancel(a);
    uint64_t tick = due / WHEEL_TICK_NS;
    if (tick <= wheel_tick) tick = wheel_tick + 1;  /* never into a slot already swept */
    int32_t slot = (int32_t)(tick % WHEEL_SLOTS);
    int32_t idx = (int32_t)(a - agents);
    a->due_ns = due;
    a->timer_kind = (uint8_t)kind;
    a->t_slot = slot;
    a->t_prev = -1;
    a->t_next = wheel[slot];
    if (a->t_next >= 0) agents[a->t_next].t_prev = idx;
    wheel[slot] = idx;
}

static void timer_fire(agent_t *a, enum timer_kind kind, uint64_t now);

static void timers_run(uint64_t now)
{
    uint64_t target = now / WHEEL_TICK_NS;
    if (target - wheel_tick > WHEEL_SLOTS) wheel_tick = target - WHEEL_SLOTS;
    while (wheel_tick < target) {
        wheel_tick++;
        int32_t slot = (int32_t)(wheel_tick % WHEEL_SLOTS);
        /* Detach the slot first: firing re-arms timers, possibly into this very slot. */
        int32_t idx = wheel[slot];
        wheel[slot] = -1;
        while (idx >= 0) {
            agent_t *a = &agents[idx];
            int32_t next = a->t_next;
            a->t_slot = -1;
            if (a->due_ns <= now) {
                enum timer_kind kind = (enum timer_kind)a->timer_kind;
                a->timer_kind = T_NONE;
                timer_fire(a, kind, now);
            } else {
                timer_set(a, (enum timer_kind)a->timer_kind, a->due_ns);  /* a later turn */
            }
            idx = next;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Connect queue and pacing                                                                    */

static uint32_t *queue;  /* ring of agent indices waiting for a connect token */
static uint32_t q_head, q_len;
static double tokens;
static uint64_t tokens_at;

static void enqueue_connect(agent_t *a)
{
    a->state = A_QUEUED;
    queue[(q_head + q_len) % cfg.agents] = (uint32_t)(a - agents);
    q_len++;
}

static uint64_t backoff_ns(agent_t *a)
{
    /* Exponential backoff with jitter (S25), never shorter than the server's hint. */
    unsigned shift = a->attempts < 8 ? a->attempts : 8;
    double ms = BACKOFF_BASE_MS * (double)(1u << shift);
    if (ms > BACKOFF_MAX_MS) ms = BACKOFF_MAX_MS;
    ms *= 0.5 + 0.5 * rnd_unit();
    if (a->retry_after_ms > ms) ms = a->retry_after_ms;
    a->retry_after_ms = 0;
    return (uint64_t)(ms * 1e6);
}

/* ------------------------------------------------------------------------------------------ */
/* TLS (--tls): one client context per worker, one SSL object per connection on its socket.    */

#define TLS_REASONS_MAX 8
#define CLOSE_WAIT_NS (2ull * 1000000000ull)   /* handshake mode: wait for the server's close */

static SSL_CTX *tls_ctx;
static SSL_SESSION *tls_session;   /* --tls-resume: the newest ticket this worker received */
static struct { char text[112]; uint64_t count; } tls_reasons[TLS_REASONS_MAX];
static int tls_reason_reports;

static void die_tls(const char *msg)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    fprintf(stderr, "opamp-load: %s: %s\n", msg, e ? buf : "no OpenSSL error");
    exit(2);
}

/* Keeps a copy of each resumable session the server sends (TLS 1.3 NewSessionTicket, or a
 * TLS 1.2 ticket): later connections of this worker offer (a copy of) the newest one.
 *
 * Copies, because OpenSSL's client marks a session not resumable when a TLS 1.3 handshake that
 * used it completes (tls_finish_handshake removes it from the client cache: tickets are meant
 * to be used once) and when a connection holding it is freed without close_notify
 * (ssl_clear_bad_session). The session handed to this callback is the receiving connection's
 * own, and SSL_set_session shares the object: with one shared session, each resumed handshake
 * and each dropped connection made this worker's ticket unusable until the next one arrived,
 * and the connections started meanwhile sent no ticket at all (counted as declined although
 * the server never saw an offer; 27 % of offers in a 2 000-agent storm, 20-50 % in handshake
 * mode, against ampora as against any server). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    if (!SSL_SESSION_is_resumable(sess)) return 0;
    SSL_SESSION *own = SSL_SESSION_dup(sess);
    if (!own) return 0;
    if (tls_session) SSL_SESSION_free(tls_session);
    tls_session = own;
    ctr.tls_tickets++;
    return 0;   /* the connection keeps its session: ours is the copy */
}

static void tls_init(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) die_tls("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    if (cfg.tls_max) SSL_CTX_set_max_proto_version(tls_ctx, cfg.tls_max);
    /* Idle connections keep no 16-34 KB record buffers; writes may be partial and resumed
     * from our own out buffer (which moves when it grows). */
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(tls_ctx, 1);   /* one recv() per burst of records, not two per record */
    static const unsigned char alpn[] = "\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(tls_ctx, alpn, sizeof alpn - 1) != 0) die_tls("ALPN");
    if (cfg.tls_ca) {
        if (SSL_CTX_load_verify_locations(tls_ctx, cfg.tls_ca, NULL) != 1) die_tls("cannot load --tls-ca");
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
        X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(tls_ctx);
        /* The name we asked for (SNI), else the address we connected to, must be in the cert. */
        if (cfg.tls_sni ? X509_VERIFY_PARAM_set1_host(vp, cfg.tls_sni, 0) != 1
                        : X509_VERIFY_PARAM_set1_ip_asc(vp, cfg.target_host) != 1)
            die_tls("verify parameters");
    } else {
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    }
    if (cfg.tls_cert || cfg.tls_key) {
        if (!cfg.tls_cert || !cfg.tls_key) die("--tls-cert and --tls-key go together");
        if (SSL_CTX_use_certificate_chain_file(tls_ctx, cfg.tls_cert) != 1) die_tls("cannot load --tls-cert");
        if (SSL_CTX_use_PrivateKey_file(tls_ctx, cfg.tls_key, SSL_FILETYPE_PEM) != 1) die_tls("cannot load --tls-key");
        if (SSL_CTX_check_private_key(tls_ctx) != 1) die_tls("--tls-key does not match --tls-cert");
    }
    if (cfg.tls_resume) {
        SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(tls_ctx, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
    }
}

/* Why a TLS call failed, in a few words, counted per distinct reason (the first 10 are also
 * printed). Clears OpenSSL's error queue, which must be empty before the next call. */
static void tls_note_failure(agent_t *a, const char *phase, int err)
{
    int saved_errno = errno;
    char text[112];
    unsigned long e = ERR_peek_last_error();
    long verify = a->ssl ? SSL_get_verify_result(a->ssl) : X509_V_OK;
    if (e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK) {
        snprintf(text, sizeof text, "%s: certificate verify failed: %s", phase,
                 X509_verify_cert_error_string(verify));
    } else if (e) {
        const char *r = ERR_reason_error_string(e);
        snprintf(text, sizeof text, "%s: %s", phase, r ? r : "unknown OpenSSL error");
    } else if (err == SSL_ERROR_SYSCALL) {
        snprintf(text, sizeof text, "%s: %s", phase, saved_errno ? strerror(saved_errno) : "EOF from server");
    } else if (err == SSL_ERROR_ZERO_RETURN) {
        snprintf(text, sizeof text, "%s: close_notify from server", phase);
    } else {
        snprintf(text, sizeof text, "%s: SSL error %d", phase, err);
    }
    ERR_clear_error();
    int i;
    for (i = 0; i < TLS_REASONS_MAX && tls_reasons[i].count; i++)
        if (strcmp(tls_reasons[i].text, text) == 0) break;
    if (i == TLS_REASONS_MAX) {
        i = TLS_REASONS_MAX - 1;            /* table full: the last slot collects the rest */
        snprintf(tls_reasons[i].text, sizeof tls_reasons[i].text, "other");
    } else if (!tls_reasons[i].count) {
        snprintf(tls_reasons[i].text, sizeof tls_reasons[i].text, "%s", text);
    }
    tls_reasons[i].count++;
    if (tls_reason_reports++ < 10)
        fprintf(stderr, "opamp-load[%d]: TLS (agent %ld): %s\n", cfg.worker, (long)(a - agents), text);
}

/* ------------------------------------------------------------------------------------------ */
/* Socket output                                                                               */

static void epoll_update(agent_t *a)
{
    uint32_t ev = EPOLLIN | EPOLLRDHUP;
    if (a->state == A_CONNECTING || a->out_off < a->out_len || a->tls_want_write) ev |= EPOLLOUT;
    struct epoll_event e = {.events = ev, .data.u64 = (uint64_t)a->gen << 32 | (uint32_t)(a - agents)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, a->fd, &e);
}

/* Writes now if nothing is queued; keeps the rest for EPOLLOUT. Errors mark the agent broken
 * (handled after the current event, so callers deep in a parse never free what they read). */
static void tls_write(agent_t *a, const void *data, size_t len);
static void tls_flush(agent_t *a);

static void conn_write(agent_t *a, const void *data, size_t len)
{
    if (a->broken) return;
    if (__builtin_expect(cfg.tls, 0)) {
        tls_write(a, data, len);
        return;
    }
    size_t done = 0;
    if (a->out_off == a->out_len) {
        ssize_t n = send(a->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            a->broken = true;
            return;
        }
        done = n > 0 ? (size_t)n : 0;
        if (done == len) return;
    }
    bool was_idle = a->out_off == a->out_len;
    if (!buf_append(&a->out, &a->out_len, &a->out_cap, (const uint8_t *)data + done, len - done)) {
        a->broken = true;
        return;
    }
    if (was_idle) epoll_update(a);
}

static void conn_flush(agent_t *a)
{
    if (__builtin_expect(cfg.tls, 0)) {
        tls_flush(a);
        return;
    }
    while (a->out_off < a->out_len) {
        ssize_t n = send(a->fd, a->out + a->out_off, a->out_len - a->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            a->broken = true;
            return;
        }
        a->out_off += (uint32_t)n;
    }
    buf_free(&a->out, &a->out_len, &a->out_cap);
    a->out_off = 0;
    epoll_update(a);
}

/* TLS output: one record per call (SSL_write), partial writes kept in the same out buffer.
 * After WANT_WRITE, OpenSSL requires the retry to start with the same bytes: the out buffer
 * starts with exactly the bytes the failed call was given. */
static void tls_write(agent_t *a, const void *data, size_t len)
{
    size_t done = 0;
    if (a->out_off == a->out_len) {
        while (done < len) {
            int n = SSL_write(a->ssl, (const uint8_t *)data + done, (int)(len - done));
            if (n > 0) {
                done += (size_t)n;
                continue;
            }
            int err = SSL_get_error(a->ssl, n);
            if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) break;
            tls_note_failure(a, "write", err);
            a->broken = true;
            return;
        }
        if (done == len) return;
    }
    bool was_idle = a->out_off == a->out_len;
    if (!buf_append(&a->out, &a->out_len, &a->out_cap, (const uint8_t *)data + done, len - done)) {
        a->broken = true;
        return;
    }
    if (was_idle) epoll_update(a);
}

static void tls_flush(agent_t *a)
{
    while (a->out_off < a->out_len) {
        int n = SSL_write(a->ssl, a->out + a->out_off, (int)(a->out_len - a->out_off));
        if (n > 0) {
            a->out_off += (uint32_t)n;
            continue;
        }
        int err = SSL_get_error(a->ssl, n);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) return;
        tls_note_failure(a, "write", err);
        a->broken = true;
        return;
    }
    buf_free(&a->out, &a->out_len, &a->out_cap);
    a->out_off = 0;
    epoll_update(a);
}

/* One masked client frame (RFC 6455 §5.3: clients MUST mask). */
static void ws_send_frame(agent_t *a, int opcode, const uint8_t *payload, size_t len)
{
    static uint8_t frame[16 + 65536];
    if (len > 65535) return;  /* our messages are ~1.3 KB at most */
    size_t h = 0;
    frame[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        frame[h++] = (uint8_t)(0x80 | len);
    } else {
        frame[h++] = 0x80 | 126;
        frame[h++] = (uint8_t)(len >> 8);
        frame[h++] = (uint8_t)len;
    }
    uint32_t m = (uint32_t)rnd();
    uint8_t mask[4];
    memcpy(mask, &m, 4);
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        frame[h + i] = payload[i] ^ mask[i & 3];
    conn_write(a, frame, h + len);
}

/* ------------------------------------------------------------------------------------------ */
/* AgentToServer encoding (hand-written protobuf, OPAMP.md §3 and §5)                          */

/* The effective config file every agent reports (~1 KB of collector YAML). */
static const char config_yaml[] =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      grpc:\n"
    "        endpoint: 0.0.0.0:4317\n"
    "      http:\n"
    "        endpoint: 0.0.0.0:4318\n"
    "  hostmetrics:\n"
    "    collection_interval: 30s\n"
    "    scrapers:\n"
    "      cpu: {}\n"
    "      memory: {}\n"
    "      disk: {}\n"
    "      filesystem: {}\n"
    "      network: {}\n"
    "      load: {}\n"
    "processors:\n"
    "  batch:\n"
    "    send_batch_size: 8192\n"
    "    timeout: 5s\n"
    "  memory_limiter:\n"
    "    check_interval: 1s\n"
    "    limit_percentage: 80\n"
    "    spike_limit_percentage: 20\n"
    "  resourcedetection:\n"
    "    detectors: [env, system]\n"
    "    timeout: 2s\n"
    "exporters:\n"
    "  otlphttp:\n"
    "    endpoint: https://telemetry.example.internal:4318\n"
    "    compression: gzip\n"
    "    retry_on_failure:\n"
    "      enabled: true\n"
    "      initial_interval: 5s\n"
    "      max_interval: 30s\n"
    "extensions:\n"
    "  health_check:\n"
    "    endpoint: 127.0.0.1:13133\n"
    "  opamp:\n"
    "    server:\n"
    "      ws:\n"
    "        endpoint: ws://127.0.0.1:4320/v1/opamp\n"
    "service:\n"
    "  extensions: [health_check, opamp]\n"
    "  pipelines:\n"
    "    metrics:\n"
    "      receivers: [otlp, hostmetrics]\n"
    "      processors: [memory_limiter, resourcedetection, batch]\n"
    "      exporters: [otlphttp]\n"
    "    traces:\n"
    "      receivers: [otlp]\n"
    "      processors: [memory_limiter, batch]\n"
    "      exporters: [otlphttp]\n"
    "    logs:\n"
    "      receivers: [otlp]\n"
    "      processors: [memory_limiter, batch]\n"
    "      exporters: [otlphttp]\n";
#define CONFIG_YAML_LEN (sizeof config_yaml - 1)

/* KeyValue{key, AnyValue{string_value}} as field `field` of the enclosing message. */
static uint8_t *pb_kv_string(uint8_t *p, unsigned field, const char *key, const char *value)
{
    uint8_t tmp[256], *q = tmp;
    uint8_t any[160], *v = pb_str(any, 1, value);     /* AnyValue.string_value = 1 */
    q = pb_str(q, 1, key);                            /* KeyValue.key = 1 */
    q = pb_bytes(q, 2, any, (size_t)(v - any));       /* KeyValue.value = 2 */
    return pb_bytes(p, field, tmp, (size_t)(q - tmp));
}

/* Beyond the first three attributes, what a Collector in Kubernetes typically reports: most
 * values are the same across the fleet, a few are per pod or per node. */
static const char *const shared_attributes[][2] = {
    {"service.version", "0.116.0"},          {"service.namespace", "observability"},
    {"host.arch", "amd64"},                  {"os.description", "Debian GNU/Linux 12 (bookworm)"},
    {"os.version", "6.1.0-28-cloud-amd64"},  {"cloud.provider", "aws"},
    {"cloud.platform", "aws_eks"},           {"cloud.region", "eu-west-1"},
    {"k8s.cluster.name", "prod-eu-west-1"},  {"k8s.namespace.name", "observability"},
    {"k8s.deployment.name", "otel-gateway"}, {"deployment.environment", "production"},
    {"telemetry.sdk.language", "go"},
};
#define SHARED_ATTRIBUTES ((int)(sizeof shared_attributes / sizeof shared_attributes[0]))
#define MAX_ATTRIBUTES (3 + SHARED_ATTRIBUTES + 4)

static uint8_t *encode_description(uint8_t *p, agent_t *a)
{
    long i = (long)(a - agents);
    char host[64], text[96];
    snprintf(host, sizeof host, "loadgen-w%d-%ld", cfg.worker, i);
    uint8_t d[4096], *q = d;
    q = pb_kv_string(q, 1, "service.name", "otelcol-loadgen");  /* identifying_attributes */
    q = pb_kv_string(q, 2, "host.name", host);                    /* non_identifying_attributes */
    q = pb_kv_string(q, 2, "os.type", "linux");
    int extra = cfg.attributes - 3;
    for (int k = 0; k < extra && k < SHARED_ATTRIBUTES; k++)
        q = pb_kv_string(q, 2, shared_attributes[k][0], shared_attributes[k][1]);
    for (int k = SHARED_ATTRIBUTES; k < extra; k++) {
        switch (k - SHARED_ATTRIBUTES) {
        case 0:
            snprintf(text, sizeof text, "otel-gateway-7d9f8c6b5-w%d-%ld", cfg.worker, i);
            q = pb_kv_string(q, 2, "k8s.pod.name", text);
            break;
        case 1:
            snprintf(text, sizeof text, "ip-10-%d-%ld-%ld.eu-west-1.compute.internal", cfg.worker, i / 50 / 250,
                     i / 50 % 250);
            q = pb_kv_string(q, 2, "k8s.node.name", text);
            break;
        case 2:
            snprintf(text, sizeof text, "eu-west-1%c", "abc"[i % 3]);
            q = pb_kv_string(q, 2, "cloud.availability_zone", text);
            break;
        default:
            snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                     a->uid[0], a->uid[1], a->uid[2], a->uid[3], a->uid[4], a->uid[5], a->uid[6], a->uid[7],
                     a->uid[8], a->uid[9], a->uid[10], a->uid[11], a->uid[12], a->uid[13], a->uid[14], a->uid[15]);
            q = pb_kv_string(q, 2, "service.instance.id", text);
            break;
        }
    }
    return pb_bytes(p, 3, d, (size_t)(q - d));                    /* AgentToServer.agent_description */
}

static uint8_t *encode_effective_config(uint8_t *p, const agent_t *a)
{
    /* After a remote config was applied the effective config is the received map. */
    if (a->rc_status == RC_APPLIED && rc_map_ok && a->rc_hash_len == rc_latest_len &&
        memcmp(a->rc_hash, rc_latest, rc_latest_len) == 0) {
        size_t inner = pb_varint_len(1 << 3 | PB_LEN) + pb_varint_len(rc_map_len) + rc_map_len;
        p = pb_varint(pb_tag(p, 6, PB_LEN), inner);      /* AgentToServer.effective_config */
        return pb_bytes(p, 1, rc_map, rc_map_len);       /* EffectiveConfig.config_map */
    }
    /* Nested messages are built inside-out in stack buffers sized for the ~1 KB file. */
    uint8_t file[CONFIG_YAML_LEN + 64], *f = file;
    f = pb_bytes(f, 1, config_yaml, CONFIG_YAML_LEN);   /* AgentConfigFile.body */
    f = pb_str(f, 2, "text/yaml");                       /* AgentConfigFile.content_type */
    uint8_t entry[CONFIG_YAML_LEN + 128], *e = entry;                     /* map<string, AgentConfigFile> entry */
    e = pb_str(e, 1, "collector.yaml");
    e = pb_bytes(e, 2, file, (size_t)(f - file));
    uint8_t map[CONFIG_YAML_LEN + 160], *m = pb_bytes(map, 1, entry, (size_t)(e - entry));  /* AgentConfigMap.config_map */
    uint8_t eff[CONFIG_YAML_LEN + 192], *c = pb_bytes(eff, 1, map, (size_t)(m - map));      /* EffectiveConfig.config_map */
    return pb_bytes(p, 6, eff, (size_t)(c - eff));       /* AgentToServer.effective_config */
}

/* ComponentHealth{healthy, start_time, [last_error], status, status_time, [component_health_map]}.
 * The status time stays the start time even when unhealthy: a full status repeated later must
 * not look like a new health change to the server. */
static uint8_t *encode_component(uint8_t *p, uint64_t start_ns, bool healthy, const uint8_t *children, size_t clen)
{
    p = pb_uint(p, 1, healthy);                          /* healthy */
    p = pb_fixed64(p, 2, start_ns);                      /* start_time_unix_nano */
    if (!healthy) p = pb_str(p, 3, RC_UNHEALTHY_MARKER ": the pushed config made this pipeline fail");
    p = pb_str(p, 4, healthy ? "StatusOK" : "StatusRecoverableError");   /* status */
    p = pb_fixed64(p, 5, start_ns);                      /* status_time_unix_nano */
    if (clen) {
        memcpy(p, children, clen);
        p += clen;
    }
    return p;
}

/* A collector's health tree: the root and one component per pipeline; an unhealthy agent has
 * its metrics pipeline failing, and so the root. */
static uint8_t *encode_health(uint8_t *p, const agent_t *a)
{
    static const char *const names[] = {"pipeline:metrics", "pipeline:traces", "pipeline:logs"};
    uint8_t children[640], *c = children;
    for (int i = 0; i < 3; i++) {
        uint8_t comp[160], *q = encode_component(comp, t_start_unix_ns, !(a->unhealthy && i == 0), NULL, 0);
        uint8_t entry[160], *e = entry;
        e = pb_str(e, 1, names[i]);                      /* map entry key */
        e = pb_bytes(e, 2, comp, (size_t)(q - comp));    /* map entry value */
        c = pb_bytes(c, 6, entry, (size_t)(e - entry));  /* component_health_map */
    }
    uint8_t root[832], *r = encode_component(root, t_start_unix_ns, !a->unhealthy, children, (size_t)(c - children));
    return pb_bytes(p, 5, root, (size_t)(r - root));     /* AgentToServer.health */
}

/* RemoteConfigStatus{last_remote_config_hash, status} as AgentToServer field 7. */
static uint8_t *encode_rc_status(uint8_t *p, const agent_t *a, uint8_t status)
{
    if (status == RC_UNSET) return pb_bytes(p, 7, "", 0);   /* nothing applied yet */
    uint8_t st[RC_HASH_MAX + 16], *q = st;
    q = pb_bytes(q, 1, a->rc_hash, a->rc_hash_len);
    q = pb_uint(q, 2, status);
    return pb_bytes(p, 7, st, (size_t)(q - st));
}

enum msg_kind { MSG_HEARTBEAT, MSG_FULL, MSG_RC_STATUS, MSG_HEALTH };

/* Writes [0x00 OpAMP header][AgentToServer] into `buf` (the header only over WebSocket);
 * returns the length. `rc` is the status an MSG_RC_STATUS reports. */
static size_t encode_message(agent_t *a, uint8_t *buf, enum msg_kind kind, uint8_t rc)
{
    uint8_t *p = buf;
    if (!cfg.http) *p++ = 0;                       /* W1: varint header, value 0 */
    p = pb_bytes(p, 1, a->uid, 16);                /* instance_uid */
    p = pb_uint(p, 2, a->seq);                     /* sequence_num (0 is sent explicitly) */
    if (kind == MSG_FULL) p = encode_description(p, a);
    p = pb_uint(p, 4, AGENT_CAPABILITIES);         /* capabilities, always set */
    if (kind == MSG_FULL || kind == MSG_HEALTH) p = encode_health(p, a);
    if (kind == MSG_FULL || (kind == MSG_RC_STATUS && rc == RC_APPLIED)) p = encode_effective_config(p, a);
    if (kind == MSG_FULL) p = encode_rc_status(p, a, a->rc_status);
    if (kind == MSG_RC_STATUS) p = encode_rc_status(p, a, rc);
    return (size_t)(p - buf);
}

/* H1: one AgentToServer per POST on a keep-alive connection. */
static void http_send(agent_t *a, const uint8_t *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST /v1/opamp HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: opamp-load\r\n"
                     "Content-Type: application/x-protobuf\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n",
                     cfg.target_text, len);
    conn_write(a, head, (size_t)n);
    conn_write(a, body, len);
}

static void send_opamp_kind(agent_t *a, enum msg_kind kind, uint8_t rc, uint64_t now)
{
    static uint8_t buf[RC_MAP_MAX + 4096];
    size_t len = encode_message(a, buf, kind, rc);
    if (cfg.http) http_send(a, buf, len);
    else ws_send_frame(a, WS_OP_BINARY, buf, len);
    if (a->broken) return;
    a->seq++;
    ctr.msgs_sent++;
    if (kind == MSG_FULL) {
        a->need_full = false;
        a->need_full_now = false;
        a->health_send = false;    /* a full status carries the health */
    }
    /* Remember the send time; replies come back in order on one connection (S1). */
    unsigned slot = (a->pend_head + a->pend_count) % PENDING_MAX;
    uint8_t bit = (uint8_t)(1u << slot);
    a->pend_ns[slot] = now;
    a->pend_full = kind == MSG_FULL ? (a->pend_full | bit) : (a->pend_full & (uint8_t)~bit);
    a->pend_other = kind == MSG_RC_STATUS || kind == MSG_HEALTH ? (a->pend_other | bit)
                                                                 : (a->pend_other & (uint8_t)~bit);
    a->pend_count++;
}

static void send_opamp(agent_t *a, bool full, uint64_t now)
{
    send_opamp_kind(a, full ? MSG_FULL : MSG_HEARTBEAT, 0, now);
}

/* Sends what replies asked for: a full status (ReportFullState), then the remote config
 * statuses APPLYING and APPLIED, then the health the applied config left the agent in.
 * WebSocket sends them at once; HTTP has one request in flight, so the rest waits for the
 * next response. */
static void send_queued(agent_t *a, uint64_t now)
{
    while (!a->broken && a->fd >= 0 && a->state == A_OPEN && a->pend_count < PENDING_MAX - 1) {
        if (cfg.http && a->pend_count) return;
        if (a->need_full_now) {
            send_opamp_kind(a, MSG_FULL, 0, now);
        } else if (a->rc_send == RC_APPLYING) {
            a->rc_status = RC_APPLYING;
            send_opamp_kind(a, MSG_RC_STATUS, RC_APPLYING, now);
            a->rc_send = RC_APPLIED;
        } else if (a->rc_send == RC_FAILED) {
            a->rc_status = RC_FAILED;
            send_opamp_kind(a, MSG_RC_STATUS, RC_FAILED, now);
            a->rc_send = RC_UNSET;
            if (a->broken) return;
            ctr.rc_failed++;
            if (a->rc_rollback) {
                a->rc_rollback = false;
                a->rc_refused = true;
                memcpy(a->rc_hash, rc_previous, rc_previous_len);
                a->rc_hash_len = rc_previous_len;
                a->rc_send = RC_ROLLED_BACK;
            }
        } else if (a->rc_send == RC_ROLLED_BACK) {
            a->rc_status = RC_APPLIED;
            send_opamp_kind(a, MSG_RC_STATUS, RC_APPLIED, now);
            a->rc_send = RC_UNSET;
            if (a->broken) return;
            ctr.rc_rolled_back++;
        } else if (a->rc_send == RC_APPLIED) {
            a->rc_status = RC_APPLIED;
            send_opamp_kind(a, MSG_RC_STATUS, RC_APPLIED, now);
            a->rc_send = RC_UNSET;
            if (a->broken) return;
            /* The health changes with the config only once it is applied: told next. */
            if (a->unhealthy != a->unhealthy_next) a->health_send = true;
            a->unhealthy = a->unhealthy_next;
            ctr.rc_applied++;
            if (a->rc_hash_len == rc_latest_len && memcmp(a->rc_hash, rc_latest, rc_latest_len) == 0 &&
                ++rc_agents_applied == cfg.agents && !rc_all_ns)
                rc_all_ns = now;
        } else if (a->health_send) {
            /* A message of its own after APPLIED, as a collector notices a broken pipeline
             * only once the config runs: the server sees the agent applied, then unhealthy. */
            send_opamp_kind(a, MSG_HEALTH, 0, now);
            a->health_send = false;
            if (a->broken) return;
            if (a->unhealthy) ctr.unhealthy_reports++;
        } else {
            return;
        }
    }
}

/* An AgentRemoteConfig{config = 1, config_hash = 2} from the server: applied at once, then
 * reported APPLYING and APPLIED with the server's hash. */
static void apply_remote_config(agent_t *a, const uint8_t *p, size_t len, uint64_t now)
{
    const uint8_t *end = p + len, *map = NULL, *hash = NULL;
    size_t map_len = 0, hash_len = 0;
    pb_field_t f;
    while (pb_next(&p, end, &f) > 0) {
        if (f.field == 1 && f.wire == PB_LEN) { map = f.data; map_len = f.len; }
        if (f.field == 2 && f.wire == PB_LEN) { hash = f.data; hash_len = f.len; }
    }
    ctr.rc_received++;
    if (!hash || hash_len == 0 || hash_len > RC_HASH_MAX) {
        report_violation(a, "remote_config without a usable config_hash");
        return;
    }
    if (rc_newest_len != hash_len || memcmp(rc_newest, hash, hash_len) != 0) {
        memcpy(rc_newest, hash, hash_len);
        rc_newest_len = (uint8_t)hash_len;
        rc_newest_ns = now;
    }
    if (map && memmem(map, map_len, RC_STALL_MARKER, sizeof RC_STALL_MARKER - 1)) {
        /* Left as if never received: the agent keeps reporting what it ran before. */
        if (!a->rc_stalling) ctr.rc_stalled++;
        a->rc_stalling = true;
        return;
    }
    a->rc_stalling = false;
    /* The server must offer its config again while the agent reports another hash (the old
     * one, after a rollback); the Supervisor keeps the last config it received and ignores an
     * offer of the same hash, so it does not fail it again in a loop. */
    if (a->rc_refused && rc_latest_len == hash_len && memcmp(rc_latest, hash, hash_len) == 0) {
        ctr.rc_repeats++;
        return;
    }
    a->rc_refused = false;
    if (a->rc_hash_len == hash_len && memcmp(a->rc_hash, hash, hash_len) == 0 &&
        (a->rc_status != RC_UNSET || a->rc_send != RC_UNSET)) {
        ctr.rc_repeats++;    /* already applied or being applied: nothing new to report */
        return;
    }
    if (rc_latest_len != hash_len || memcmp(rc_latest, hash, hash_len) != 0) {
        /* A new config for this worker: "applied" is counted against it from now on. */
        memcpy(rc_previous, rc_latest, rc_latest_len);
        rc_previous_len = rc_latest_len;
        memcpy(rc_latest, hash, hash_len);
        rc_latest_len = (uint8_t)hash_len;
        rc_map_ok = map && map_len <= RC_MAP_MAX;
        rc_map_len = rc_map_ok ? map_len : 0;
        if (rc_map_ok) memcpy(rc_map, map, map_len);
        rc_agents_applied = 0;
        rc_first_ns = now;
        rc_all_ns = 0;
    }
    bool rolls = map && memmem(map, map_len, RC_ROLLBACK_MARKER, sizeof RC_ROLLBACK_MARKER - 1) != NULL;
    /* Only an agent that runs what the worker was sent before has that config to go back to. */
    a->rc_rollback = rolls && a->rc_status == RC_APPLIED && rc_previous_len && a->rc_hash_len == rc_previous_len &&
                     memcmp(a->rc_hash, rc_previous, rc_previous_len) == 0;
    memcpy(a->rc_hash, hash, hash_len);
    a->rc_hash_len = (uint8_t)hash_len;
    bool fails = rolls || (map && memmem(map, map_len, RC_FAIL_MARKER, sizeof RC_FAIL_MARKER - 1) != NULL);
    a->rc_send = fails ? RC_FAILED : RC_APPLYING;
    if (!fails)
        a->unhealthy_next = map && memmem(map, map_len, RC_UNHEALTHY_MARKER, sizeof RC_UNHEALTHY_MARKER - 1) != NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Connection lifecycle                                                                        */

static void conn_release(agent_t *a)
{
    if (a->ssl) {
        SSL_free(a->ssl);          /* no close_notify: the connection is dropped or failed */
        a->ssl = NULL;
        a->tls_want_write = false;
        a->hs_pending = false;
    }
    if (a->fd >= 0) close(a->fd);  /* close also removes it from the epoll set */
    a->fd = -1;
    if (a->state == A_CONNECTING || a->state == A_HANDSHAKE || a->state == A_TLS) n_inflight--;
    if (a->state == A_OPEN) n_ws_open--;
    if (a->got_first_reply) n_ready--;
    a->got_first_reply = false;
    a->broken = false;
    a->pend_count = 0;
    a->frag_active = 0;
    a->need_full_now = false;
    if (a->rc_send == RC_APPLIED) a->rc_send = RC_APPLYING;   /* report again after reconnecting */
    buf_free(&a->in, &a->in_len, &a->in_cap);
    buf_free(&a->out, &a->out_len, &a->out_cap);
    buf_free(&a->frag, &a->frag_len, &a->frag_cap);
    a->out_off = 0;
    timer_cancel(a);
}

/* Tears the connection down and schedules a reconnect with backoff. `error` separates
 * failures from orderly closes the server asked for. */
static void conn_retry_later(agent_t *a, bool error, uint64_t now)
{
    if (error) ctr.errors++;
    conn_release(a);
    a->attempts++;
    a->state = A_IDLE;
    timer_set(a, T_RECONNECT, now + backoff_ns(a));
}

/* Round robin by default; with ADDR=COUNT, consecutive blocks, so a driver can split one
 * address between two workers and still keep every address under its ~10 000 budget. */
static struct in_addr source_for(uint32_t idx)
{
    if (cfg.source_count[0] == 0) return cfg.sources[idx % (uint32_t)cfg.nsources];
    for (int i = 0; i < cfg.nsources; i++) {
        if (idx < cfg.source_count[i]) return cfg.sources[i];
        idx -= cfg.source_count[i];
    }
    return cfg.sources[cfg.nsources - 1];
}

static void conn_start(agent_t *a, uint64_t now)
{
    if (a->ever_connected) ctr.reconnects++;
    a->ever_connected = true;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ctr.connect_errors++;
        conn_retry_later(a, true, now);
        return;
    }
    int one = 1;
    /* Bind only the address: the port is chosen at connect() time per destination, so the
     * 4-tuple, not the source port alone, must be unique; above ~10 000 connections per source/destination pair connect() slows ~15x. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = source_for((uint32_t)(a - agents))};
    a->fd = fd;
    a->gen++;
    a->state = A_CONNECTING;
    a->conn_ns = now;
    n_inflight++;
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(fd, (struct sockaddr *)&cfg.target, sizeof cfg.target) < 0 && errno != EINPROGRESS)) {
        ctr.connect_errors++;
        conn_retry_later(a, true, now);
        return;
    }
    struct epoll_event e = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP,
                            .data.u64 = (uint64_t)a->gen << 32 | (uint32_t)(a - agents)};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
    timer_set(a, T_CONNECT_TIMEOUT, now + CONNECT_TIMEOUT_NS);
}

static void send_upgrade(agent_t *a)
{
    uint8_t raw[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rnd();
        memcpy(raw + i, &r, 8);
    }
    base64_encode(raw, 16, a->key);   /* 24 characters */
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /v1/opamp HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "User-Agent: opamp-load\r\n"
                     "\r\n",
                     cfg.target_text, a->key);
    conn_write(a, req, (size_t)n);
}

static void on_ws_open(agent_t *a, uint64_t now);
static void hs_complete(agent_t *a, uint64_t now);
static void tls_start(agent_t *a, uint64_t now);

/* The byte stream to the server is ready (TCP connected, or the TLS handshake done). */
static void transport_ready(agent_t *a, uint64_t now)
{
    if (cfg.handshake_mode && !cfg.hs_upgrade) {
        hs_complete(a, now);
        return;
    }
    if (cfg.http) {          /* no upgrade: the first POST is the handshake */
        on_ws_open(a, now);
        epoll_update(a);
        return;
    }
    a->state = A_HANDSHAKE;
    epoll_update(a);
    send_upgrade(a);
}

static void on_connected(agent_t *a, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        ctr.connect_errors++;
        conn_retry_later(a, true, now);
        return;
    }
    if (cfg.tls) tls_start(a, now);
    else transport_ready(a, now);
}

/* One step of the client handshake; called again on every event until it is done. */
static void tls_handshake_step(agent_t *a, uint64_t now)
{
    int r = SSL_do_handshake(a->ssl);
    if (r == 1) {
        a->tls_want_write = false;
        a->tls_reused = SSL_session_reused(a->ssl);
        if (!a->tls_reused && a->tls_offered) ctr.tls_declined++;  /* the server chose a full one */
        if (!cfg.handshake_mode) {   /* handshake mode counts once the server accepted it */
            if (a->tls_reused) ctr.tls_resumed++;
            else ctr.tls_full++;
        }
        transport_ready(a, now);
        return;
    }
    int err = SSL_get_error(a->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        bool ww = err == SSL_ERROR_WANT_WRITE;
        if (ww != a->tls_want_write) {
            a->tls_want_write = ww;
            epoll_update(a);
        }
        return;
    }
    ctr.tls_errors++;
    tls_note_failure(a, "handshake", err);
    conn_retry_later(a, true, now);
}

static void tls_start(agent_t *a, uint64_t now)
{
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl || SSL_set_fd(ssl, a->fd) != 1) {
        if (ssl) SSL_free(ssl);
        ctr.tls_errors++;
        tls_note_failure(a, "setup", SSL_ERROR_SSL);
        conn_retry_later(a, true, now);
        return;
    }
    SSL_set_connect_state(ssl);
    if (cfg.tls_sni) SSL_set_tlsext_host_name(ssl, cfg.tls_sni);
    if (tls_session) {
        /* A copy per connection, so that OpenSSL marking it not resumable (see on_new_session)
         * leaves the worker's ticket usable. */
        SSL_SESSION *own = SSL_SESSION_dup(tls_session);
        a->tls_offered = own && SSL_set_session(ssl, own) == 1;
        if (own) SSL_SESSION_free(own);   /* the SSL holds its own reference */
    } else {
        a->tls_offered = false;
    }
    a->ssl = ssl;
    a->state = A_TLS;
    a->tls_want_write = true;     /* EPOLLOUT is still registered from the connect */
    tls_handshake_step(a, now);
}

/* Handshake mode: a cycle is done (TCP, TLS, upgrade as asked). Close it and start the next
 * one at once: with TLS, close_notify and our FIN go out and we read until the server closes
 * too (that is also where TLS 1.3 session tickets arrive); plain sockets just close. */
static void hs_recycle(agent_t *a, uint64_t now)
{
    (void)now;
    conn_release(a);
    enqueue_connect(a);
}

/* A cycle the server accepted: counted, its time (connect to done) into the histogram. */
static void hs_account(agent_t *a)
{
    uint64_t us = a->conn_ns / 1000;
    hist_add(&hist_interval, us);
    hist_add(&hist_total, us);
    ctr.handshakes++;
    a->attempts = 0;
    a->hs_pending = false;
    if (a->ssl) {
        if (a->tls_reused) ctr.tls_resumed++;
        else ctr.tls_full++;
    }
}

/* In TLS 1.3 the client finishes first: a server that refuses its certificate says so in an
 * alert after that. So a bare handshake counts once the server closed without an alert (or
 * kept quiet for 2 s); one that went on to a 101 counts at once. */
static void hs_complete(agent_t *a, uint64_t now)
{
    a->conn_ns = now - a->conn_ns;
    n_inflight--;
    a->state = A_CLOSING;         /* no longer in flight: conn_release must not count it */
    timer_cancel(a);
    if (cfg.hs_upgrade || !a->ssl) hs_account(a);
    else a->hs_pending = true;
    if (a->ssl) {
        if (SSL_shutdown(a->ssl) < 0) ERR_clear_error();
        shutdown(a->fd, SHUT_WR);
        a->tls_want_write = false;
        buf_free(&a->in, &a->in_len, &a->in_cap);
        epoll_update(a);
        timer_set(a, T_CONNECT_TIMEOUT, now + CLOSE_WAIT_NS);
        return;
    }
    hs_recycle(a, now);
}

static uint8_t scratch[65536];   /* receive buffer shared by every connection */

static void closing_read(agent_t *a, uint64_t now)
{
    int err;
    for (;;) {
        int n = SSL_read(a->ssl, scratch, sizeof scratch);
        if (n > 0) continue;          /* nothing is expected; discarded */
        err = SSL_get_error(a->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
        break;                        /* close_notify, EOF, reset or an alert: the server is done */
    }
    if (a->hs_pending) {
        unsigned long e = ERR_peek_last_error();
        if (err == SSL_ERROR_SSL && e && ERR_GET_REASON(e) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ctr.tls_errors++;         /* an alert: the server refused the handshake */
            tls_note_failure(a, "handshake (server's answer)", err);
            conn_retry_later(a, true, now);
            return;
        }
        hs_account(a);
    }
    ERR_clear_error();
    hs_recycle(a, now);
}

/* The heartbeat phase is random so 20 000 agents do not tick in lockstep. */
static void on_ws_open(agent_t *a, uint64_t now)
{
    a->state = A_OPEN;
    n_inflight--;
    n_ws_open++;
    timer_set(a, T_HEARTBEAT, now + (uint64_t)(rnd_unit() * cfg.heartbeat_s * 1e9));
    send_opamp(a, true, now);  /* S2: the first message is a full status report */
}

static void send_close(agent_t *a, uint16_t code)
{
    uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    ws_send_frame(a, WS_OP_CLOSE, body, 2);
}

/* ------------------------------------------------------------------------------------------ */
/* ServerToAgent checks                                                                        */

typedef struct {
    bool has_uid, uid_ok, has_caps, has_error;
    uint64_t caps, flags, error_type, retry_after_ns;
    const uint8_t *remote_config;   /* AgentRemoteConfig bytes, NULL if absent */
    size_t remote_config_len;
} reply_t;

static uint64_t retry_after_from_error(const uint8_t *p, size_t len)
{
    /* ServerErrorResponse.retry_info = 3 → RetryInfo.retry_after_nanoseconds = 1 */
    const uint8_t *end = p + len;
    pb_field_t f;
    while (pb_next(&p, end, &f) > 0) {
        if (f.field == 3 && f.wire == PB_LEN) {
            const uint8_t *q = f.data, *qe = f.data + f.len;
            pb_field_t g;
            while (pb_next(&q, qe, &g) > 0)
                if (g.field == 1 && g.wire == PB_VARINT) return g.value;
        }
    }
    return 0;
}

static uint64_t error_type_from_error(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    pb_field_t f;
    while (pb_next(&p, end, &f) > 0)
        if (f.field == 1 && f.wire == PB_VARINT) return f.value;
    return 0;
}

static bool parse_reply(agent_t *a, const uint8_t *p, size_t len, reply_t *r)
{
    memset(r, 0, sizeof *r);
    const uint8_t *end = p + len;
    pb_field_t f;
    int rc;
    while ((rc = pb_next(&p, end, &f)) > 0) {
        if (f.field == 1 && f.wire == PB_LEN) {
            r->has_uid = true;
            r->uid_ok = f.len == 16 && memcmp(f.data, a->uid, 16) == 0;
        } else if (f.field == 2 && f.wire == PB_LEN) {
            r->has_error = true;
            r->error_type = error_type_from_error(f.data, f.len);
            r->retry_after_ns = retry_after_from_error(f.data, f.len);
        } else if (f.field == 3 && f.wire == PB_LEN) {   /* ServerToAgent.remote_config */
            r->remote_config = f.data;
            r->remote_config_len = f.len;
        } else if (f.field == 6 && f.wire == PB_VARINT) {
            r->flags = f.value;
        } else if (f.field == 7 && f.wire == PB_VARINT) {
            r->has_caps = true;
            r->caps = f.value;
        }
    }
    return rc == 0;
}

/* Pops the send time of the message this reply answers and records the latency. Returns
 * whether that message was a full status, or -1 for an unsolicited message (W5 allows
 * server-initiated messages; they are counted, not timed). */
static int match_pending(agent_t *a, uint64_t now)
{
    if (a->pend_count == 0) {
        ctr.unsolicited++;
        return -1;
    }
    unsigned slot = a->pend_head;
    bool full = a->pend_full & (1u << slot);
    bool other = a->pend_other & (1u << slot);
    uint64_t us = (now - a->pend_ns[slot]) / 1000;
    a->pend_head = (uint8_t)((a->pend_head + 1) % PENDING_MAX);
    a->pend_count--;
    if (full) {
        hist_add(&hist_status_total, us);
    } else if (other) {
        /* remote config statuses: not heartbeats, not timed */
    } else {
        hist_add(&hist_interval, us);
        hist_add(&hist_total, us);
    }
    return full;
}

static void handle_server_error(agent_t *a, const reply_t *r, uint64_t now)
{
    ctr.server_errors++;
    if (r->error_type == SERVER_ERROR_UNAVAILABLE) {
        /* S6: disconnect, wait (RetryInfo or backoff), reconnect. */
        if (r->retry_after_ns) a->retry_after_ms = (uint32_t)(r->retry_after_ns / 1000000);
        send_close(a, 1000);
        conn_retry_later(a, true, now);
        a->broken = false;
    }
}

/* One complete OpAMP message from the server (WebSocket payloads start with the W1 header,
 * HTTP bodies do not). Returns false if the connection was closed. */
static bool handle_message(agent_t *a, const uint8_t *p, size_t len, uint64_t now)
{
    ctr.replies++;
    uint64_t header;
    const uint8_t *end = p + len;
    if (!cfg.http && (!pb_read_varint(&p, end, &header) || header != 0)) {
        report_violation(a, "OpAMP header missing or not 0 (W1)");
        return true;
    }
    int answered = match_pending(a, now);
    reply_t r;
    if (!parse_reply(a, p, (size_t)(end - p), &r))
        report_violation(a, "ServerToAgent is not valid protobuf");
    if (!r.has_uid || !r.uid_ok)
        report_violation(a, r.has_uid ? "instance_uid differs from the agent's (S3)"
                                      : "instance_uid missing (S3)");
    if (r.has_error) {
        handle_server_error(a, &r, now);
        return a->fd >= 0;
    }
    if (!a->got_first_reply) {
        a->got_first_reply = true;
        n_ready++;
        ctr.handshakes++;
        if (n_ready == cfg.agents) {
            if (!all_ready_ns) all_ready_ns = now;
            last_all_ready_ns = now;
            if (storm_ns && !storm_back_ns) storm_back_ns = now;
        }
        a->attempts = 0;   /* a full OpAMP handshake succeeded: reset the backoff */
        if (!r.has_caps || !(r.caps & SERVER_CAP_ACCEPTS_STATUS))
            report_violation(a, "first reply lacks capabilities with AcceptsStatus (S4)");
    }
    if (r.flags & SERVER_FLAG_REPORT_FULL_STATE) {
        ctr.full_state_requests++;
        /* Answer at once unless the request came in reply to a full status: then wait for
         * the next heartbeat, so a server asking every time cannot start a ping-pong (S25). */
        if (answered == 0) a->need_full_now = true;
        else a->need_full = true;
    }
    if (r.remote_config) apply_remote_config(a, r.remote_config, r.remote_config_len, now);
    send_queued(a, now);
    return a->fd >= 0;
}

static void handle_server_close(agent_t *a, const uint8_t *p, size_t len, uint64_t now)
{
    /* Echo the status code (RFC 6455 §5.5.1), then honour the close: back off, reconnect. */
    uint16_t code = len >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 1000;
    send_close(a, code);
    ctr.server_closes++;
    conn_retry_later(a, false, now);
}

/* Parses complete frames from buf; returns bytes consumed, or -1 if the connection ended. */
static ssize_t parse_frames(agent_t *a, const uint8_t *buf, size_t len, uint64_t now)
{
    size_t off = 0;
    while (len - off >= 2 && !a->broken) {
        const uint8_t *f = buf + off;
        uint8_t op = f[0] & 0x0f;
        bool fin = f[0] & 0x80;
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
        if ((f[0] & 0x70) || (f[1] & 0x80) || plen > MAX_MESSAGE ||
            ((op & 0x8) && (!fin || plen > 125))) {
            report_violation(a, "bad WebSocket frame from server (RSV, mask, size or control frame)");
            a->broken = true;
            return -1;
        }
        if (len - off - h < plen) break;   /* incomplete: wait for more bytes */
        const uint8_t *payload = f + h;
        off += h + (size_t)plen;

        switch (op) {
        case WS_OP_BINARY:
        case WS_OP_CONT:
            if ((op == WS_OP_BINARY) == (a->frag_active != 0)) {
                report_violation(a, "bad fragmentation from server");
                a->broken = true;
                return -1;
            }
            if (fin && !a->frag_active) {
                if (!handle_message(a, payload, (size_t)plen, now)) return -1;
                break;
            }
            /* Fragmented message: collect, deliver at FIN. Rare, so it may allocate. */
            a->frag_active = 1;
            if (!buf_append(&a->frag, &a->frag_len, &a->frag_cap, payload, (size_t)plen)) {
                a->broken = true;
                return -1;
            }
            if (fin) {
                a->frag_active = 0;
                bool alive = handle_message(a, a->frag, a->frag_len, now);
                if (!alive) return -1;
                buf_free(&a->frag, &a->frag_len, &a->frag_cap);
            }
            break;
        case WS_OP_CLOSE:
            handle_server_close(a, payload, (size_t)plen, now);
            return -1;
        case WS_OP_PING:
            ws_send_frame(a, WS_OP_PONG, payload, (size_t)plen);
            break;
        case WS_OP_PONG:
            break;
        case WS_OP_TEXT:
            report_violation(a, "text frame from server (W1: OpAMP messages are binary)");
            break;
        default:
            report_violation(a, "unknown WebSocket opcode from server");
            a->broken = true;
            return -1;
        }
        if (a->fd < 0) return -1;  /* closed while handling (e.g. UNAVAILABLE) */
    }
    return (ssize_t)off;
}

/* ------------------------------------------------------------------------------------------ */
/* Handshake response                                                                          */

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

/* Returns bytes of the response head consumed (frames may follow), 0 if incomplete, -1 on
 * failure (already handled). */
static ssize_t parse_upgrade_response(agent_t *a, uint8_t *buf, size_t len, uint64_t now)
{
    uint8_t *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > 16384) {
            conn_retry_later(a, true, now);
            return -1;
        }
        return 0;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    char head[16385];
    if (head_len >= sizeof head) {
        conn_retry_later(a, true, now);
        return -1;
    }
    memcpy(head, buf, head_len);
    head[head_len] = 0;

    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1 || status != 101) {
        /* S6: 503/429 may carry Retry-After (seconds) for the reconnect attempt. */
        size_t vlen;
        const char *ra = find_header(head, "Retry-After", &vlen);
        if (ra) a->retry_after_ms = (uint32_t)(atoi(ra) * 1000);
        ctr.rejected++;
        conn_retry_later(a, true, now);
        return -1;
    }
    size_t vlen = 0;
    const char *accept = find_header(head, "Sec-WebSocket-Accept", &vlen);
    char want[29];
    ws_accept_for_key(a->key, 24, want);
    if (!accept || vlen != 28 || memcmp(accept, want, 28) != 0) {
        report_violation(a, accept ? "wrong Sec-WebSocket-Accept" : "101 without Sec-WebSocket-Accept");
        conn_retry_later(a, true, now);
        return -1;
    }
    if (cfg.handshake_mode) {
        hs_complete(a, now);
        return -1;
    }
    on_ws_open(a, now);
    return (ssize_t)head_len;
}

/* ------------------------------------------------------------------------------------------ */
/* Plain-HTTP responses (--transport http)                                                     */

/* Parses complete responses from buf; returns bytes consumed, or -1 if the connection ended.
 * Bodies need Content-Length (no chunked encoding: the agent asks for none). */
static ssize_t parse_http_responses(agent_t *a, const uint8_t *buf, size_t len, uint64_t now)
{
    size_t off = 0;
    while (off < len && !a->broken) {
        const uint8_t *end = memmem(buf + off, len - off, "\r\n\r\n", 4);
        if (!end) {
            if (len - off > 16384) {
                report_violation(a, "HTTP response head over 16 KiB");
                a->broken = true;
                return -1;
            }
            break;
        }
        size_t head_len = (size_t)(end - (buf + off)) + 4;
        char head[16385];
        if (head_len >= sizeof head) {
            a->broken = true;
            return -1;
        }
        memcpy(head, buf + off, head_len);
        head[head_len] = 0;
        int status = 0;
        if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
            report_violation(a, "malformed HTTP status line");
            a->broken = true;
            return -1;
        }
        size_t vlen = 0;
        const char *cl = find_header(head, "Content-Length", &vlen);
        if (!cl) {
            report_violation(a, "HTTP response without Content-Length");
            a->broken = true;
            return -1;
        }
        size_t body_len = (size_t)strtoull(cl, NULL, 10);
        if (body_len > MAX_MESSAGE) {
            report_violation(a, "HTTP response body over the message limit");
            a->broken = true;
            return -1;
        }
        if (len - off - head_len < body_len) break;   /* incomplete: wait for more bytes */
        const uint8_t *body = buf + off + head_len;
        off += head_len + body_len;
        const char *conn = find_header(head, "Connection", &vlen);
        bool closing = conn && vlen == 5 && strncasecmp(conn, "close", 5) == 0;
        if (status != 200) {
            /* S6: 503/429 may carry Retry-After (seconds) for the next attempt. */
            const char *ra = find_header(head, "Retry-After", &vlen);
            if (ra) a->retry_after_ms = (uint32_t)(atoi(ra) * 1000);
            if (status == 503 || status == 429) ctr.rejected++;
            else ctr.http_errors++;
            conn_retry_later(a, true, now);
            return -1;
        }
        if (!handle_message(a, body, body_len, now)) return -1;
        if (closing) {
            /* The server ends keep-alive: reconnect, like a polling client would. */
            ctr.server_closes++;
            conn_retry_later(a, false, now);
            return -1;
        }
    }
    return (ssize_t)off;
}

/* ------------------------------------------------------------------------------------------ */
/* Input                                                                                       */

/* Feeds received bytes to the handshake or frame parser. Only leftovers (a partial frame)
 * are copied into a per-agent buffer, so idle agents hold no input memory. */
static void consume_input(agent_t *a, uint8_t *data, size_t len, uint64_t now)
{
    uint8_t *buf = data;
    size_t blen = len;
    if (a->in_len) {
        if (!buf_append(&a->in, &a->in_len, &a->in_cap, data, len)) {
            a->broken = true;
            return;
        }
        buf = a->in;
        blen = a->in_len;
    }
    size_t off = 0;
    if (a->state == A_HANDSHAKE) {
        ssize_t n = parse_upgrade_response(a, buf, blen, now);
        if (n < 0) return;
        off = (size_t)n;
    }
    if (a->state == A_OPEN && off < blen) {
        ssize_t n = cfg.http ? parse_http_responses(a, buf + off, blen - off, now)
                             : parse_frames(a, buf + off, blen - off, now);
        if (n < 0 || a->fd < 0) return;
        off += (size_t)n;
    }
    if (a->fd < 0 || a->broken) return;
    size_t rest = blen - off;
    if (buf == a->in) {
        memmove(a->in, a->in + off, rest);
        a->in_len = (uint32_t)rest;
        if (rest == 0) buf_free(&a->in, &a->in_len, &a->in_cap);
    } else if (rest && !buf_append(&a->in, &a->in_len, &a->in_cap, buf + off, rest)) {
        a->broken = true;
    }
}

static void tls_readable(agent_t *a, uint64_t now)
{
    for (;;) {
        int n = SSL_read(a->ssl, scratch, sizeof scratch);
        if (n > 0) {
            consume_input(a, scratch, (size_t)n, now);
            if (a->fd < 0 || a->broken || a->state == A_CLOSING) return;
            /* read-ahead may hold more records than SSL_read returned: epoll would not
             * report them again, so keep going until OpenSSL's buffer is empty */
            if (!SSL_has_pending(a->ssl)) return;
            continue;
        }
        int err = SSL_get_error(a->ssl, n);
        if (err == SSL_ERROR_WANT_READ) return;
        if (err == SSL_ERROR_WANT_WRITE) {
            a->tls_want_write = true;
            epoll_update(a);
            return;
        }
        if (err == SSL_ERROR_SSL && !a->got_first_reply) {
            ctr.tls_errors++;         /* e.g. a TLS 1.3 server refusing our certificate */
            tls_note_failure(a, "handshake (server's answer)", err);
        } else {
            tls_note_failure(a, "read", err);
        }
        a->broken = true;             /* close_notify, EOF or a reset without a Close frame */
        return;
    }
}

static void on_readable(agent_t *a, uint64_t now)
{
    if (__builtin_expect(cfg.tls, 0)) {
        tls_readable(a, now);
        return;
    }
    for (;;) {
        ssize_t n = recv(a->fd, scratch, sizeof scratch, 0);
        if (n > 0) {
            consume_input(a, scratch, (size_t)n, now);
            if (a->fd < 0 || a->broken || (size_t)n < sizeof scratch) return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        a->broken = true;  /* EOF without a close frame, or a reset */
        return;
    }
}

static void on_event(struct epoll_event *e, uint64_t now)
{
    agent_t *a = &agents[(uint32_t)e->data.u64];
    if (a->fd < 0 || a->gen != (uint32_t)(e->data.u64 >> 32)) return;  /* stale */
    if (a->state == A_CONNECTING) {
        if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(a, now);
    } else if (a->state == A_TLS) {
        tls_handshake_step(a, now);
    } else if (a->state == A_CLOSING) {
        closing_read(a, now);
    } else {
        if (__builtin_expect(a->tls_want_write, 0) && (e->events & EPOLLOUT)) {
            a->tls_want_write = false;      /* an SSL_read that needed to write: retry it */
            epoll_update(a);
            e->events |= EPOLLIN;
        }
        if (e->events & EPOLLOUT) conn_flush(a);
        if (a->fd >= 0 && !a->broken && (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            on_readable(a, now);
    }
    if (a->fd >= 0 && a->broken) conn_retry_later(a, true, now);
}

/* ------------------------------------------------------------------------------------------ */
/* Timers                                                                                      */

static void heartbeat(agent_t *a, uint64_t now)
{
    uint64_t period = (uint64_t)(cfg.heartbeat_s * 1e9);
    uint64_t next = a->due_ns + period;
    if (next <= now) next = now + period;
    timer_set(a, T_HEARTBEAT, next);
    if (a->pend_count && now - a->pend_ns[a->pend_head] > (uint64_t)(cfg.reply_timeout_s * 1e9)) {
        ctr.timeouts++;          /* the server stopped answering this connection */
        conn_retry_later(a, true, now);
        return;
    }
    if (a->pend_count == PENDING_MAX || (cfg.http && a->pend_count)) {
        ctr.hb_skipped++;        /* replies lag behind (HTTP: a poll is in flight): skip */
        return;
    }
    send_opamp(a, a->need_full, now);
    if (a->broken) conn_retry_later(a, true, now);
}

static void timer_fire(agent_t *a, enum timer_kind kind, uint64_t now)
{
    switch (kind) {
    case T_CONNECT_TIMEOUT:
        if (a->state == A_CONNECTING || a->state == A_HANDSHAKE || a->state == A_TLS) {
            ctr.connect_timeouts++;   /* e.g. a server that stopped accepting */
            conn_retry_later(a, true, now);
        } else if (a->state == A_CLOSING) {
            if (a->hs_pending) hs_account(a);   /* no alert in 2 s: accepted */
            hs_recycle(a, now);       /* the server did not close within 2 s: close anyway */
        }
        break;
    case T_HEARTBEAT:
        if (a->state == A_OPEN) heartbeat(a, now);
        break;
    case T_RECONNECT:
        if (a->state == A_IDLE) enqueue_connect(a);
        break;
    default:
        break;
    }
}

/* --storm-at: every connection dropped at once (closed, no goodbye), every agent queued to
 * reconnect at once (--storm-rate, else --rate, and --max-inflight pace them). */
static void storm(uint64_t now)
{
    storm_ns = now;
    ctr_at_storm = ctr;
    for (uint32_t i = 0; i < cfg.agents; i++) {
        agent_t *a = &agents[i];
        if (a->state == A_QUEUED) continue;
        if (a->fd >= 0) ctr.storm_dropped++;
        conn_release(a);
        a->attempts = 0;
        a->retry_after_ms = 0;
        enqueue_connect(a);
    }
    if (cfg.storm_rate > 0) cfg.rate = cfg.storm_rate;
    fprintf(stderr, "opamp-load[%d]: storm: %llu connections dropped at %.3f s\n", cfg.worker,
            (unsigned long long)ctr.storm_dropped, (double)(now - t_start) / 1e9);
}

/* Starts queued connects while there are rate tokens and handshake slots. */
static void pump_connects(uint64_t now)
{
    tokens += cfg.rate * (double)(now - tokens_at) / 1e9;
    tokens_at = now;
    double burst = cfg.rate / 50 > 1 ? cfg.rate / 50 : 1;  /* ≤ 20 ms worth at once */
    if (tokens > burst) tokens = burst;
    while (tokens >= 1 && q_len && n_inflight < (uint32_t)cfg.max_inflight) {
        agent_t *a = &agents[queue[q_head]];
        q_head = (q_head + 1) % cfg.agents;
        q_len--;
        tokens -= 1;
        conn_start(a, now);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Stats                                                                                       */

static uint64_t last_stats_ns, last_handshakes;

static void print_json_string(const char *text)
{
    putchar('"');
    for (const char *c = text; *c; c++) {
        if (*c == '"' || *c == '\\') printf("\\%c", *c);
        else if ((unsigned char)*c < 0x20) printf("\\u%04x", (unsigned char)*c);
        else putchar(*c);
    }
    putchar('"');
}

/* Fields only TLS, handshake-mode and storm runs print (plain lines stay as they were). */
static void print_extra(uint64_t now, bool final)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double secs = (double)(now - t_start) / 1e9;
    printf("\"mode\":\"%s\",\"tls\":%s,\"cpu_s\":%.3f,\"tls_full\":%llu,\"tls_resumed\":%llu,"
           "\"tls_errors\":%llu,\"tls_tickets\":%llu,\"tls_resume_declined\":%llu,",
           cfg.handshake_mode ? "handshake" : "load", cfg.tls ? "true" : "false", cpu,
           (unsigned long long)ctr.tls_full, (unsigned long long)ctr.tls_resumed,
           (unsigned long long)ctr.tls_errors, (unsigned long long)ctr.tls_tickets,
           (unsigned long long)ctr.tls_declined);
    if (final && secs > 0)
        printf("\"tls_full_per_s\":%.1f,\"tls_resumed_per_s\":%.1f,", (double)ctr.tls_full / secs,
               (double)ctr.tls_resumed / secs);
    printf("\"tls_error_reasons\":{");
    for (int i = 0; i < TLS_REASONS_MAX && tls_reasons[i].count; i++) {
        if (i) putchar(',');
        print_json_string(tls_reasons[i].text);
        printf(":%llu", (unsigned long long)tls_reasons[i].count);
    }
    printf("},");
    if (cfg.storm_at_s > 0 || storm_ns) {
        printf("\"storm_at_s\":%.3f,\"storm_dropped\":%llu,\"storm_all_back_s\":%.3f,"
               "\"storm_tls_full\":%llu,\"storm_tls_resumed\":%llu,\"storm_errors\":%llu,",
               storm_ns ? (double)(storm_ns - t_start) / 1e9 : -1.0,
               (unsigned long long)ctr.storm_dropped,
               storm_back_ns ? (double)(storm_back_ns - storm_ns) / 1e9 : -1.0,
               storm_ns ? (unsigned long long)(ctr.tls_full - ctr_at_storm.tls_full) : 0ull,
               storm_ns ? (unsigned long long)(ctr.tls_resumed - ctr_at_storm.tls_resumed) : 0ull,
               storm_ns ? (unsigned long long)(ctr.errors - ctr_at_storm.errors) : 0ull);
    }
}

static void print_stats(uint64_t now, bool final)
{
    double since = (double)(now - last_stats_ns) / 1e9;
    double hs_rate = since > 0 ? (double)(ctr.handshakes - last_handshakes) / since : 0;
    if (final) hs_rate = (double)ctr.handshakes / ((double)(now - t_start) / 1e9);
    const hist_t *h = final ? &hist_total : &hist_interval;
    char rc_hex[2 * RC_HASH_MAX + 1];
    for (unsigned i = 0; i < rc_latest_len; i++) snprintf(rc_hex + 2 * i, 3, "%02x", rc_latest[i]);
    rc_hex[2 * rc_latest_len] = 0;
    printf("{\"type\":\"%s\",\"worker\":%d,\"t\":%.3f,\"agents\":%u,\"connected\":%u,"
           "\"ws_open\":%u,\"handshakes\":%llu,\"handshakes_per_s\":%.1f,\"all_connected_s\":%.3f,\"msgs_sent\":%llu,"
           "\"replies\":%llu,\"errors\":%llu,\"violations\":%llu,"
           "\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,\"samples\":%llu,"
           "\"status_p99_us\":%llu,\"reconnects\":%llu,\"connect_errors\":%llu,\"connect_timeouts\":%llu,\"rejected\":%llu,"
           "\"timeouts\":%llu,\"server_closes\":%llu,\"server_errors\":%llu,"
           "\"full_state_requests\":%llu,\"unsolicited\":%llu,\"hb_skipped\":%llu,"
           "\"last_all_connected_s\":%.3f,\"http_errors\":%llu,\"rc_received\":%llu,\"rc_repeats\":%llu,"
           "\"rc_applied\":%llu,\"rc_failed\":%llu,\"rc_stalled\":%llu,\"rc_rolled_back\":%llu,\"unhealthy_reports\":%llu,\"rc_agents_applied\":%u,\"rc_first_s\":%.3f,\"rc_all_applied_s\":%.3f,"
           "\"rc_first_monotonic_s\":%.6f,\"rc_hash\":\"%s\",",
           final ? "final" : "interval", cfg.worker, (double)(now - t_start) / 1e9, cfg.agents,
           n_ready, n_ws_open, (unsigned long long)ctr.handshakes, hs_rate,
           all_ready_ns ? (double)(all_ready_ns - t_start) / 1e9 : -1.0,
           (unsigned long long)ctr.msgs_sent, (unsigned long long)ctr.replies,
           (unsigned long long)ctr.errors, (unsigned long long)ctr.violations,
           (unsigned long long)hist_quantile(h, 0.50), (unsigned long long)hist_quantile(h, 0.99),
           (unsigned long long)hist_quantile(h, 0.999), (unsigned long long)h->max,
           (unsigned long long)h->total, (unsigned long long)hist_quantile(&hist_status_total, 0.99),
           (unsigned long long)ctr.reconnects, (unsigned long long)ctr.connect_errors,
           (unsigned long long)ctr.connect_timeouts,
           (unsigned long long)ctr.rejected, (unsigned long long)ctr.timeouts,
           (unsigned long long)ctr.server_closes, (unsigned long long)ctr.server_errors,
           (unsigned long long)ctr.full_state_requests, (unsigned long long)ctr.unsolicited,
           (unsigned long long)ctr.hb_skipped,
           last_all_ready_ns ? (double)(last_all_ready_ns - t_start) / 1e9 : -1.0,
           (unsigned long long)ctr.http_errors, (unsigned long long)ctr.rc_received,
           (unsigned long long)ctr.rc_repeats, (unsigned long long)ctr.rc_applied,
           (unsigned long long)ctr.rc_failed, (unsigned long long)ctr.rc_stalled, (unsigned long long)ctr.rc_rolled_back,
           (unsigned long long)ctr.unhealthy_reports, rc_agents_applied,
           rc_first_ns ? (double)(rc_first_ns - t_start) / 1e9 : -1.0,
           rc_all_ns ? (double)(rc_all_ns - t_start) / 1e9 : -1.0,
           /* CLOCK_MONOTONIC as Python's time.monotonic() reads it: the harness times a gate
              from the first time any worker's agent received the newest config. */
           rc_newest_ns ? (double)rc_newest_ns / 1e9 : -1.0, rc_hex);
    if (cfg.tls || cfg.handshake_mode || cfg.storm_at_s > 0 || storm_ns) print_extra(now, final);
    printf("\"hist\":");
    hist_print_sparse(stdout, h);
    printf("}\n");
    fflush(stdout);
    last_stats_ns = now;
    last_handshakes = ctr.handshakes;
    if (!final) memset(&hist_interval, 0, sizeof hist_interval);
}

/* ------------------------------------------------------------------------------------------ */
/* Shutdown                                                                                    */

static volatile sig_atomic_t stop_requested, storm_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }
static void on_storm_signal(int sig) { (void)sig; storm_requested = 1; }   /* SIGUSR1 */

/* W6: an AgentToServer with agent_disconnect, then a Close frame; best effort, no waiting. */
static void disconnect_all(void)
{
    for (uint32_t i = 0; i < cfg.agents; i++) {
        agent_t *a = &agents[i];
        if (a->fd < 0) continue;
        if (!cfg.http && a->state == A_OPEN && a->out_off == a->out_len) {
            uint8_t buf[64], *p = buf;
            *p++ = 0;
            p = pb_bytes(p, 1, a->uid, 16);
            p = pb_uint(p, 2, a->seq++);
            p = pb_uint(p, 4, AGENT_CAPABILITIES);
            p = pb_bytes(p, 9, "", 0);               /* agent_disconnect */
            ws_send_frame(a, WS_OP_BINARY, buf, (size_t)(p - buf));
            send_close(a, 1000);
        }
        if (a->ssl && a->state == A_OPEN && SSL_shutdown(a->ssl) < 0) ERR_clear_error();
        close(a->fd);
        a->fd = -1;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Setup                                                                                       */

static bool parse_loopback(const char *text, struct in_addr *out)
{
    if (inet_pton(AF_INET, text, out) != 1) return false;
    return (ntohl(out->s_addr) >> 24) == 127;  /* traffic stays on 127.0.0.0/8 */
}

static void usage(void)
{
    fprintf(stderr,
            "usage: opamp-load --target 127.0.0.1:PORT [--agents N] [--source 127.0.0.X[=COUNT]]...\n"
            "                  [--duration S] [--heartbeat S] [--rate N] [--stats-interval S]\n"
            "                  [--max-inflight N] [--reply-timeout S] [--worker ID] [--transport ws|http]\n"
            "                  [--tls [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--tls-resume]\n"
            "                         [--tls-sni NAME] [--tls-max 1.2|1.3]]\n"
            "                  [--mode load|handshake] [--concurrency C] [--upgrade]\n"
            "                  [--storm-at S] [--storm-rate N] [--attributes N]\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"target", required_argument, 0, 't'},   {"agents", required_argument, 0, 'n'},
        {"source", required_argument, 0, 's'},   {"duration", required_argument, 0, 'd'},
        {"heartbeat", required_argument, 0, 'h'}, {"rate", required_argument, 0, 'r'},
        {"stats-interval", required_argument, 0, 'i'}, {"max-inflight", required_argument, 0, 'm'},
        {"reply-timeout", required_argument, 0, 'o'}, {"worker", required_argument, 0, 'w'},
        {"transport", required_argument, 0, 'T'},
        {"tls", no_argument, 0, 256},            {"tls-ca", required_argument, 0, 257},
        {"tls-cert", required_argument, 0, 258},  {"tls-key", required_argument, 0, 259},
        {"tls-resume", no_argument, 0, 260},      {"tls-sni", required_argument, 0, 261},
        {"tls-max", required_argument, 0, 262},   {"mode", required_argument, 0, 263},
        {"concurrency", required_argument, 0, 264}, {"upgrade", no_argument, 0, 265},
        {"storm-at", required_argument, 0, 266},  {"storm-rate", required_argument, 0, 267},
        {"attributes", required_argument, 0, 268},
        {0, 0, 0, 0}};
    bool have_target = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': {
            char host[64];
            const char *colon = strrchr(optarg, ':');
            if (!colon || (size_t)(colon - optarg) >= sizeof host) die("--target must be 127.x.y.z:PORT");
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = 0;
            snprintf(cfg.target_host, sizeof cfg.target_host, "%s", host);
            int port = atoi(colon + 1);
            if (!parse_loopback(host, &cfg.target.sin_addr) || port <= 0 || port > 65535)
                die("--target must be an address in 127.0.0.0/8 with a port");
            cfg.target.sin_family = AF_INET;
            cfg.target.sin_port = htons((uint16_t)port);
            snprintf(cfg.target_text, sizeof cfg.target_text, "%s", optarg);
            have_target = true;
            break;
        }
        case 'n': cfg.agents = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 's': {
            if (cfg.nsources == 4) die("at most 4 --source addresses per worker");
            char addr[64];
            snprintf(addr, sizeof addr, "%s", optarg);
            char *eq = strchr(addr, '=');
            if (eq) {
                *eq = 0;
                cfg.source_count[cfg.nsources] = (uint32_t)strtoul(eq + 1, NULL, 10);
                if (cfg.source_count[cfg.nsources] == 0) die("--source ADDR=COUNT needs COUNT > 0");
            }
            if (!parse_loopback(addr, &cfg.sources[cfg.nsources++]))
                die("--source must be an address in 127.0.0.0/8");
            break;
        }
        case 'd': cfg.duration_s = atof(optarg); break;
        case 'h': cfg.heartbeat_s = atof(optarg); break;
        case 'r': cfg.rate = atof(optarg); cfg.rate_set = true; break;
        case 'i': cfg.stats_interval_s = atof(optarg); break;
        case 'm': cfg.max_inflight = atoi(optarg); cfg.inflight_set = true; break;
        case 'o': cfg.reply_timeout_s = atof(optarg); break;
        case 'w': cfg.worker = atoi(optarg); break;
        case 'T':
            if (strcmp(optarg, "ws") && strcmp(optarg, "http")) die("--transport must be ws or http");
            cfg.http = strcmp(optarg, "http") == 0;
            break;
        case 256: cfg.tls = true; break;
        case 257: cfg.tls_ca = optarg; break;
        case 258: cfg.tls_cert = optarg; break;
        case 259: cfg.tls_key = optarg; break;
        case 260: cfg.tls_resume = true; break;
        case 261: cfg.tls_sni = optarg; break;
        case 262:
            if (strcmp(optarg, "1.2") == 0) cfg.tls_max = TLS1_2_VERSION;
            else if (strcmp(optarg, "1.3") == 0) cfg.tls_max = TLS1_3_VERSION;
            else die("--tls-max must be 1.2 or 1.3");
            break;
        case 263:
            if (strcmp(optarg, "load") && strcmp(optarg, "handshake")) die("--mode must be load or handshake");
            cfg.handshake_mode = strcmp(optarg, "handshake") == 0;
            break;
        case 264: cfg.agents = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 265: cfg.hs_upgrade = true; break;
        case 266: cfg.storm_at_s = atof(optarg); break;
        case 267: cfg.storm_rate = atof(optarg); break;
        case 268:
            cfg.attributes = atoi(optarg);
            if (cfg.attributes < 3 || cfg.attributes > MAX_ATTRIBUTES) die("--attributes must be 3 to 20");
            break;
        default: usage();
        }
    }
    if (!have_target) usage();
    if ((cfg.tls_ca || cfg.tls_cert || cfg.tls_key || cfg.tls_resume || cfg.tls_sni || cfg.tls_max) && !cfg.tls)
        die("--tls-ca, --tls-cert, --tls-key, --tls-resume, --tls-sni and --tls-max need --tls");
    if (cfg.hs_upgrade && (!cfg.handshake_mode || cfg.http))
        die("--upgrade belongs to --mode handshake over WebSocket");
    if (cfg.handshake_mode && cfg.storm_at_s > 0) die("--storm-at is for --mode load");
    if (cfg.storm_at_s < 0 || cfg.storm_rate < 0) die("--storm-at and --storm-rate must be >= 0");
    /* Handshake mode: every slot cycles as fast as the server answers unless asked otherwise. */
    if (cfg.handshake_mode && !cfg.rate_set) cfg.rate = 1e9;
    if (cfg.handshake_mode && !cfg.inflight_set) cfg.max_inflight = (int)cfg.agents;
    if (cfg.nsources == 0) {
        cfg.sources[0].s_addr = htonl(0x7f000001);
        cfg.nsources = 1;
    }
    uint32_t counted = 0, with_count = 0;
    for (int i = 0; i < cfg.nsources; i++) {
        counted += cfg.source_count[i];
        with_count += cfg.source_count[i] != 0;
    }
    if (with_count && (with_count != (uint32_t)cfg.nsources || counted != cfg.agents))
        die("with --source ADDR=COUNT every source needs a count and the counts must add up to --agents");
    if (cfg.agents == 0 || cfg.duration_s <= 0 || cfg.heartbeat_s <= 0 || cfg.rate <= 0 ||
        cfg.stats_interval_s <= 0 || cfg.max_inflight <= 0)
        die("agents, duration, heartbeat, rate, stats-interval and max-inflight must be > 0");
}

/* Use every descriptor the hard limit allows (20 000 here; root cannot go higher). */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (cfg.agents + 16 > rl.rlim_cur) {
        fprintf(stderr, "opamp-load: %u agents need more than the %llu descriptors this process "
                        "may open; use more workers (run_load.py does)\n",
                cfg.agents, (unsigned long long)rl.rlim_cur);
        exit(2);
    }
}

static void init_agents(void)
{
    agents = calloc(cfg.agents, sizeof *agents);
    queue = calloc(cfg.agents, sizeof *queue);
    if (!agents || !queue) die("out of memory");
    uint64_t ms = (uint64_t)time(NULL) * 1000;
    for (uint32_t i = 0; i < cfg.agents; i++) {
        agent_t *a = &agents[i];
        a->fd = -1;
        a->t_slot = -1;
        /* UUIDv7 layout: 48-bit ms timestamp, version 7, variant 10, random rest. */
        uint64_t r1 = rnd(), r2 = rnd();
        for (int b = 0; b < 6; b++) a->uid[b] = (uint8_t)(ms >> (40 - 8 * b));
        memcpy(a->uid + 6, &r1, 2);
        memcpy(a->uid + 8, &r2, 8);
        a->uid[6] = (uint8_t)(0x70 | (a->uid[6] & 0x0f));
        a->uid[8] = (uint8_t)(0x80 | (a->uid[8] & 0x3f));
        enqueue_connect(a);
    }
    for (int s = 0; s < WHEEL_SLOTS; s++) wheel[s] = -1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    raise_fd_limit();
    if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || rng_state == 0)
        rng_state = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull | 1;
    init_agents();
    if (cfg.tls) tls_init();

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!cfg.handshake_mode) signal(SIGUSR1, on_storm_signal);   /* a storm on demand */
    /* Backstop: whatever happens, the process is gone shortly after --duration. */
    alarm((unsigned)cfg.duration_s + 30);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1 failed");

    t_start = last_stats_ns = tokens_at = now_ns();
    {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        t_start_unix_ns = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
    }
    wheel_tick = t_start / WHEEL_TICK_NS;
    uint64_t deadline = t_start + (uint64_t)(cfg.duration_s * 1e9);
    uint64_t stats_every = (uint64_t)(cfg.stats_interval_s * 1e9);
    static struct epoll_event events[1024];

    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline || stop_requested) break;
        /* --storm-at fires once; every SIGUSR1 fires again (ampora-bench's soak churns a worker
         * at a time, round robin), and the storm figures then describe the latest one. */
        if (__builtin_expect(storm_requested || (cfg.storm_at_s > 0 && !storm_ns), 0) &&
            (storm_requested || now - t_start >= (uint64_t)(cfg.storm_at_s * 1e9))) {
            storm_requested = 0;
            storm_back_ns = 0;
            storm(now);
        }
        pump_connects(now);
        timers_run(now);
        if (now - last_stats_ns >= stats_every) print_stats(now, false);
        int n = epoll_wait(epfd, events, 1024, 5);
        now = now_ns();
        for (int i = 0; i < n; i++) on_event(&events[i], now);
    }
    uint64_t end = now_ns();
    print_stats(end, true);
    /* The result is out. Closing tens of thousands of sockets on a loaded machine can outlast
     * the first backstop, and being killed then would mark a complete run as failed: give the
     * teardown a bounded time of its own. */
    alarm(120);
    disconnect_all();
    return ctr.violations ? 1 : 0;
}
