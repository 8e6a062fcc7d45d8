/* test_rules: CUnit suite for core/lt_rules, a dataset's validation rules
 * (PROTOCOL.md 5.7): known-answer vectors for the citizen id (length,
 * digits, province, sex and century digit, year digits), dates (malformed,
 * impossible, future, before another date), enumerations, required fields,
 * and the compile errors that quote the offending token. */
#include "unit_util.h"
#include "lt_rules.h"
#include "lt_schema.h"
#include "lienthong.pb-c.h"
#include "records/population.pb-c.h"
#include "presence.pb-c.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

/* 2026-01-15T12:00:00Z: what "now" is for every check below. */
#define NOW 1768478400

static int suite_init(void)
{
    return 0;
}

static int suite_clean(void)
{
    return 0;
}

static Lienthong__Rule g_rules[8];
static Lienthong__Rule *g_rule_ptrs[8];
static char *g_status_values[] = {"CITIZEN_ALIVE", "CITIZEN_DECEASED", "CITIZEN_MISSING"};
static char *g_nat_values[] = {"VN"};

/* The population dataset with one rule of each kind. */
static void population_rules(Lienthong__Dataset *ds)
{
    lienthong__dataset__init(ds);
    ds->id = "VN/GOV/BCA/population";
    ds->owner = "VN/GOV/BCA";
    ds->record_type = "lienthong.records.Population";
    ds->key_field = "personal_id";
    for (size_t i = 0; i < 8; i++) {
        lienthong__rule__init(&g_rules[i]);
        g_rule_ptrs[i] = &g_rules[i];
    }
    g_rules[0].field = "personal_id";
    g_rules[0].check = "citizen_id";
    g_rules[0].sex = "sex";
    g_rules[0].birth = "date_of_birth";
    g_rules[1].field = "full_name";
    g_rules[1].check = "required";
    g_rules[2].field = "date_of_birth";
    g_rules[2].check = "date";
    g_rules[2].not_future = 1;
    g_rules[3].field = "date_of_death";
    g_rules[3].check = "date";
    g_rules[3].not_future = 1;
    g_rules[3].after = "date_of_birth";
    g_rules[4].field = "status";
    g_rules[4].check = "enum";
    g_rules[4].values = g_status_values;
    g_rules[4].n_values = 3;
    g_rules[5].field = "nationality";
    g_rules[5].check = "enum";
    g_rules[5].values = g_nat_values;
    g_rules[5].n_values = 1;
    g_rules[6].field = "sex";
    g_rules[6].check = "required";
    g_rules[7].field = "permanent_province";
    g_rules[7].check = "reference";
    g_rules[7].dataset = "VN/GOV/BCA/provinces";
    ds->rules = g_rule_ptrs;
    ds->n_rules = 8;
}

/* A valid record: a man born 1985-03-02 in Thanh Hóa (code 38). */
static void good_record(Lienthong__Records__Population *p)
{
    lienthong__records__population__init(p);
    p->personal_id = "038085012345";
    p->full_name = "Nguyễn Văn An";
    p->date_of_birth = "1985-03-02";
    p->sex = LIENTHONG__RECORDS__SEX__SEX_MALE;
    p->nationality = "VN";
    p->permanent_province = "38";
    p->status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
}

/* Checks p; returns the ids of the failed rules joined by ',' in out and
 * the first reason in why. */
static size_t run(const lt_rules_t *r, const Lienthong__Records__Population *p, char *out,
                  size_t cap, char *why, size_t whycap)
{
    lt_rules_fail_t f[LT_RULES_MAX];
    size_t n = lt_rules_check(r, &p->base, NOW, f, LT_RULES_MAX);
    out[0] = 0;
    if (why)
        why[0] = 0;
    for (size_t i = 0; i < n && i < LT_RULES_MAX; i++) {
        if (i)
            strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, lt_rules_id(r, f[i].rule), cap - strlen(out) - 1);
        if (i == 0 && why && whycap >= sizeof f[i].reason)
            memcpy(why, f[i].reason, sizeof f[i].reason);
    }
    return n;
}

static lt_rules_t *compile(void)
{
    static Lienthong__Dataset ds;
    population_rules(&ds);
    char err[256] = "";
    lt_rules_t *r = lt_rules_new(&ds, err, sizeof err);
    CU_ASSERT_FATAL(r != NULL);
    return r;
}

static void test_ids_and_references(void)
{
    lt_rules_t *r = compile();
    CU_ASSERT(lt_rules_count(r) == 8);
    CU_ASSERT_STRING_EQUAL(lt_rules_id(r, 0), "personal_id:citizen_id");
    CU_ASSERT_STRING_EQUAL(lt_rules_id(r, 3), "date_of_death:date");
    CU_ASSERT(lt_rules_id(r, 8) == NULL);
    const char *field = NULL;
    CU_ASSERT(lt_rules_reference(r, 0, &field) == NULL);
    CU_ASSERT_STRING_EQUAL(lt_rules_reference(r, 7, &field), "VN/GOV/BCA/provinces");
    CU_ASSERT_STRING_EQUAL(field, "permanent_province");
    CU_ASSERT(lt_rules_references(r) == 1);
    lt_rules_destroy(&r);
    CU_ASSERT(r == NULL);
    lt_rules_destroy(&r);
}

static void test_valid_record_passes(void)
{
    lt_rules_t *r = compile();
    Lienthong__Records__Population p;
    good_record(&p);
    char ids[512];
    CU_ASSERT(run(r, &p, ids, sizeof ids, NULL, 0) == 0);
    /* A woman born in 2003 in Hà Nội; deceased the day she was born. */
    p.personal_id = "001303999999";
    p.sex = LIENTHONG__RECORDS__SEX__SEX_FEMALE;
    p.date_of_birth = "2003-12-31";
    p.date_of_death = "2003-12-31";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED;
    CU_ASSERT(run(r, &p, ids, sizeof ids, NULL, 0) == 0);
    /* Every province code passes; a leap day in a leap year; today. */
    p.date_of_birth = "2000-02-29";
    p.date_of_death = "2026-01-15";
    for (size_t i = 0; lt_rules_province_code(i); i++) {
        char id[13];
        snprintf(id, sizeof id, "0%s300123456", lt_rules_province_code(i));
        p.personal_id = id;
        CU_ASSERT(run(r, &p, ids, sizeof ids, NULL, 0) == 0);
    }
    CU_ASSERT(lt_rules_province_code(63) == NULL);
    CU_ASSERT_STRING_EQUAL(lt_rules_province("96"), "Cà Mau");
    CU_ASSERT(lt_rules_province("03") == NULL);
    lt_rules_destroy(&r);
}

/* Each invalid id fails exactly the citizen id rule, with its reason. */
static void test_citizen_id_vectors(void)
{
    static const struct {
        const char *id, *dob;
        int sex;
        const char *why;
    } bad[] = {
        {"03808501234", "1985-03-02", 1, "not 12 digits"},
        {"0380850123456", "1985-03-02", 1, "not 12 digits"},
        {"03808501234x", "1985-03-02", 1, "not 12 digits"},
        {"03808501 345", "1985-03-02", 1, "not 12 digits"},
        {"003085012345", "1985-03-02", 1, "province code 003"}, /* no province 03 */
        {"099085012345", "1985-03-02", 1, "province code 099"},
        {"138085012345", "1985-03-02", 1, "province code 138"}, /* first digit not 0 */
        {"038185012345", "1985-03-02", 1, "for a woman"},       /* 1: female 1900s */
        {"038085012345", "1985-03-02", 2, "for a man"},
        {"038285012345", "1985-03-02", 1, "birth in 2000-2099"}, /* 2: male 2000s */
        {"038003012345", "2003-03-02", 1, "birth in 1900-1999"},
        {"038484012345", "1984-03-02", 1, "birth in 2100-2199"},
        {"038086012345", "1985-03-02", 1, "digits 5-6 (86)"},
        {"038204012345", "2003-03-02", 1, "digits 5-6 (04)"},
    };
    lt_rules_t *r = compile();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Lienthong__Records__Population p;
        good_record(&p);
        p.personal_id = (char *)bad[i].id;
        p.date_of_birth = (char *)bad[i].dob;
        p.sex = bad[i].sex;
        char ids[512], why[LT_RULES_REASON_MAX];
        CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
        CU_ASSERT_STRING_EQUAL(ids, "personal_id:citizen_id");
        if (!strstr(why, bad[i].why))
            fprintf(stderr, "vector %zu (%s): reason '%s' lacks '%s'\n", i, bad[i].id, why,
                    bad[i].why);
        CU_ASSERT(strstr(why, bad[i].why) != NULL);
    }
    /* Without a sex or a birth date the digit is not held against them. */
    Lienthong__Records__Population p;
    good_record(&p);
    p.personal_id = "038185012345";
    p.sex = LIENTHONG__RECORDS__SEX__SEX_UNSPECIFIED;
    char ids[512];
    CU_ASSERT(run(r, &p, ids, sizeof ids, NULL, 0) == 1); /* sex:required only */
    CU_ASSERT_STRING_EQUAL(ids, "sex:required");
    lt_rules_destroy(&r);
}

static void test_date_vectors(void)
{
    static const struct {
        const char *dob, *dod, *ids, *why;
    } cases[] = {
        {"1985-3-2", "", "date_of_birth:date", "not a calendar date"},
        {"02/03/1985", "", "date_of_birth:date", "not a calendar date"},
        {"1985-03-02T00:00", "", "date_of_birth:date", "not a calendar date"},
        {"1985-13-02", "", "date_of_birth:date", "not a calendar date"},
        {"1985-04-31", "", "date_of_birth:date", "not a calendar date"},
        {"1985-03-00", "", "date_of_birth:date", "not a calendar date"},
        {"1985-03-02", "2023-02-29", "date_of_death:date", "not a calendar date"},
        {"1985-03-02", "1900-02-29", "date_of_death:date", "not a calendar date"},
        {"1985-03-02", "2026-01-16", "date_of_death:date", "in the future"},
        {"1985-03-02", "2099-01-01", "date_of_death:date", "in the future"},
        {"1985-03-02", "1985-03-01", "date_of_death:date", "before date_of_birth 1985-03-02"},
        {"1985-03-02", "1960-07-20", "date_of_death:date", "before date_of_birth"},
    };
    lt_rules_t *r = compile();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Lienthong__Records__Population p;
        good_record(&p);
        p.date_of_birth = (char *)cases[i].dob;
        p.date_of_death = (char *)cases[i].dod;
        char ids[512], why[LT_RULES_REASON_MAX];
        CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
        CU_ASSERT_STRING_EQUAL(ids, cases[i].ids);
        CU_ASSERT(strstr(why, cases[i].why) != NULL);
    }
    /* A future birth fails the date rule; the id's century digit (0: the
     * 1900s) then also disagrees, so both are reported. */
    Lienthong__Records__Population p;
    good_record(&p);
    p.date_of_birth = "2085-03-02";
    char ids[512];
    CU_ASSERT(run(r, &p, ids, sizeof ids, NULL, 0) == 2);
    CU_ASSERT_STRING_EQUAL(ids, "personal_id:citizen_id,date_of_birth:date");
    int y, m, d;
    CU_ASSERT(lt_rules_date("2024-02-29", &y, &m, &d) == 0 && y == 2024 && m == 2 && d == 29);
    CU_ASSERT(lt_rules_date("2100-02-29", &y, &m, &d) != 0);
    CU_ASSERT(lt_rules_date("0000-01-01", &y, &m, &d) != 0);
    CU_ASSERT(lt_rules_date(NULL, &y, &m, &d) != 0);
    lt_rules_destroy(&r);
}

static void test_enum_and_required(void)
{
    lt_rules_t *r = compile();
    Lienthong__Records__Population p;
    good_record(&p);
    char ids[512], why[LT_RULES_REASON_MAX];
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_UNSPECIFIED;
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
    CU_ASSERT_STRING_EQUAL(ids, "status:enum");
    CU_ASSERT(strstr(why, "'CITIZEN_UNSPECIFIED'") != NULL);
    good_record(&p);
    p.nationality = "LA";
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
    CU_ASSERT_STRING_EQUAL(ids, "nationality:enum");
    p.nationality = ""; /* empty: not this rule's business */
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 0);
    good_record(&p);
    p.full_name = "   ";
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
    /* Blank is the White_Space of the verify normaliser (PROTOCOL.md 7.6):
     * before, no-break and ideographic spaces and \v passed as set. */
    static const char *const blanks[] = {"\xc2\xa0", "\xe3\x80\x80", "\v", " \xc2\xa0\f"};
    for (size_t i = 0; i < sizeof blanks / sizeof *blanks; i++) {
        p.full_name = (char *)blanks[i];
        CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
        CU_ASSERT_STRING_EQUAL(ids, "full_name:required");
    }
    p.full_name = "\xc2\xa0"
                  "An";
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 0);
    p.full_name = "   ";
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
    CU_ASSERT_STRING_EQUAL(ids, "full_name:required");
    CU_ASSERT(strstr(why, "full_name is empty") != NULL);
    p.full_name = "";
    p.personal_id = "03808501234";
    p.date_of_death = "2023-02-29";
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 3);
    CU_ASSERT_STRING_EQUAL(ids, "personal_id:citizen_id,full_name:required,date_of_death:date");
    /* Only cap failures are written, every one is counted. */
    lt_rules_fail_t one[1];
    CU_ASSERT(lt_rules_check(r, &p.base, NOW, one, 1) == 3);
    CU_ASSERT(one[0].rule == 0);
    lt_rules_destroy(&r);
}

/* The one rule compiled against lienthong.StreamStatus, a message with
 * kinds of field no record type has yet (a double, a text to stand for a
 * sex); refused against no type at all. */
static lt_rules_t *status_rules(Lienthong__Rule *rule)
{
    Lienthong__Dataset ds = LIENTHONG__DATASET__INIT;
    ds.rules = &rule;
    ds.n_rules = 1;
    char err[256] = "";
    CU_ASSERT(lt_rules_new_type(NULL, &ds, err, sizeof err) == NULL);
    CU_ASSERT(strstr(err, "unknown record type") != NULL);
    lt_rules_t *r = lt_rules_new_type(&lienthong__stream_status__descriptor, &ds, err, sizeof err);
    CU_ASSERT_FATAL(r != NULL);
    return r;
}

/* `required` on a field other than a string is set when the record carries
 * it (PROTOCOL.md 5.7). Before, an enum number no name stands for was "not
 * set", and a float or double never set. */
static void test_required_kinds(void)
{
    lt_rules_t *r = compile();
    Lienthong__Records__Population p;
    good_record(&p);
    char ids[512], why[LT_RULES_REASON_MAX];
    p.sex = 7; /* a sender's newer revision of Sex */
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 0);
    p.sex = LIENTHONG__RECORDS__SEX__SEX_UNSPECIFIED;
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
    CU_ASSERT_STRING_EQUAL(ids, "sex:required");
    CU_ASSERT_STRING_EQUAL(why, "sex is not set");
    good_record(&p);
    p.status = 9;
    CU_ASSERT(run(r, &p, ids, sizeof ids, why, sizeof why) == 1);
    CU_ASSERT_STRING_EQUAL(ids, "status:enum");
    CU_ASSERT_STRING_EQUAL(why, "9 is an unknown enum value of lienthong.records.CitizenStatus");
    lt_rules_destroy(&r);

    /* No record type has a double yet: a status message stands in. */
    Lienthong__Rule rule = LIENTHONG__RULE__INIT;
    rule.field = "records_per_sec";
    rule.check = "required";
    r = status_rules(&rule);
    Lienthong__StreamStatus st = LIENTHONG__STREAM_STATUS__INIT;
    lt_rules_fail_t f[1];
    CU_ASSERT(lt_rules_check(r, &st.base, NOW, f, 1) == 1);
    CU_ASSERT_STRING_EQUAL(f[0].reason, "records_per_sec is not set");
    static const double set[] = {1.5, -2.0, 1e-300, -0.0, NAN};
    for (size_t i = 0; i < sizeof set / sizeof *set; i++) {
        st.records_per_sec = set[i];
        CU_ASSERT(lt_rules_check(r, &st.base, NOW, f, 1) == 0);
    }
    lt_rules_destroy(&r);
}

/* The one `required` rule on field of lienthong.test.Presence (tests/unit/
 * presence.proto), applied to m: 0, or 1 with the reason in why. */
static size_t s_presence_required(const char *field, const Lienthong__Test__Presence *m, char *why)
{
    Lienthong__Rule rule = LIENTHONG__RULE__INIT, *rp = &rule;
    rule.field = (char *)field;
    rule.check = "required";
    Lienthong__Dataset ds = LIENTHONG__DATASET__INIT;
    ds.rules = &rp;
    ds.n_rules = 1;
    char err[256] = "";
    lt_rules_t *r = lt_rules_new_type(&lienthong__test__presence__descriptor, &ds, err, sizeof err);
    CU_ASSERT_FATAL(r != NULL);
    lt_rules_fail_t f[1] = {{0}};
    size_t n = lt_rules_check(r, &m->base, NOW, f, 1);
    snprintf(why, LT_RULES_REASON_MAX, "%s", n ? f[0].reason : "");
    lt_rules_destroy(&r);
    return n;
}

/* `required` on a field with presence (PROTOCOL.md 5.7): an `optional`
 * field is set when its has_ flag says so, a zero included; a oneof member
 * exactly when the oneof's case is its number. Before, lt_schema_set read
 * the value alone: an optional 0 or false was "not set", an optional 5
 * without its flag set, and a oneof member not chosen was read from the
 * chosen one's bytes (the email "set" while the case was the phone). */
static void test_required_presence(void)
{
    Lienthong__Test__Presence m = LIENTHONG__TEST__PRESENCE__INIT;
    const ProtobufCMessageDescriptor *t = &lienthong__test__presence__descriptor;
    char why[LT_RULES_REASON_MAX];
    m.has_count = 1;
    m.count = 0;
    CU_ASSERT(lt_schema_set(&m.base, lt_schema_field(t, "count")));
    CU_ASSERT(s_presence_required("count", &m, why) == 0);
    m.has_flag = 1;
    CU_ASSERT(s_presence_required("flag", &m, why) == 0);
    m.has_count = 0;
    m.count = 5;
    CU_ASSERT(!lt_schema_set(&m.base, lt_schema_field(t, "count")));
    CU_ASSERT(s_presence_required("count", &m, why) == 1);
    CU_ASSERT_STRING_EQUAL(why, "count is not set");

    m.contact_case = LIENTHONG__TEST__PRESENCE__CONTACT_PHONE;
    m.phone = 0;
    CU_ASSERT(lt_schema_set(&m.base, lt_schema_field(t, "phone")));
    CU_ASSERT(!lt_schema_set(&m.base, lt_schema_field(t, "email")));
    CU_ASSERT(s_presence_required("phone", &m, why) == 0);
    CU_ASSERT(s_presence_required("email", &m, why) == 1);
    CU_ASSERT_STRING_EQUAL(why, "email is empty");
    /* The union holds an address, but the case says phone. */
    m.email = "an@example.vn";
    CU_ASSERT(!lt_schema_set(&m.base, lt_schema_field(t, "email")));
    CU_ASSERT(s_presence_required("email", &m, why) == 1);
    m.contact_case = LIENTHONG__TEST__PRESENCE__CONTACT_EMAIL;
    CU_ASSERT(lt_schema_set(&m.base, lt_schema_field(t, "email")));
    CU_ASSERT(!lt_schema_set(&m.base, lt_schema_field(t, "phone")));
    CU_ASSERT(s_presence_required("email", &m, why) == 0);
    CU_ASSERT(s_presence_required("phone", &m, why) == 1);
    CU_ASSERT_STRING_EQUAL(why, "phone is not set");
    m.contact_case = LIENTHONG__TEST__PRESENCE__CONTACT__NOT_SET;
    CU_ASSERT(s_presence_required("email", &m, why) == 1);
    CU_ASSERT(s_presence_required("phone", &m, why) == 1);
}

/* An optional string with an explicit default that the record does not
 * carry is left pointing at the default by protobuf-c: not set. Before, a
 * non-NULL pointer was "set", so `required` passed a record without it. */
static void test_required_default(void)
{
    const ProtobufCMessageDescriptor *t = &lienthong__test__presence__descriptor;
    Lienthong__Test__Presence m = LIENTHONG__TEST__PRESENCE__INIT;
    char why[LT_RULES_REASON_MAX];
    uint8_t buf[64];
    m.key = "001";
    size_t len = lienthong__test__presence__pack(&m, buf);
    Lienthong__Test__Presence *got = lienthong__test__presence__unpack(NULL, len, buf);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT_STRING_EQUAL(got->region, "VN");
    CU_ASSERT(!lt_schema_set(&got->base, lt_schema_field(t, "region")));
    CU_ASSERT(s_presence_required("region", got, why) == 1);
    lienthong__test__presence__free_unpacked(got, NULL);
    /* Carried, even with the default's text, it is set. */
    m.region = "VN";
    len = lienthong__test__presence__pack(&m, buf);
    got = lienthong__test__presence__unpack(NULL, len, buf);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT(lt_schema_set(&got->base, lt_schema_field(t, "region")));
    CU_ASSERT(s_presence_required("region", got, why) == 0);
    lienthong__test__presence__free_unpacked(got, NULL);
}

/* A view's projection (lt_schema_project) keeps a oneof member only when it
 * is the chosen one. Before, projecting the email of a record holding a
 * phone copied the phone's case with the union's bytes, so the view's
 * record carried the phone, a field it leaves out. */
static void test_project_oneof(void)
{
    Lienthong__Test__Presence m = LIENTHONG__TEST__PRESENCE__INIT;
    m.key = "001";
    m.contact_case = LIENTHONG__TEST__PRESENCE__CONTACT_PHONE;
    m.phone = 7;
    char *keep[] = {"email"};
    uint8_t *buf = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(lt_schema_project(&m.base, keep, 1, "key", &buf, &len) == 0);
    Lienthong__Test__Presence *got = lienthong__test__presence__unpack(NULL, len, buf);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT_STRING_EQUAL(got->key, "001");
    CU_ASSERT_EQUAL(got->contact_case, LIENTHONG__TEST__PRESENCE__CONTACT__NOT_SET);
    lienthong__test__presence__free_unpacked(got, NULL);
    free(buf);
    char *both[] = {"email", "phone"};
    CU_ASSERT_FATAL(lt_schema_project(&m.base, both, 2, NULL, &buf, &len) == 0);
    got = lienthong__test__presence__unpack(NULL, len, buf);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT_EQUAL(got->contact_case, LIENTHONG__TEST__PRESENCE__CONTACT_PHONE);
    CU_ASSERT_EQUAL(got->phone, 7);
    lienthong__test__presence__free_unpacked(got, NULL);
    free(buf);
}

/* A sex given as text is compared whatever its case and Unicode
 * normalisation form (PROTOCOL.md 5.7). Before, only NFC "nữ" and "Nữ"
 * were a woman: "NỮ" or a decomposed "nữ" was not compared at all. No
 * record type has a text sex yet: a status message's strings stand in. */
static void test_sex_text(void)
{
    Lienthong__Rule rule = LIENTHONG__RULE__INIT;
    rule.field = "stream";
    rule.check = "citizen_id";
    rule.sex = "role";
    lt_rules_t *r = status_rules(&rule);
    static const struct {
        const char *sex;
        int female;
    } said[] = {
        {"n\xe1\xbb\xaf", 1},      /* nữ, NFC */
        {"N\xe1\xbb\xae", 1},      /* NỮ */
        {"N\xe1\xbb\xaf", 1},      /* Nữ */
        {"nu\xcc\x9b\xcc\x83", 1}, /* nữ, NFD */
        {"NU\xcc\x9b\xcc\x83", 1}, /* NỮ, NFD */
        {"N\xc6\xaf\xcc\x83", 1},  /* NỮ, Ư then the tilde */
        {"NU", 1},
        {"Female", 1},
        {"SEX_FEMALE", 1},
        {"f", 1},
        {"NAM", 0},
        {"Nam", 0},
        {"MALE", 0},
        {"m", 0},
    };
    Lienthong__StreamStatus st = LIENTHONG__STREAM_STATUS__INIT;
    lt_rules_fail_t f[1];
    for (size_t i = 0; i < sizeof said / sizeof *said; i++) {
        st.role = (char *)said[i].sex;
        st.stream = "038085012345"; /* digit 4 is 0: a man */
        size_t want = said[i].female ? 1 : 0;
        CU_ASSERT(lt_rules_check(r, &st.base, NOW, f, 1) == want);
        if (lt_rules_check(r, &st.base, NOW, f, 1) != want)
            fprintf(stderr, "sex '%s' taken for a %s\n", said[i].sex,
                    said[i].female ? "man" : "woman");
        st.stream = "038185012345"; /* digit 4 is 1: a woman */
        CU_ASSERT(lt_rules_check(r, &st.base, NOW, f, 1) == 1 - want);
    }
    /* Neither: not compared. */
    st.role = "kh\xc3\xa1"
              "c"; /* khác */
    CU_ASSERT(lt_rules_check(r, &st.base, NOW, f, 1) == 0);
    st.stream = "038085012345";
    CU_ASSERT(lt_rules_check(r, &st.base, NOW, f, 1) == 0);
    lt_rules_destroy(&r);
}

/* Compiles ds with rule 0 changed by edit; expects the error to hold want. */
static void expect_refused(void (*edit)(Lienthong__Rule *), const char *want)
{
    Lienthong__Dataset ds;
    population_rules(&ds);
    edit(&g_rules[0]);
    char err[256] = "";
    lt_rules_t *r = lt_rules_new(&ds, err, sizeof err);
    CU_ASSERT(r == NULL);
    if (!strstr(err, want))
        fprintf(stderr, "compile error '%s' lacks '%s'\n", err, want);
    CU_ASSERT(strstr(err, want) != NULL);
    lt_rules_destroy(&r);
}

static void e_check(Lienthong__Rule *r)
{
    r->check = "cccd";
}
static void e_field(Lienthong__Rule *r)
{
    r->field = "shoe_size";
}
static void e_empty_field(Lienthong__Rule *r)
{
    r->field = "";
}
static void e_sex(Lienthong__Rule *r)
{
    r->sex = "gender";
}
static void e_birth(Lienthong__Rule *r)
{
    r->birth = "status";
}
static void e_stray(Lienthong__Rule *r)
{
    r->not_future = 1;
}
static void e_values(Lienthong__Rule *r)
{
    r->check = "enum";
    r->sex = "";
    r->birth = "";
}
static void e_enum_value(Lienthong__Rule *r)
{
    static char *v[] = {"CITIZEN_ALIVE", "ALIVE"};
    r->field = "status";
    r->check = "enum";
    r->sex = r->birth = "";
    r->values = v;
    r->n_values = 2;
}
static void e_enum_empty(Lienthong__Rule *r)
{
    static char *v[] = {"VN", ""};
    r->field = "nationality";
    r->check = "enum";
    r->sex = r->birth = "";
    r->values = v;
    r->n_values = 2;
}
static void e_dup(Lienthong__Rule *r)
{
    r->field = "full_name";
    r->check = "required";
    r->sex = r->birth = "";
}
static void e_ref(Lienthong__Rule *r)
{
    r->check = "reference";
    r->sex = r->birth = "";
}
static void e_date_enum(Lienthong__Rule *r)
{
    r->field = "sex";
    r->check = "date";
    r->sex = r->birth = "";
}
static void e_self(Lienthong__Rule *r)
{
    r->field = "date_of_birth";
    r->check = "date";
    r->sex = r->birth = "";
    r->after = "date_of_birth";
}

static void test_compile_errors(void)
{
    expect_refused(e_check, "unknown check 'cccd'");
    expect_refused(e_field, "'shoe_size' is not a field of lienthong.records.Population");
    expect_refused(e_empty_field, "rule 1: 'field' is empty");
    expect_refused(e_sex, "sex 'gender' is not a field");
    expect_refused(e_birth, "birth 'status' is not a string field");
    expect_refused(e_stray, "'not_future' does not apply to check 'citizen_id'");
    expect_refused(e_values, "1 to 256 values, not 0");
    expect_refused(e_enum_value, "'ALIVE' is not a value of lienthong.records.CitizenStatus");
    expect_refused(e_enum_empty, "rule 1 (nationality): value 2 of the enum rule is empty ('')");
    expect_refused(e_dup, "'full_name:required' is listed twice");
    expect_refused(e_ref, "names its 'dataset'");
    expect_refused(e_date_enum, "field 'sex' is not a string field");
    expect_refused(e_self, "'after' names the field itself");
    Lienthong__Dataset ds;
    population_rules(&ds);
    ds.record_type = "lienthong.records.Nope";
    char err[256];
    CU_ASSERT(lt_rules_new(&ds, err, sizeof err) == NULL);
    CU_ASSERT(strstr(err, "'lienthong.records.Nope'") != NULL);
    ds.record_type = "lienthong.records.Population";
    ds.n_rules = 0;
    lt_rules_t *none = lt_rules_new(&ds, err, sizeof err);
    CU_ASSERT(none != NULL && lt_rules_count(none) == 0);
    lt_rules_destroy(&none);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"rule ids and reference rules", test_ids_and_references},
        {"valid records pass (every province, leap day, today)", test_valid_record_passes},
        {"citizen id: length, digits, province, sex, century, year", test_citizen_id_vectors},
        {"dates: malformed, impossible, future, before another", test_date_vectors},
        {"enumerations and required fields; several failures", test_enum_and_required},
        {"required: enum numbers without a name, doubles", test_required_kinds},
        {"required: optional fields and oneof members by their presence", test_required_presence},
        {"required: an optional string left at its explicit default", test_required_default},
        {"a view keeps a oneof member only when chosen", test_project_oneof},
        {"citizen id: a text sex in any case and normalisation form", test_sex_text},
        {"compile errors quote the token", test_compile_errors},
        {NULL, NULL},
    };
    return ut_main("lt_rules", suite_init, suite_clean, tests);
}
