/* lt_schema: the registry of record types a dataset may use, and field
 * lookups by name through protobuf-c descriptors, so that views, policies and
 * adapters work on any record type without C code per dataset. */
#ifndef LT_SCHEMA_H
#define LT_SCHEMA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_err.h"

/* Descriptor of a record type by full name, e.g. "lienthong.records.Population". */
const ProtobufCMessageDescriptor *lt_schema_find(const char *full_name);
/* Field of a record type by name, or NULL. */
const ProtobufCFieldDescriptor *lt_schema_field(const ProtobufCMessageDescriptor *desc,
                                                const char *name);
/* 1 when field name of record type desc is a date field, compared as a
 * calendar date by a verify (PROTOCOL.md 7.6), else 0. */
int lt_schema_is_date(const ProtobufCMessageDescriptor *desc, const char *name);
/* Names of all registered record types, NULL-terminated. */
const char *const *lt_schema_names(void);

/* The value of field fd in msg as text: a string field's own string (not
 * copied, never truncated), or enums by value name, numbers in decimal and
 * bools as "true"/"false" written into buf; a oneof member msg does not
 * hold as its default ("", 0). NULL for repeated or message fields. The
 * result lives as long as msg and buf. */
const char *lt_schema_text(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                           char *buf, size_t len);

/* 1 when field fd of msg holds a value: a field with presence when the
 * record carries it, whatever its value (an `optional` field by its has_
 * flag, or a string's pointer; a oneof member when the oneof's case is its
 * number); other proto3 scalars when not the default; repeated fields when
 * not empty (PROTOCOL.md 5.7). A field a view leaves out is never set in
 * the view's records. */
int lt_schema_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd);

/* Serialises a copy of msg keeping only the named fields (unknown names are
 * ignored; callers validated them against the directory), and of a oneof's
 * members only the one msg holds. The result is
 * malloc'd. Returns 0 or -1. */
int lt_schema_project(const ProtobufCMessage *msg, char *const *fields, size_t n_fields,
                      const char *also, uint8_t **out, size_t *out_len) LT_NODISCARD;

#endif
