/* fuzz_presence: libFuzzer target for the fields an encoded record holds
 * (core/lt_presence, PROTOCOL.md 8.9), which the store reads from every
 * published or replicated payload and, at schema step 6, from every stored
 * record.
 *
 * Each input is:
 *  1. walked as a payload: the walk must stay within the input (ASan) and
 *     give the same mask as the input carried inside a Record;
 *  2. when it decodes as a Population record, packed again by protobuf-c
 *     (the canonical proto3 encoding, defaults omitted): the mask of that
 *     encoding over Population's fields must be exactly those whose
 *     decoded value is not the default.
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#define _GNU_SOURCE
#include "lienthong.pb-c.h"
#include "lt_presence.h"
#include "lt_schema.h"
#include "records/population.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_write_seeds(const char *dir)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    uint8_t buf[1024];
    char path[4200];
    p.personal_id = "079100000001";
    p.full_name = "Nguy\xe1\xbb\x85n V\xc4\x83n An";
    p.date_of_birth = "1990-01-31";
    p.sex = LIENTHONG__RECORDS__SEX__SEX_MALE;
    p.current_province = "79";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    for (int i = 0; i < 2; i++) {
        size_t n = lienthong__records__population__pack(&p, buf);
        snprintf(path, sizeof path, "%.4000s/seed-population-%d", dir, i);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(buf, 1, n, f);
            fclose(f);
        }
        p.full_name = "";
        p.date_of_death = "2024-02-29";
        p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int seeded;
    if (!seeded) {
        seeded = 1;
        const char *seeds = getenv("FUZZ_WRITE_SEEDS");
        if (seeds)
            s_write_seeds(seeds);
    }
    uint64_t mask = lt_presence_mask(data, size);
    /* 1. The same walk inside a Record. */
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = 1;
    r.key = "k";
    r.payload.data = (uint8_t *)data;
    r.payload.len = size;
    size_t rlen = lienthong__record__get_packed_size(&r);
    uint8_t *rec = malloc(rlen ? rlen : 1);
    if (rec) {
        lienthong__record__pack(&r, rec);
        if (lt_presence_record_mask(rec, rlen) != mask)
            abort();
        free(rec);
    }
    /* 2. The canonical encoding of what protobuf-c decodes. */
    ProtobufCMessage *m =
        protobuf_c_message_unpack(&lienthong__records__population__descriptor, NULL, size, data);
    if (!m)
        return 0;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf) {
        protobuf_c_message_pack(m, buf);
        uint64_t want = 0, known = 0;
        for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
            const ProtobufCFieldDescriptor *fd = &m->descriptor->fields[i];
            if (fd->id > LT_PRESENCE_FIELDS)
                continue;
            known |= 1ULL << (fd->id - 1);
            if (lt_schema_set(m, fd))
                want |= 1ULL << (fd->id - 1);
        }
        /* Unknown fields are packed back as they came: not compared. */
        if ((lt_presence_mask(buf, n) & known) != want)
            abort();
        free(buf);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
