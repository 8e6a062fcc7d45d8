/* test_presence: CUnit suite for core/lt_presence, the fields of an
 * encoded record that hold a value (PROTOCOL.md 8.9): the mask agrees with
 * what protobuf-c decodes for records of the registered types, defaults
 * written out do not count, every wire type is read, and a malformed
 * encoding stops the walk without reading past the buffer. */
#include "unit_util.h"
#include "lienthong.pb-c.h"
#include "lt_presence.h"
#include "records/population.pb-c.h"

static void test_population(void)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    uint8_t buf[512];
    /* Empty: nothing present. */
    size_t n = lienthong__records__population__pack(&p, buf);
    CU_ASSERT_EQUAL(lt_presence_mask(buf, n), 0);
    p.personal_id = "079100000001";                  /* 1 */
    p.full_name = "Nguy\xe1\xbb\x85n V\xc4\x83n An"; /* 2 */
    p.sex = LIENTHONG__RECORDS__SEX__SEX_FEMALE;     /* 4, an enum */
    p.current_province = "";                         /* 11, empty: absent */
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    n = lienthong__records__population__pack(&p, buf);
    const ProtobufCFieldDescriptor *st = protobuf_c_message_descriptor_get_field_by_name(
        &lienthong__records__population__descriptor, "status");
    CU_ASSERT_FATAL(st != NULL && st->id < 64);
    CU_ASSERT_EQUAL(lt_presence_mask(buf, n), 0x1ULL | 0x2ULL | 0x8ULL | 1ULL << (st->id - 1));
}

/* Every wire type, with and without a value. */
static void test_wire_types(void)
{
    static const uint8_t rec[] = {
        0x08, 0x00,                                     /* 1 varint 0: absent */
        0x10, 0x96, 0x01,                               /* 2 varint 150 */
        0x19, 0,    0,    0,    0,    0, 0, 0,    0,    /* 3 fixed64 0: absent */
        0x21, 0,    0,    0,    0,    0, 0, 0xf0, 0x3f, /* 4 fixed64 (1.0) */
        0x2a, 0x00,                                     /* 5 empty string: absent */
        0x32, 0x01, 'x',                                /* 6 string */
        0x3d, 0,    0,    0,    0,                      /* 7 fixed32 0: absent */
        0x45, 0,    0,    0x80, 0x3f,                   /* 8 fixed32 (1.0f) */
        0xf8, 0x03, 0x01,                               /* 63 varint 1 */
        0x80, 0x04, 0x01,                               /* 64: beyond the counted numbers */
    };
    CU_ASSERT_EQUAL(lt_presence_mask(rec, sizeof rec),
                    1ULL << 1 | 1ULL << 3 | 1ULL << 5 | 1ULL << 7 | 1ULL << 62);
    CU_ASSERT_EQUAL(lt_presence_mask(NULL, 0), 0);
}

/* A malformed encoding stops the walk: what came before counts, nothing
 * after, and nothing is read past the end. */
static void test_malformed(void)
{
    uint8_t rec[] = {0x12, 0x01, 'a', 0x1a, 0x05, 'b'}; /* 2, then 3 claiming 5 bytes */
    CU_ASSERT_EQUAL(lt_presence_mask(rec, sizeof rec), 0x2);
    uint8_t group[] = {0x12, 0x01, 'a', 0x1b, 0x22, 0x01, 'c'}; /* a group: stop */
    CU_ASSERT_EQUAL(lt_presence_mask(group, sizeof group), 0x2);
    uint8_t zero[] = {0x00, 0x01, 0x12, 0x01, 'a'}; /* field number 0 */
    CU_ASSERT_EQUAL(lt_presence_mask(zero, sizeof zero), 0);
    uint8_t cut[] = {0x12, 0x01, 'a', 0x18, 0x80}; /* varint cut short */
    CU_ASSERT_EQUAL(lt_presence_mask(cut, sizeof cut), 0x2);
    uint8_t f32[] = {0x12, 0x01, 'a', 0x1d, 0x01, 0x02}; /* fixed32 cut short */
    CU_ASSERT_EQUAL(lt_presence_mask(f32, sizeof f32), 0x2);
}

/* The payload of a Record, and nothing for a tombstone. */
static void test_record(void)
{
    uint8_t payload[] = {0x0a, 0x01, 'k', 0x22, 0x02, 'v', 'w'}; /* 1 and 4 */
    uint8_t buf[128];
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = 7;
    r.key = "k";
    r.payload.data = payload;
    r.payload.len = sizeof payload;
    r.changed_at_ms = 1767225600000;
    size_t n = lienthong__record__pack(&r, buf);
    CU_ASSERT_EQUAL(lt_presence_record_mask(buf, n), 0x9);
    r.deleted = 1;
    r.payload.len = 0;
    n = lienthong__record__pack(&r, buf);
    CU_ASSERT_EQUAL(lt_presence_record_mask(buf, n), 0);
    CU_ASSERT_EQUAL(lt_presence_record_mask((const uint8_t *)"\xff", 1), 0);
    CU_ASSERT_EQUAL(lt_presence_record_mask(NULL, 0), 0);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a Population record: set fields count, empty ones do not", test_population},
        {"every wire type, defaults written out do not count", test_wire_types},
        {"a malformed encoding stops the walk within the buffer", test_malformed},
        {"a Record's payload; a tombstone holds nothing", test_record},
        {NULL, NULL},
    };
    return ut_main("lt_presence", NULL, NULL, tests);
}
