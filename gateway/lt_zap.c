/* lt_zap: ZAP handler. Request frames (RFC 27): version, request id, domain,
 * address, identity, mechanism, credentials...; reply: version, request id,
 * status code, status text, user id, metadata. */
#include "lt_zap.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_refuse.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct _lt_zap_t {
    void *sock;
    lt_stats_series_t *admitted;
    lt_stats_series_t *refused;
    lt_refuse_t *refusals; /* log lines and audit entries, per address and reason */
};

void lt_zap_set_audit(lt_zap_t *self, lt_audit_t *audit)
{
    lt_refuse_set_audit(self->refusals, audit);
}

void lt_zap_tick(lt_zap_t *self)
{
    lt_refuse_tick(self->refusals);
}

lt_zap_t *lt_zap_new(void *ctx, lt_stats_t *stats)
{
    static const lt_stats_def_t admitted = {
        .name = "lienthong_zap_admitted",
        .help = "CURVE connections admitted by the ZAP handler (active members)",
        .kind = LT_STATS_COUNTER};
    static const lt_stats_def_t refused = {.name = "lienthong_zap_refused",
                                           .help = "CURVE connections refused by the ZAP handler",
                                           .kind = LT_STATS_COUNTER};
    lt_zap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (!(self->admitted = lt_gwstats_series(stats, &admitted, NULL)) ||
        !(self->refused = lt_gwstats_series(stats, &refused, NULL)) ||
        !(self->refusals = lt_refuse_new("zap", "connection", 0, 0))) {
        free(self);
        return NULL;
    }
    self->sock = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    if (!self->sock || zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(self->sock, LT_ZAP_ENDPOINT) != 0) {
        lt_error("zap", "cannot bind the ZAP handler at %s: %s", LT_ZAP_ENDPOINT,
                 zmq_strerror(zmq_errno()));
        lt_zap_destroy(&self);
    }
    return self;
}

void lt_zap_destroy(lt_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->sock)
        zmq_close((*self_p)->sock);
    if ((*self_p)->refusals)
        lt_refuse_flush((*self_p)->refusals); /* counts not yet reported */
    lt_refuse_destroy(&(*self_p)->refusals);
    free(*self_p);
    *self_p = NULL;
}

void *lt_zap_socket(lt_zap_t *self)
{
    return self->sock;
}

uint64_t lt_zap_refused(const lt_zap_t *self)
{
    return lt_gwstats_counter(self->refused);
}

static int s_reply(void *sock, zmq_msg_t *req_id, const char *code, const char *text,
                   const char *user)
{
    int rc = 0;
    rc |= zmq_send(sock, "1.0", 3, ZMQ_SNDMORE) < 0;
    rc |= zmq_msg_send(req_id, sock, ZMQ_SNDMORE) < 0;
    rc |= zmq_send(sock, code, strlen(code), ZMQ_SNDMORE) < 0;
    rc |= zmq_send(sock, text, strlen(text), ZMQ_SNDMORE) < 0;
    rc |= zmq_send(sock, user, strlen(user), ZMQ_SNDMORE) < 0;
    rc |= zmq_send(sock, "", 0, 0) < 0;
    return rc ? -1 : 0;
}

/* Decides on a request; returns the member id to admit, or NULL with why. */
static const char *s_decide(zmq_msg_t *f, int n, const lt_dir_t *dir, const char **why)
{
    if (n < 7 || zmq_msg_size(&f[0]) != 3 || memcmp(zmq_msg_data(&f[0]), "1.0", 3) != 0) {
        *why = "malformed ZAP request";
        return NULL;
    }
    if (zmq_msg_size(&f[2]) != strlen(LT_ZAP_DOMAIN) ||
        memcmp(zmq_msg_data(&f[2]), LT_ZAP_DOMAIN, strlen(LT_ZAP_DOMAIN)) != 0) {
        *why = "wrong ZAP domain";
        return NULL;
    }
    if (zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) != 0) {
        *why = "mechanism is not CURVE";
        return NULL;
    }
    if (zmq_msg_size(&f[6]) != LT_KEY_BYTES) {
        *why = "CURVE key of wrong size";
        return NULL;
    }
    if (!dir) {
        *why = "no directory loaded";
        return NULL;
    }
    const Lienthong__Member *m = lt_dir_member_by_transport(dir, zmq_msg_data(&f[6]));
    if (!m) {
        *why = "key is not in the directory";
        return NULL;
    }
    if (m->status != LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE) {
        *why = m->status == LIENTHONG__MEMBER_STATUS__MEMBER_REVOKED ? "member is revoked"
                                                                     : "member is suspended";
        return m->id; /* returned for the log line only; refused below */
    }
    *why = NULL;
    return m->id;
}

/* Receives one request's frames into f (at most LT_ZAP_MAX_FRAMES kept,
 * the rest read and dropped so the next request starts on its own first
 * frame); *n counts those kept even on failure, so the caller closes them. */
static int s_recv_frames(void *sock, zmq_msg_t *f, int *n)
{
    int more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, sock, *n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&tmp);
            return -1;
        }
        more = zmq_msg_more(&tmp);
        if (*n < LT_ZAP_MAX_FRAMES)
            f[(*n)++] = tmp; /* ownership moves into f */
        else
            zmq_msg_close(&tmp);
    }
    return 0;
}

/* A request too short to carry even a request id: refused, but still
 * answered, or the REP socket would stay stuck awaiting a send. */
static int s_refuse_malformed(lt_zap_t *self, const char *addr)
{
    lt_refuse_note(self->refusals,
                   &(lt_refuse_event_t){.source = addr, .reason = "malformed ZAP request"});
    lt_stats_inc(self->refused);
    zmq_msg_t empty;
    zmq_msg_init(&empty);
    int rc = s_reply(self->sock, &empty, "400", "malformed ZAP request", "");
    zmq_msg_close(&empty);
    return rc;
}

/* A refused request: the key and member go into the refusal's detail so
 * the operator sees who knocked, not only from where. */
static int s_refuse(lt_zap_t *self, zmq_msg_t *f, int n, const char *addr, const char *why,
                    const char *member)
{
    char key[LT_Z85_KEY_LEN + 1] = "?";
    if (n > 6 && zmq_msg_size(&f[6]) == LT_KEY_BYTES)
        lt_keys_z85_encode(zmq_msg_data(&f[6]), key);
    char detail[LT_REFUSE_DETAIL_MAX];
    snprintf(detail, sizeof detail, "key=%s member=%s", key, member ? member : "-");
    /* Counted per address and reason: a flood of handshakes writes a
     * bounded number of lines and entries (lt_refuse.h). */
    lt_refuse_note(
        self->refusals,
        &(lt_refuse_event_t){.source = addr, .reason = why, .peer = member, .detail = detail});
    lt_stats_inc(self->refused);
    return s_reply(self->sock, &f[1], "400", why, "");
}

/* Runs once per connection attempt: everything stays on the stack. */
int lt_zap_handle(lt_zap_t *self, const lt_dir_t *dir)
{
    zmq_msg_t f[LT_ZAP_MAX_FRAMES];
    int n = 0, rc = -1;
    if (s_recv_frames(self->sock, f, &n) != 0)
        goto out;
    const char *why = NULL;
    const char *member = s_decide(f, n, dir, &why);
    char addr[64] = "?";
    if (n > 3)
        snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]), (char *)zmq_msg_data(&f[3]));
    if (n < 2) {
        rc = s_refuse_malformed(self, addr);
        goto out;
    }
    if (why) {
        rc = s_refuse(self, f, n, addr, why, member);
    } else {
        lt_debug("zap", "admitted %s from %s", member, addr);
        lt_stats_inc(self->admitted);
        rc = s_reply(self->sock, &f[1], "200", "OK", member);
    }
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return rc;
}
