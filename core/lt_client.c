/* lt_client: a program's connection to its own gateway's local socket,
 * with errors that tell "not running", "no permission" and "no answer"
 * apart (PROTOCOL.md 3.1, 8). */
#include "lt_client.h"
#include "lt_err.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_limits.h"
#include "lt_sock.h"
#include "lt_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#define PATH_CAP sizeof(((struct sockaddr_un *)0)->sun_path)

struct _lt_client_t {
    void *ctx; /* its own context, terminated with it; NULL when shared */
    void *sock;
    lt_client_opts_t opts;
    char path[PATH_CAP];
};

void lt_client_opts_default(lt_client_opts_t *o)
{
    o->max_message = LT_LOCAL_MAX_MESSAGE;
    o->wait_for_gateway = 0;
    o->ctx = NULL;
    o->sndhwm = 0;
}

/* Writes the message and returns code. */
static int s_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lt_err_vset(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* The name of a user (or, with `group`, a group) id; the number if none. */
static void s_id_name(unsigned id, int group, char *out, size_t cap)
{
    char buf[1024];
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    const char *name = NULL;
    if (group && getgrgid_r((gid_t)id, &gr, buf, sizeof buf, &grp) == 0 && grp)
        name = grp->gr_name;
    else if (!group && getpwuid_r((uid_t)id, &pw, buf, sizeof buf, &pwp) == 0 && pwp)
        name = pwp->pw_name;
    if (name)
        snprintf(out, cap, "%s", name);
    else
        snprintf(out, cap, "%s %u", group ? "gid" : "uid", id);
}

/* EACCES: names the path, this user, and the owner of what refused us (the
 * socket itself, or else its directory, 0700 by PROTOCOL.md 3.1). A group
 * is suggested only where the mode would let a group member in. */
static int s_no_permission(const char *path, char *err, size_t errlen)
{
    char me[128], owner[128], group[128], dir[PATH_CAP];
    struct stat st;
    const char *what = path;
    mode_t group_bit = S_IWGRP; /* connecting needs write access to the socket */
    s_id_name(geteuid(), 0, me, sizeof me);
    snprintf(dir, sizeof dir, "%s", path);
    if (stat(path, &st) != 0) {
        what = dirname(dir);
        group_bit = S_IXGRP; /* reaching it needs search access to the directory */
        if (stat(what, &st) != 0)
            return s_err(err, errlen, LT_CLIENT_ERR_PERMISSION,
                         "no permission to reach the gateway's socket %s as user %s: run this "
                         "as the gateway's user",
                         path, me);
    }
    s_id_name(st.st_uid, 0, owner, sizeof owner);
    s_id_name(st.st_gid, 1, group, sizeof group);
    int by_group = (st.st_mode & group_bit) != 0;
    return s_err(err, errlen, LT_CLIENT_ERR_PERMISSION,
                 "no permission to reach the gateway's socket %s as user %s (%s belongs to %s, "
                 "group %s, mode %04o): run this as the gateway's user (%s)%s%s%s",
                 path, me, what, owner, group, (unsigned)(st.st_mode & 07777), owner,
                 by_group ? ", or add " : "", by_group ? me : "", by_group ? " to that group" : "");
}

/* Turns a failed stat or connect on the socket path into a code. */
static int s_explain(const char *path, int e, char *err, size_t errlen)
{
    switch (e) {
    case ENOENT:
        return s_err(err, errlen, LT_CLIENT_ERR_NOT_RUNNING,
                     "the gateway is not running: there is no socket %s (start it with "
                     "'lienthong gateway --config FILE', or check local_socket in its "
                     "configuration)",
                     path);
    case ECONNREFUSED:
        return s_err(err, errlen, LT_CLIENT_ERR_NOT_RUNNING,
                     "the gateway is not running: nothing listens on %s, a socket left by a "
                     "gateway that stopped (start it with 'lienthong gateway --config FILE')",
                     path);
    case EACCES:
    case EPERM:
        return s_no_permission(path, err, errlen);
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
        return s_err(err, errlen, LT_CLIENT_ERR_BAD_PATH, "%s cannot be the gateway's socket: %s",
                     path, strerror(e));
    default:
        return s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "cannot reach the gateway's socket %s: %s",
                     path, strerror(e));
    }
}

int lt_client_probe(const char *socket_path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    struct stat st;
    err[0] = 0;
    if (!socket_path || !socket_path[0] || strlen(socket_path) >= sizeof sa.sun_path)
        return s_err(err, errlen, LT_CLIENT_ERR_BAD_PATH,
                     "the gateway's socket path must be 1 to %zu bytes long",
                     sizeof sa.sun_path - 1);
    if (stat(socket_path, &st) != 0)
        return s_explain(socket_path, errno, err, errlen);
    if (!S_ISSOCK(st.st_mode))
        return s_err(err, errlen, LT_CLIENT_ERR_BAD_PATH,
                     "%s is not a socket: check local_socket in the gateway's configuration",
                     socket_path);
    /* ZeroMQ would connect lazily and retry in silence; a plain connect
     * tells at once whether a gateway listens and whether we may reach it. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "cannot create a socket: %s",
                     strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, socket_path, strlen(socket_path));
    /* EAGAIN: the listen backlog is full, so someone does listen. */
    int e = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN ? 0 : errno;
    close(fd);
    return e ? s_explain(socket_path, e, err, errlen) : LT_CLIENT_OK;
}

lt_client_t *lt_client_new(const char *socket_path, const lt_client_opts_t *opts, char *err,
                           size_t errlen)
{
    lt_client_opts_t o;
    lt_sock_opts_t so;
    if (opts)
        o = *opts;
    else
        lt_client_opts_default(&o);
    int rc = lt_client_probe(socket_path, err, errlen);
    if (rc != LT_CLIENT_OK && !(rc == LT_CLIENT_ERR_NOT_RUNNING && o.wait_for_gateway))
        return NULL;
    lt_client_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "out of memory");
        return NULL;
    }
    self->opts = o;
    snprintf(self->path, sizeof self->path, "%s", socket_path);
    lt_sock_opts_default(&so);
    so.max_message = o.max_message;
    so.sndhwm = o.sndhwm;
    void *ctx = o.ctx;
    if (!ctx && !(ctx = self->ctx = zmq_ctx_new()))
        s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "cannot create a ZeroMQ context: %s",
              zmq_strerror(zmq_errno()));
    else
        self->sock = lt_sock_local_client(ctx, socket_path, &so, err, errlen);
    if (!self->sock)
        lt_client_destroy(&self);
    return self;
}

void lt_client_destroy(lt_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_client_t *self = *self_p;
    if (self->sock)
        zmq_close(self->sock);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    free(self);
    *self_p = NULL;
}

/* Nothing in time: a one-shot client checks whether the gateway is still
 * there, so that "it stopped" and "it is slow" are told apart. errno is
 * kept for callers that report it. */
static int s_timeout(lt_client_t *self, const char *what, int timeout_ms, char *err, size_t errlen)
{
    int e = errno;
    int rc = self->opts.wait_for_gateway ? LT_CLIENT_OK : lt_client_probe(self->path, err, errlen);
    if (rc == LT_CLIENT_OK)
        rc = s_err(err, errlen, LT_CLIENT_ERR_TIMEOUT, "%s the gateway at %s within %d ms%s", what,
                   self->path, timeout_ms, self->opts.wait_for_gateway ? "" : " (it is running)");
    errno = e;
    return rc;
}

/* Sends msg, waiting up to timeout_ms while the queue is full; msg is
 * sent or closed. */
static int s_send_msg(lt_client_t *self, zmq_msg_t *msg, int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = lt_clock_mono_ms() + timeout_ms;
    int rc, e;
    for (;;) {
        if (zmq_msg_send(msg, self->sock, ZMQ_DONTWAIT) >= 0)
            return LT_CLIENT_OK;
        e = zmq_errno();
        int64_t left = deadline - lt_clock_mono_ms();
        if (e != EAGAIN || left <= 0)
            break;
        zmq_pollitem_t it = {self->sock, 0, ZMQ_POLLOUT, 0};
        if (zmq_poll(&it, 1, (long)left) < 0) {
            e = zmq_errno();
            break;
        }
    }
    if (e == EINTR)
        rc = s_err(err, errlen, LT_CLIENT_ERR_INTERRUPTED,
                   "interrupted while sending to the gateway at %s", self->path);
    else if (e == EAGAIN)
        rc = s_timeout(self, "could not queue a message (queue full) for", timeout_ms, err, errlen);
    else
        rc = s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "cannot send to the gateway at %s: %s",
                   self->path, zmq_strerror(e));
    zmq_msg_close(msg);
    errno = e;
    return rc;
}

int lt_client_send_frame(lt_client_t *self, const uint8_t *frame, size_t len, int timeout_ms,
                         char *err, size_t errlen)
{
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, len) != 0)
        return s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "out of memory for a %zu-byte message",
                     len);
    memcpy(zmq_msg_data(&msg), frame, len);
    return s_send_msg(self, &msg, timeout_ms, err, errlen);
}

/* Puts body in env's oneof; -1 for a body local clients never send. */
static int s_set_body(Lienthong__Envelope *env, Lienthong__Envelope__BodyCase c, void *body)
{
    switch (c) {
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST:
        env->lookup_request = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST:
        env->verify_request = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_PUBLISH:
        env->publish = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_SINK_ATTACH:
        env->sink_attach = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_DELIVER_ACK:
        env->deliver_ack = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST:
        env->status_request = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST:
        env->metrics_request = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_RESYNC:
        env->resync = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_READY_REQUEST:
        env->ready_request = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST:
        env->prefill_request = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST:
        env->profile_request = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST:
        env->keys_request = body;
        break;
    default:
        return -1;
    }
    env->body_case = c;
    return 0;
}

int lt_client_send(lt_client_t *self, Lienthong__Envelope__BodyCase body_case, void *body,
                   int timeout_ms, char *err, size_t errlen)
{
    return lt_client_send_for(self, body_case, body, NULL, timeout_ms, err, errlen);
}

/* Fills env (with ask, the answer context) for body; -1 with err set for
 * a body local clients never send. */
static int s_envelope(Lienthong__Envelope *env, Lienthong__AnswerContext *ask,
                      Lienthong__Envelope__BodyCase body_case, void *body,
                      const Lienthong__OnBehalf *who, char *err, size_t errlen)
{
    lt_wire_env_init(env);
    if (!body || s_set_body(env, body_case, body) != 0) {
        errno = EINVAL;
        return s_err(err, errlen, LT_CLIENT_ERR_INVALID, "a local client cannot send %s",
                     lt_wire_body_name(body_case));
    }
    /* Answers then carry the dataset's record type (PROTOCOL.md 8.4). */
    if (body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST ||
        body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST)
        env->context = ask;
    /* Who the request is made for, for the gateway's audit (PROTOCOL.md
     * 8.5, 8.8); a profile's parts are audited as lookups made for them (7.7). */
    if (env->context || body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST ||
        body_case == LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST)
        env->on_behalf = (Lienthong__OnBehalf *)who;
    return LT_CLIENT_OK;
}

int lt_client_send_for(lt_client_t *self, Lienthong__Envelope__BodyCase body_case, void *body,
                       const Lienthong__OnBehalf *who, int timeout_ms, char *err, size_t errlen)
{
    Lienthong__Envelope env;
    Lienthong__AnswerContext ask = LIENTHONG__ANSWER_CONTEXT__INIT;
    zmq_msg_t msg;
    int rc = s_envelope(&env, &ask, body_case, body, who, err, errlen);
    if (rc != LT_CLIENT_OK)
        return rc;
    size_t len = lienthong__envelope__get_packed_size(&env);
    if (zmq_msg_init_size(&msg, len) != 0)
        return s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "out of memory for a %zu-byte message",
                     len);
    lienthong__envelope__pack(&env, zmq_msg_data(&msg));
    return s_send_msg(self, &msg, timeout_ms, err, errlen);
}

int lt_client_pack_for(Lienthong__Envelope__BodyCase body_case, void *body,
                       const Lienthong__OnBehalf *who, uint8_t **frame, size_t *len, char *err,
                       size_t errlen)
{
    Lienthong__Envelope env;
    Lienthong__AnswerContext ask = LIENTHONG__ANSWER_CONTEXT__INIT;
    *frame = NULL;
    *len = 0;
    int rc = s_envelope(&env, &ask, body_case, body, who, err, errlen);
    if (rc != LT_CLIENT_OK)
        return rc;
    size_t n = lienthong__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "out of memory for a %zu-byte message", n);
    lienthong__envelope__pack(&env, buf);
    *frame = buf;
    *len = n;
    return LT_CLIENT_OK;
}

int lt_client_recv(lt_client_t *self, int timeout_ms, Lienthong__Envelope **env, char *err,
                   size_t errlen)
{
    char why[256];
    /* lt_wire_recv_env returns 0 both at the time limit and on a signal;
     * errno, cleared first, tells them apart. */
    errno = 0;
    int rc = lt_wire_recv_env(self->sock, timeout_ms, self->opts.max_message, env, why, sizeof why);
    if (rc == 1)
        return LT_CLIENT_OK;
    if (rc < 0)
        return s_err(err, errlen, LT_CLIENT_ERR_SOCKET, "cannot receive from the gateway at %s: %s",
                     self->path, zmq_strerror(zmq_errno()));
    if (why[0])
        return s_err(err, errlen, LT_CLIENT_ERR_MALFORMED,
                     "dropped a message from the gateway at "
                     "%s: %s",
                     self->path, why);
    if (errno == EINTR)
        return s_err(err, errlen, LT_CLIENT_ERR_INTERRUPTED,
                     "interrupted while waiting for the gateway at %s", self->path);
    return s_timeout(self, "no answer from", timeout_ms, err, errlen);
}

void *lt_client_socket(lt_client_t *self)
{
    return self->sock;
}
