/* lt_rules: a dataset's validation rules (PROTOCOL.md 5.7), compiled against
 * the record type and applied to each published record. The owner's gateway
 * compiles them once per Publish (at most LT_RULES_MAX field look-ups by
 * name, small beside the group's commit), so a new directory needs no cache
 * to invalidate. */
#include "lt_rules.h"
#include "lt_err.h"
#include "lt_norm.h"
#include "lt_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>

typedef enum { K_REQUIRED, K_CITIZEN_ID, K_DATE, K_ENUM, K_REFERENCE } s_kind_t;

typedef struct {
    const Lienthong__Rule *src;
    s_kind_t kind;
    char id[LT_RULES_ID_MAX];
    const ProtobufCFieldDescriptor *fd, *sex, *birth, *after;
} s_rule_t;

struct _lt_rules_t {
    s_rule_t *rules;
    size_t n;
};

/* The 63 provinces and centrally-run cities and their codes, as the
 * personal id's digits 2-3 write the province of birth registration. */
static const struct {
    const char *code, *name;
} s_provinces[] = {
    {"01", "Hà Nội"},
    {"02", "Hà Giang"},
    {"04", "Cao Bằng"},
    {"06", "Bắc Kạn"},
    {"08", "Tuyên Quang"},
    {"10", "Lào Cai"},
    {"11", "Điện Biên"},
    {"12", "Lai Châu"},
    {"14", "Sơn La"},
    {"15", "Yên Bái"},
    {"17", "Hòa Bình"},
    {"19", "Thái Nguyên"},
    {"20", "Lạng Sơn"},
    {"22", "Quảng Ninh"},
    {"24", "Bắc Giang"},
    {"25", "Phú Thọ"},
    {"26", "Vĩnh Phúc"},
    {"27", "Bắc Ninh"},
    {"30", "Hải Dương"},
    {"31", "Hải Phòng"},
    {"33", "Hưng Yên"},
    {"34", "Thái Bình"},
    {"35", "Hà Nam"},
    {"36", "Nam Định"},
    {"37", "Ninh Bình"},
    {"38", "Thanh Hóa"},
    {"40", "Nghệ An"},
    {"42", "Hà Tĩnh"},
    {"44", "Quảng Bình"},
    {"45", "Quảng Trị"},
    {"46", "Thừa Thiên Huế"},
    {"48", "Đà Nẵng"},
    {"49", "Quảng Nam"},
    {"51", "Quảng Ngãi"},
    {"52", "Bình Định"},
    {"54", "Phú Yên"},
    {"56", "Khánh Hòa"},
    {"58", "Ninh Thuận"},
    {"60", "Bình Thuận"},
    {"62", "Kon Tum"},
    {"64", "Gia Lai"},
    {"66", "Đắk Lắk"},
    {"67", "Đắk Nông"},
    {"68", "Lâm Đồng"},
    {"70", "Bình Phước"},
    {"72", "Tây Ninh"},
    {"74", "Bình Dương"},
    {"75", "Đồng Nai"},
    {"77", "Bà Rịa - Vũng Tàu"},
    {"79", "TP Hồ Chí Minh"},
    {"80", "Long An"},
    {"82", "Tiền Giang"},
    {"83", "Bến Tre"},
    {"84", "Trà Vinh"},
    {"86", "Vĩnh Long"},
    {"87", "Đồng Tháp"},
    {"89", "An Giang"},
    {"91", "Kiên Giang"},
    {"92", "Cần Thơ"},
    {"93", "Hậu Giang"},
    {"94", "Sóc Trăng"},
    {"95", "Bạc Liêu"},
    {"96", "Cà Mau"},
};
_Static_assert(sizeof s_provinces / sizeof s_provinces[0] == 63,
               "Viet Nam has 63 provinces and cities");

const char *lt_rules_province(const char *code)
{
    for (size_t i = 0; code && i < sizeof s_provinces / sizeof s_provinces[0]; i++)
        if (strcmp(s_provinces[i].code, code) == 0)
            return s_provinces[i].name;
    return NULL;
}

const char *lt_rules_province_code(size_t i)
{
    return i < sizeof s_provinces / sizeof s_provinces[0] ? s_provinces[i].code : NULL;
}

/* ---- dates ---- */

static int s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int lt_rules_date(const char *s, int *y, int *m, int *d)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    *y = atoi(s);
    *m = atoi(s + 5);
    *d = atoi(s + 8);
    if (*y < 1 || *m < 1 || *m > 12 || *d < 1)
        return -1;
    int last = days[*m - 1] + (*m == 2 && s_leap(*y));
    return *d <= last ? 0 : -1;
}

/* Days since 1970-01-01 to (y, m, d), proleptic Gregorian. */
static int64_t s_days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ---- compiling ---- */

static const struct {
    const char *name;
    s_kind_t kind;
} s_checks[] = {{"required", K_REQUIRED},
                {"citizen_id", K_CITIZEN_ID},
                {"date", K_DATE},
                {"enum", K_ENUM},
                {"reference", K_REFERENCE}};

/* A plain (not repeated, not message) field of t named name; with
 * need_string, a string field. */
static int s_plain(const ProtobufCMessageDescriptor *t, const char *name, int need_string,
                   const char *role, size_t i, const ProtobufCFieldDescriptor **out, char *err,
                   size_t errlen)
{
    *out = lt_schema_field(t, name);
    if (!*out)
        return lt_err_set(err, errlen, "rule %zu: %s '%s' is not a field of %s", i + 1, role, name,
                          t->name);
    if ((*out)->label == PROTOBUF_C_LABEL_REPEATED || (*out)->type == PROTOBUF_C_TYPE_MESSAGE ||
        (*out)->type == PROTOBUF_C_TYPE_BYTES)
        return lt_err_set(err, errlen, "rule %zu: %s '%s' is a list, a message or bytes", i + 1,
                          role, name);
    if (need_string && (*out)->type != PROTOBUF_C_TYPE_STRING)
        return lt_err_set(err, errlen, "rule %zu: %s '%s' is not a string field", i + 1, role,
                          name);
    return 0;
}

/* Settings that belong to another check are refused rather than ignored:
 * an owner who writes `not_future` on an enum rule meant something. */
static int s_args(const Lienthong__Rule *r, s_kind_t k, size_t i, char *err, size_t errlen)
{
    const char *stray = NULL;
    if (r->sex[0] && k != K_CITIZEN_ID)
        stray = "sex";
    else if (r->birth[0] && k != K_CITIZEN_ID)
        stray = "birth";
    else if (r->not_future && k != K_DATE)
        stray = "not_future";
    else if (r->after[0] && k != K_DATE)
        stray = "after";
    else if (r->n_values && k != K_ENUM)
        stray = "values";
    else if (r->dataset[0] && k != K_REFERENCE)
        stray = "dataset";
    if (stray)
        return lt_err_set(err, errlen, "rule %zu (%s): '%s' does not apply to check '%s'", i + 1,
                          r->field, stray, r->check);
    return 0;
}

static int s_enum_values(const Lienthong__Rule *r, const ProtobufCFieldDescriptor *fd, size_t i,
                         char *err, size_t errlen)
{
    if (r->n_values == 0 || r->n_values > LT_RULES_VALUES_MAX)
        return lt_err_set(err, errlen, "rule %zu (%s): an enum rule lists 1 to %d values, not %zu",
                          i + 1, r->field, LT_RULES_VALUES_MAX, r->n_values);
    for (size_t v = 0; v < r->n_values; v++) {
        /* An empty text is a field not set, which every format check
         * passes (5.7): listed, it would read as the owner allowing or
         * forbidding it, and do neither; `required` is what decides. */
        if (!r->values[v][0])
            return lt_err_set(err, errlen,
                              "rule %zu (%s): value %zu of the enum rule is empty (''); an "
                              "empty text passes unlisted, only 'required' refuses it",
                              i + 1, r->field, v + 1);
        if (fd->type == PROTOBUF_C_TYPE_ENUM &&
            !protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, r->values[v]))
            return lt_err_set(err, errlen, "rule %zu (%s): '%s' is not a value of %s", i + 1,
                              r->field, r->values[v],
                              ((const ProtobufCEnumDescriptor *)fd->descriptor)->name);
        if (fd->type != PROTOBUF_C_TYPE_ENUM && fd->type != PROTOBUF_C_TYPE_STRING)
            return lt_err_set(err, errlen,
                              "rule %zu (%s): an enum rule needs a string or enum field", i + 1,
                              r->field);
    }
    return 0;
}

static int s_compile_one(const ProtobufCMessageDescriptor *t, const Lienthong__Rule *r, size_t i,
                         s_rule_t *out, char *err, size_t errlen)
{
    out->src = r;
    /* An empty name is no field: said as such, not looked up as one. */
    if (!r->field[0])
        return lt_err_set(err, errlen, "rule %zu: 'field' is empty", i + 1);
    size_t c = 0;
    while (c < sizeof s_checks / sizeof s_checks[0] && strcmp(s_checks[c].name, r->check) != 0)
        c++;
    if (c == sizeof s_checks / sizeof s_checks[0])
        return lt_err_set(err, errlen,
                          "rule %zu (%s): unknown check '%s' (known: required, citizen_id, date, "
                          "enum, reference)",
                          i + 1, r->field, r->check);
    out->kind = s_checks[c].kind;
    int need_string = out->kind == K_CITIZEN_ID || out->kind == K_DATE || out->kind == K_REFERENCE;
    if (s_plain(t, r->field, need_string, "field", i, &out->fd, err, errlen) ||
        s_args(r, out->kind, i, err, errlen))
        return -1;
    snprintf(out->id, sizeof out->id, "%s:%s", r->field, r->check);
    if (r->sex[0] && s_plain(t, r->sex, 0, "sex", i, &out->sex, err, errlen))
        return -1;
    if (out->sex && out->sex->type != PROTOBUF_C_TYPE_ENUM &&
        out->sex->type != PROTOBUF_C_TYPE_STRING)
        return lt_err_set(err, errlen, "rule %zu: sex '%s' is not a string or enum field", i + 1,
                          r->sex);
    if (r->birth[0] && s_plain(t, r->birth, 1, "birth", i, &out->birth, err, errlen))
        return -1;
    if (r->after[0] && s_plain(t, r->after, 1, "after", i, &out->after, err, errlen))
        return -1;
    if (out->after == out->fd && out->fd)
        return lt_err_set(err, errlen, "rule %zu (%s): 'after' names the field itself", i + 1,
                          r->field);
    if (out->kind == K_ENUM && s_enum_values(r, out->fd, i, err, errlen))
        return -1;
    if (out->kind == K_REFERENCE && !r->dataset[0])
        return lt_err_set(err, errlen, "rule %zu (%s): a reference rule names its 'dataset'", i + 1,
                          r->field);
    return 0;
}

lt_rules_t *lt_rules_new(const Lienthong__Dataset *ds, char *err, size_t errlen)
{
    return lt_rules_new_type(lt_schema_find(ds->record_type), ds, err, errlen);
}

lt_rules_t *lt_rules_new_type(const ProtobufCMessageDescriptor *t, const Lienthong__Dataset *ds,
                              char *err, size_t errlen)
{
    lt_rules_t *self = NULL;
    if (!t) {
        lt_err_set(err, errlen, "unknown record type '%s'", ds->record_type);
        goto fail;
    }
    if (ds->n_rules > LT_RULES_MAX) {
        lt_err_set(err, errlen, "%zu rules, over the limit of %d", ds->n_rules, LT_RULES_MAX);
        goto fail;
    }
    self = calloc(1, sizeof *self);
    if (!self || !(self->rules = calloc(ds->n_rules + 1, sizeof *self->rules))) {
        lt_err_set(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ds->n_rules; i++, self->n++) {
        if (s_compile_one(t, ds->rules[i], i, &self->rules[i], err, errlen) != 0)
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(self->rules[j].id, self->rules[i].id) == 0) {
                lt_err_set(err, errlen, "rule %zu: '%s' is listed twice", i + 1, self->rules[i].id);
                goto fail;
            }
    }
    return self;
fail:
    lt_rules_destroy(&self);
    return NULL;
}

void lt_rules_destroy(lt_rules_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->rules);
    free(*self_p);
    *self_p = NULL;
}

size_t lt_rules_count(const lt_rules_t *self)
{
    return self->n;
}

const char *lt_rules_id(const lt_rules_t *self, size_t i)
{
    return i < self->n ? self->rules[i].id : NULL;
}

const char *lt_rules_reference(const lt_rules_t *self, size_t i, const char **field)
{
    if (i >= self->n || self->rules[i].kind != K_REFERENCE)
        return NULL;
    if (field)
        *field = self->rules[i].src->field;
    return self->rules[i].src->dataset;
}

size_t lt_rules_references(const lt_rules_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += self->rules[i].kind == K_REFERENCE;
    return n;
}

/* ---- checking ---- */

typedef struct {
    const ProtobufCMessage *msg;
    int64_t today; /* days since 1970-01-01, UTC */
    char buf[64];  /* room for numbers and enum names in text form */
} s_ctx_t;

static const char *s_text(s_ctx_t *c, const ProtobufCFieldDescriptor *fd)
{
    const char *v = fd ? lt_schema_text(c->msg, fd, c->buf, sizeof c->buf) : NULL;
    return v ? v : "";
}

/* 1 when s is empty or only white space: the White_Space a verify's
 * normaliser trims (PROTOCOL.md 7.6), so that no value `required` lets
 * through is one that verifies as empty. */
static int s_blank(const char *s)
{
    size_t n = strlen(s);
    return lt_norm_spaces(s, n) == n;
}

static int s_required(s_ctx_t *c, const s_rule_t *r, char *why)
{
    const ProtobufCFieldDescriptor *fd = r->fd;
    /* A text the record does not carry (an optional one left at its
     * default) is empty however its default reads. */
    if (fd->type == PROTOBUF_C_TYPE_STRING)
        return !lt_schema_set(c->msg, fd) || s_blank(s_text(c, fd))
                   ? lt_err_set(why, LT_RULES_REASON_MAX, "%s is empty", fd->name)
                   : 0;
    /* proto3 scalars: set is what the wire carries, the value not the
     * default (5.7). Read from the field itself, not its text: an enum
     * number no name stands for and a float or double are set as well. */
    return lt_schema_set(c->msg, fd)
               ? 0
               : lt_err_set(why, LT_RULES_REASON_MAX, "%s is not set", fd->name);
}

/* 1 when the n bytes at f, or their last n - len(word) bytes with
 * suffix, are word. */
static int s_is(const uint8_t *f, size_t n, const char *word, int suffix)
{
    size_t w = strlen(word);
    return (n == w || (suffix && n > w)) && memcmp(f + n - w, word, w) == 0;
}

/* 1 male, 2 female, 0 unknown: enum names such as SEX_MALE, or text. The
 * text is compared case-folded in NFC, so that "NỮ", "Nữ" and a decomposed
 * "nữ" (a register's export may hold any) are all a woman (5.7). */
static int s_sex(const char *v)
{
    uint8_t buf[64];
    size_t n = sizeof buf;
    uint8_t *f = u8_casefold((const uint8_t *)v, strlen(v), NULL, UNINORM_NFC, buf, &n);
    if (!f)
        return 0; /* out of memory (ill-formed input is mapped, not refused): not compared */
    int sex = 0;
    if (s_is(f, n, "female", 1) || s_is(f, n, "f", 0) || s_is(f, n, "nu", 0) ||
        s_is(f, n, "n\xe1\xbb\xaf", 0)) /* nữ */
        sex = 2;
    else if (s_is(f, n, "male", 1) || s_is(f, n, "m", 0) || s_is(f, n, "nam", 0))
        sex = 1;
    if (f != buf)
        free(f);
    return sex;
}

static int s_citizen_id(s_ctx_t *c, const s_rule_t *r, char *why)
{
    const char *v = s_text(c, r->fd);
    if (!*v)
        return 0;
    size_t n = strlen(v);
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            n = 0;
    if (n != 12)
        return lt_err_set(why, LT_RULES_REASON_MAX, "'%.40s' is not 12 digits", v);
    char code[3] = {v[1], v[2], 0};
    if (v[0] != '0' || !lt_rules_province(code))
        return lt_err_set(why, LT_RULES_REASON_MAX, "'%s': province code %.3s is not one of the 63",
                          v, v);
    int digit = v[3] - '0', sex = digit % 2 ? 2 : 1, century = 1900 + 100 * (digit / 2);
    char sexbuf[64];
    snprintf(sexbuf, sizeof sexbuf, "%s", r->sex ? s_text(c, r->sex) : "");
    int said = s_sex(sexbuf);
    if (said && said != sex)
        return lt_err_set(why, LT_RULES_REASON_MAX, "'%s': digit 4 (%c) is for a %s, %s is %s", v,
                          v[3], sex == 2 ? "woman" : "man", r->src->sex, sexbuf);
    int y, m, d;
    if (!r->birth || lt_rules_date(s_text(c, r->birth), &y, &m, &d) != 0)
        return 0; /* no birth date to compare: the date rule speaks for it */
    if (y < century || y >= century + 100)
        return lt_err_set(why, LT_RULES_REASON_MAX,
                          "'%s': digit 4 (%c) is for a birth in %d-%d, %s is %s", v, v[3], century,
                          century + 99, r->src->birth, s_text(c, r->birth));
    if ((v[4] - '0') * 10 + (v[5] - '0') != y % 100)
        return lt_err_set(why, LT_RULES_REASON_MAX,
                          "'%s': digits 5-6 (%.2s) are not the birth year's, %s is %s", v, v + 4,
                          r->src->birth, s_text(c, r->birth));
    return 0;
}

static int s_date(s_ctx_t *c, const s_rule_t *r, char *why)
{
    const char *v = s_text(c, r->fd);
    if (!*v)
        return 0;
    int y, m, d;
    if (lt_rules_date(v, &y, &m, &d) != 0)
        return lt_err_set(why, LT_RULES_REASON_MAX, "'%.40s' is not a calendar date YYYY-MM-DD", v);
    int64_t day = s_days(y, m, d);
    if (r->src->not_future && day > c->today)
        return lt_err_set(why, LT_RULES_REASON_MAX, "%s is in the future", v);
    int oy, om, od;
    const char *other = r->after ? s_text(c, r->after) : "";
    if (*other && lt_rules_date(other, &oy, &om, &od) == 0 && day < s_days(oy, om, od))
        return lt_err_set(why, LT_RULES_REASON_MAX, "%s is before %s %s", v, r->src->after, other);
    return 0;
}

static int s_enum(s_ctx_t *c, const s_rule_t *r, char *why)
{
    const char *v = s_text(c, r->fd);
    if (!*v && r->fd->type == PROTOBUF_C_TYPE_STRING)
        return 0;
    for (size_t i = 0; i < r->src->n_values; i++)
        if (strcmp(r->src->values[i], v) == 0)
            return 0;
    /* A number the record type names no value for (a sender's newer
     * revision of the enum) is said to be one, not quoted as if a name. */
    if (r->fd->type == PROTOBUF_C_TYPE_ENUM &&
        !protobuf_c_enum_descriptor_get_value_by_name(r->fd->descriptor, v))
        return lt_err_set(why, LT_RULES_REASON_MAX, "%s is an unknown enum value of %s", v,
                          ((const ProtobufCEnumDescriptor *)r->fd->descriptor)->name);
    return lt_err_set(why, LT_RULES_REASON_MAX, "'%.60s' is not one of the %zu allowed values", v,
                      r->src->n_values);
}

size_t lt_rules_check(const lt_rules_t *self, const ProtobufCMessage *msg, int64_t now,
                      lt_rules_fail_t *out, size_t cap)
{
    s_ctx_t c = {.msg = msg, .today = (now >= 0 ? now : now - 86399) / 86400};
    size_t failed = 0;
    for (size_t i = 0; i < self->n; i++) {
        const s_rule_t *r = &self->rules[i];
        char why[LT_RULES_REASON_MAX];
        int rc = 0;
        switch (r->kind) {
        case K_REQUIRED:
            rc = s_required(&c, r, why);
            break;
        case K_CITIZEN_ID:
            rc = s_citizen_id(&c, r, why);
            break;
        case K_DATE:
            rc = s_date(&c, r, why);
            break;
        case K_ENUM:
            rc = s_enum(&c, r, why);
            break;
        case K_REFERENCE:
            break; /* checked against the other owner, 5.7 */
        }
        if (rc == 0)
            continue;
        if (failed < cap) {
            out[failed].rule = i;
            memcpy(out[failed].reason, why, sizeof why);
        }
        failed++;
    }
    return failed;
}
