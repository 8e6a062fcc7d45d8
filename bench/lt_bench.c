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
#define IN_FLIGHT 8

/* A ~256-byte population record for citizen i. */
size_t lt_bench_record(long i, uint8_t *out, char *key)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    char dob[16], addr[128];
    snprintf(key, 24, "%012ld", 38000000000L + i);
    snprintf(dob, sizeof dob, "19%02ld-%02ld-%02ld", 40 + i % 60, 1 + i % 12, 1 + i % 28);
    snprintf(addr, sizeof addr, "Số %ld, đường Lê Lợi, phường Điện Biên, thành phố Thanh Hóa", i % 500);
    p.personal_id = key;
    p.full_name = "Nguyễn Thị Thanh Hương";
    p.date_of_birth = dob;
    p.sex = LIENTHONG__RECORDS__SEX__SEX_FEMALE;
    p.place_of_birth = "Thanh Hóa";
    p.home_town = "Hoằng Hóa, Thanh Hóa";
    p.ethnicity = "Kinh";
    p.nationality = "VN";
    p.permanent_province = "38";
    p.current_province = "38";
    p.current_address = addr;
    p.id_card_number = key;
    p.id_card_issued = "2021-06-01";
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
            if (lt_wire_send_body(s, NULL, 0, LIENTHONG__ENVELOPE__BODY_PUBLISH, &p) != 0) {
                zmq_pollitem_t it = {s, 0, ZMQ_POLLOUT, 0};
                zmq_poll(&it, 1, 100);
                sent -= (long)p.n_changes;
                break;
            }
        }
        Lienthong__Envelope *rep = NULL;
        if (lt_wire_recv_env(s, 30000, LT_LOCAL_MAX_MESSAGE, &rep, err, sizeof err) != 1) {
            rc = -1;
            break;
        }
        if (rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK)
            acked += (long)(rep->publish_ack->last_seq - rep->publish_ack->first_seq + 1);
        else {
            fprintf(stderr, "bench_feed: publish refused: %s\n",
                    rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? rep->error->message : "?");
            rc = -1;
        }
        lt_wire_free(&rep);
    }
    zmq_close(s);
    return rc;
}

