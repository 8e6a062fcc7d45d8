/* fuzz_envelope: libFuzzer target for lt_wire_decode. Every input is decoded
 * under a size cap; a decoded envelope must satisfy the codec's promises
 * (version 1, a known body), re-pack, re-decode to the same body and re-pack
 * to the same bytes. Over-cap inputs must be refused with ERR_TOO_LARGE. */
#include "fuzz_common.h"
#include "lt_wire.h"

#include <stdlib.h>
#include <string.h>

static void s_check_cap(const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    char err[256];
    Lienthong__Envelope *env = lt_wire_decode(data, size, size - 1, &code, err, sizeof err);
    if (env || code != LIENTHONG__ERROR_CODE__ERR_TOO_LARGE)
        abort();
}

/* Packs env into a fresh buffer; aborts on allocation failure. */
static uint8_t *s_pack(const Lienthong__Envelope *env, size_t *len)
{
    *len = lienthong__envelope__get_packed_size(env);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf)
        abort();
    if (lienthong__envelope__pack(env, buf) != *len)
        abort();
    return buf;
}

/* 1 if m or any message inside it kept an unknown field numbered 0.
 * protobuf-c 1.4 accepts such a field when its tag is encoded overlong
 * (bytes 82 00), re-packs it as 02 00 and then refuses its own output, so
 * the byte-identical round trip cannot hold for those inputs. */
static int s_has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned u = 0; u < m->n_unknown_fields; u++)
        if (m->unknown_fields[u].tag == 0)
            return 1;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)m;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + fd->offset);
            for (size_t i = 0; i < n; i++)
                if (s_has_field_zero(arr[i]))
                    return 1;
            continue;
        }
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue;
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + fd->offset);
        if (sub && s_has_field_zero(sub))
            return 1;
    }
    return 0;
}

static void s_round_trip(const Lienthong__Envelope *env)
{
    if (env->version != LT_PROTO_VERSION || env->body_case == LIENTHONG__ENVELOPE__BODY__NOT_SET)
        abort();
    if (strcmp(lt_wire_body_name(env->body_case), "none") == 0)
        abort();
    size_t len1, len2;
    uint8_t *buf1 = s_pack(env, &len1);
    if (s_has_field_zero(&env->base)) {
        free(buf1);
        return;
    }
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    char err[256];
    Lienthong__Envelope *again = lt_wire_decode(buf1, len1, len1, &code, err, sizeof err);
    if (!again || again->body_case != env->body_case || again->version != env->version)
        abort();
    uint8_t *buf2 = s_pack(again, &len2);
    if (len1 != len2 || memcmp(buf1, buf2, len1) != 0)
        abort();
    lt_wire_free(&again);
    free(buf1);
    free(buf2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    char err[256];
    Lienthong__Envelope *env =
        lt_wire_decode(data, size, FUZZ_ENVELOPE_CAP, &code, err, sizeof err);
    if (!env) {
        if (code == LIENTHONG__ERROR_CODE__ERR_NONE || !err[0] || !lt_wire_error_name(code))
            abort();
    } else {
        s_round_trip(env);
        lt_wire_free(&env);
    }
    s_check_cap(data, size);
    return 0;
}
