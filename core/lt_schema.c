/* lt_schema: registered record types. Adding a record type means adding its
 * .proto under proto/records and one line here. */
#include "lt_schema.h"

#include "records/population.pb-c.h"
#include "records/subscriber.pb-c.h"
#include "records/insurance.pb-c.h"
#include "records/health.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ProtobufCMessageDescriptor *s_types[] = {
    &lienthong__records__population__descriptor,
    &lienthong__records__subscriber__descriptor,
    &lienthong__records__insurance_card__descriptor,
    &lienthong__records__vaccination__descriptor,
    NULL,
};

/* The date fields of each record type (PROTOCOL.md 7.6): a verify compares
 * a claim on one of them as a calendar date, whatever the stored text looks
 * like; every other field is compared as text. A record type's dates are
 * listed here when it is added, as its proto comments say ("ISO 8601 date"). */
typedef struct {
    const char *type;
    const char *fields[8];
} s_dates_t;

static const s_dates_t s_dates[] = {
    {"lienthong.records.Population", {"date_of_birth", "id_card_issued", "date_of_death"}},
    {"lienthong.records.Subscriber", {"owner_date_of_birth", "activation_date"}},
    {"lienthong.records.InsuranceCard", {"valid_from", "valid_to"}},
    {"lienthong.records.Vaccination", {"first_dose_date", "last_dose_date"}},
};

static const char *const s_names[] = {
    "lienthong.records.Population",
    "lienthong.records.Subscriber",
    "lienthong.records.InsuranceCard",
    "lienthong.records.Vaccination",
    NULL,
};

const ProtobufCMessageDescriptor *lt_schema_find(const char *full_name)
{
    if (!full_name)
        return NULL;
    for (int i = 0; s_types[i]; i++)
        if (strcmp(s_types[i]->name, full_name) == 0)
            return s_types[i];
    return NULL;
}

const ProtobufCFieldDescriptor *lt_schema_field(const ProtobufCMessageDescriptor *desc,
                                                const char *name)
{
    if (!desc || !name)
        return NULL;
    return protobuf_c_message_descriptor_get_field_by_name(desc, name);
}

int lt_schema_is_date(const ProtobufCMessageDescriptor *desc, const char *name)
{
    if (!desc || !name)
        return 0;
    for (size_t i = 0; i < sizeof s_dates / sizeof s_dates[0]; i++) {
        if (strcmp(s_dates[i].type, desc->name) != 0)
            continue;
        for (size_t f = 0; f < 8 && s_dates[i].fields[f]; f++)
            if (strcmp(s_dates[i].fields[f], name) == 0)
                return 1;
    }
    return 0;
}

const char *const *lt_schema_names(void)
{
    return s_names;
}

/* 1 when fd is a member of a oneof other than the one msg holds: its
 * storage is the chosen member's (a union), not a value of its own. */
static int s_other_member(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    return (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           *(const uint32_t *)((const uint8_t *)msg + fd->quantifier_offset) != fd->id;
}

const char *lt_schema_text(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                           char *buf, size_t len)
{
    /* A oneof member not chosen reads as its default (zeros: "", 0, the
     * enum's value 0), never as the chosen member's bytes: a string's
     * pointer there could be another member's number. */
    static const uint64_t zeros[2];
    const char *base = (const char *)msg + fd->offset;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    if (s_other_member(msg, fd))
        base = (const char *)zeros;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        /* The field's own string, never a truncated copy: verification must
         * compare whole values. */
        return *(char *const *)base ? *(char *const *)base : "";
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)base);
        if (v)
            snprintf(buf, len, "%s", v->name);
        else
            snprintf(buf, len, "%d", *(const int *)base);
        return buf;
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(buf, len, "%d", *(const int32_t *)base);
        return buf;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(buf, len, "%u", *(const uint32_t *)base);
        return buf;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)base);
        return buf;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)base);
        return buf;
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(buf, len, "%s", *(const protobuf_c_boolean *)base ? "true" : "false");
        return buf;
    default:
        return NULL;
    }
}

/* Size in the struct of a singular field of type t. */
static size_t s_field_size(const ProtobufCFieldDescriptor *fd)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 4;
    }
}

static int s_wanted(const char *name, char *const *fields, size_t n, const char *also)
{
    if (also && strcmp(name, also) == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, fields[i]) == 0)
            return 1;
    return 0;
}

int lt_schema_project(const ProtobufCMessage *msg, char *const *fields, size_t n_fields,
                      const char *also, uint8_t **out, size_t *out_len)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    /* A shallow copy: a fresh message whose kept fields point into msg.
     * It is freed with free(), never with free_unpacked. */
    ProtobufCMessage *copy = malloc(d->sizeof_message);
    if (!copy)
        return -1;
    d->message_init(copy);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        /* A oneof member not chosen is left out: copied, it would bring
         * the chosen member's case with only its own bytes of the union,
         * and the copy would pack the chosen member from them (a string's
         * pointer cut in half). */
        if (!s_wanted(fd->name, fields, n_fields, also) || s_other_member(msg, fd))
            continue;
        size_t sz = fd->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *) : s_field_size(fd);
        memcpy((char *)copy + fd->offset, (const char *)msg + fd->offset, sz);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED ||
            (fd->quantifier_offset && fd->label != PROTOBUF_C_LABEL_REQUIRED))
            memcpy((char *)copy + fd->quantifier_offset, (const char *)msg + fd->quantifier_offset,
                   fd->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(size_t)
                                                          : sizeof(protobuf_c_boolean));
    }
    *out_len = protobuf_c_message_get_packed_size(copy);
    *out = malloc(*out_len ? *out_len : 1);
    if (*out)
        protobuf_c_message_pack(copy, *out);
    free(copy);
    return *out ? 0 : -1;
}

int lt_schema_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    const uint8_t *m = (const uint8_t *)msg, *v = m + fd->offset;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)(m + fd->quantifier_offset) != 0;
    /* Fields with presence are set when the record carries them, whatever
     * the value (PROTOCOL.md 5.7): a oneof member when the oneof's case is
     * its number, an `optional` one when its has_ flag says so; a zero
     * there is a value, not the default. */
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return !s_other_member(msg, fd);
    if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset)
        return *(const protobuf_c_boolean *)(m + fd->quantifier_offset) != 0;
    /* An optional string or message has no has_ flag: NULL is absent, and
     * so is a string left pointing at its field's explicit default, where
     * protobuf-c leaves one the record does not carry (a string the record
     * carries is its own copy, whatever its text). */
    if (fd->label == PROTOBUF_C_LABEL_OPTIONAL &&
        (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE)) {
        const void *p = *(const void *const *)v;
        return p != NULL && !(fd->type == PROTOBUF_C_TYPE_STRING && p == fd->default_value);
    }
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        return *(const char *const *)v && **(const char *const *)v;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)v)->len != 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)v != NULL;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)v != 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const uint64_t *)v != 0;
    default:
        return *(const uint32_t *)v != 0;
    }
}
