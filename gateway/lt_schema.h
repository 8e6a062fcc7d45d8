/* lt_schema: the registry of record types a dataset may use, and field
 * lookups by name through protobuf-c descriptors, so that views, policies and
 * adapters work on any record type without C code per dataset. */
#ifndef LT_SCHEMA_H
#define LT_SCHEMA_H

#include <protobuf-c/protobuf-c.h>

/* Descriptor of a record type by full name, e.g. "lienthong.records.Population". */
const ProtobufCMessageDescriptor *lt_schema_find(const char *full_name);
/* Field of a record type by name, or NULL. */
const ProtobufCFieldDescriptor *lt_schema_field(const ProtobufCMessageDescriptor *desc,
                                                const char *name);
/* Names of all registered record types, NULL-terminated. */
const char *const *lt_schema_names(void);

#endif
