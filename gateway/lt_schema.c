/* lt_schema: registered record types. Adding a record type means adding its
 * .proto under proto/records and one line here. */
#include "lt_schema.h"

#include "records/population.pb-c.h"
#include "records/subscriber.pb-c.h"

#include <string.h>

static const ProtobufCMessageDescriptor *s_types[] = {
    &lienthong__records__population__descriptor,
    &lienthong__records__subscriber__descriptor,
    NULL,
};

static const char *const s_names[] = {
    "lienthong.records.Population",
    "lienthong.records.Subscriber",
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

const char *const *lt_schema_names(void)
{
    return s_names;
}
