/* lt_bench: what the benchmarks share: synthetic population records and a
 * source that publishes them to an owner gateway over its ipc socket. */
#include "lt_bench.h"
#include "lt_itest.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define PER_PUBLISH 1000
#define IN_FLIGHT   8

const char *const lt_bench_columns[LT_BENCH_COLUMNS] = {
    "personal_id",        "full_name",         "date_of_birth",    "sex",
    "place_of_birth",     "home_town",         "ethnicity",        "nationality",
    "permanent_province", "permanent_address", "current_province", "current_address",
    "id_card_number",     "id_card_issued",    "status",           "date_of_death"};

void lt_bench_citizen(long i, char vals[LT_BENCH_COLUMNS][128], const char *out[LT_BENCH_COLUMNS])
{
    static const char *const fixed[LT_BENCH_COLUMNS] = {NULL,        "Nguyễn Thị Thanh Hương",
                                                        NULL,        "2",
                                                        "Thanh Hóa", "Hoằng Hóa, Thanh Hóa",
                                                        "Kinh",      "VN",
                                                        "38",        NULL,
                                                        "38",        NULL,
                                                        NULL,        "2021-06-01",
                                                        "1",         NULL};
    snprintf(vals[0], 128, "%012ld", 38000000000L + i);
    snprintf(vals[2], 128, "19%02ld-%02ld-%02ld", 40 + i % 60, 1 + i % 12, 1 + i % 28);
    snprintf(vals[11], 128, "Số %ld, đường Lê Lợi, phường Điện Biên, thành phố Thanh Hóa", i % 500);
    for (int c = 0; c < LT_BENCH_COLUMNS; c++)
        out[c] = fixed[c];
    out[0] = out[12] = vals[0];
    out[2] = vals[2];
    out[11] = vals[11];
}

/* A ~256-byte population record for citizen i. */
size_t lt_bench_record(long i, uint8_t *out, char *key)
{
    char vals[LT_BENCH_COLUMNS][128];
    const char *v[LT_BENCH_COLUMNS];
    lt_bench_citizen(i, vals, v);
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    snprintf(key, 24, "%s", v[0]);
    p.personal_id = key;
    p.full_name = (char *)v[1];
    p.date_of_birth = (char *)v[2];
    p.sex = LIENTHONG__RECORDS__SEX__SEX_FEMALE;
    p.place_of_birth = (char *)v[4];
    p.home_town = (char *)v[5];
    p.ethnicity = (char *)v[6];
    p.nationality = (char *)v[7];
    p.permanent_province = (char *)v[8];
    p.current_province = (char *)v[10];
    p.current_address = (char *)v[11];
    p.id_card_number = key;
    p.id_card_issued = (char *)v[13];
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    lienthong__records__population__pack(&p, out);
    return lienthong__records__population__get_packed_size(&p);
}

/* Publishes n records in Publish messages of PER_PUBLISH, IN_FLIGHT at a
 * time; returns 0 when every one was acknowledged. */
int lt_bench_publish(const char *sock_path, const char *dataset, long n)
{
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    void *s = lt_sock_local_client(lt_it_ctx(), sock_path, &o, err, sizeof err);
    if (!s)
        return -1;
    static uint8_t payloads[PER_PUBLISH][512];
    static char keys[PER_PUBLISH][24], cursors[PER_PUBLISH][24];
    static Lienthong__Change changes[PER_PUBLISH], *ptrs[PER_PUBLISH];
    long sent = 0, acked = 0;
    int rc = 0;
    while (acked < n && rc == 0) {
        while (sent < n && sent - acked < (long)IN_FLIGHT * PER_PUBLISH) {
            Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
            p.request_id = (uint64_t)sent + 1;
            p.dataset = (char *)dataset;
            for (int k = 0; k < PER_PUBLISH && sent < n; k++, sent++) {
                lienthong__change__init(&changes[k]);
                changes[k].payload.len = lt_bench_record(sent, payloads[k], keys[k]);
                changes[k].payload.data = payloads[k];
                changes[k].key = keys[k];
                snprintf(cursors[k], sizeof cursors[k], "%ld", sent + 1);
                changes[k].source_cursor = cursors[k];
                ptrs[k] = &changes[k];
                p.n_changes++;
            }
            p.changes = ptrs;
            Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
            env.version = LT_PROTO_VERSION;
            env.body_case = LIENTHONG__ENVELOPE__BODY_PUBLISH;
            env.publish = &p;
            if (lt_wire_send(s, NULL, 0, &env) != 0) {
                zmq_pollitem_t it = {s, 0, ZMQ_POLLOUT, 0};
                zmq_poll(&it, 1, 100);
                sent -= (long)p.n_changes;
                break;
            }
        }
        Lienthong__Envelope *rep = NULL;
        if (lt_wire_recv_env(s, 30000, 64u << 20, &rep, err, sizeof err) != 1) {
            rc = -1;
            break;
        }
        if (rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK)
            acked += (long)(rep->publish_ack->last_seq - rep->publish_ack->first_seq + 1);
        else {
            fprintf(stderr, "bench_feed: publish refused: %s\n",
                    rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? rep->error->message
                                                                             : "?");
            rc = -1;
        }
        lt_wire_free(&rep);
    }
    zmq_close(s);
    return rc;
}
