/* lt_presence: the present fields of an encoded record (see lt_presence.h). */
#include "lt_presence.h"
#include "lt_valid.h"

/* Protobuf wire types (varint, 64-bit, length-delimited, 32-bit). */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* The field at p: its number, wire type, and the bytes of its value (for a
 * varint the value in *v). Returns the bytes used, 0 when malformed. */
static size_t s_field(const uint8_t *p, size_t len, uint64_t *num, int *wt, const uint8_t **val,
                      size_t *vlen, uint64_t *v)
{
    uint64_t key = 0, n = 0;
    size_t k = lt_valid_varint(p, len, &key), used;
    if (k == 0)
        return 0;
    *num = key >> 3;
    *wt = (int)(key & 7);
    p += k;
    len -= k;
    switch (*wt) {
    case WT_VARINT:
        used = lt_valid_varint(p, len, v);
        *vlen = used;
        break;
    case WT_I64:
    case WT_I32:
        used = *wt == WT_I64 ? 8 : 4;
        *vlen = used;
        if (used > len)
            return 0;
        break;
    case WT_LEN:
        used = lt_valid_varint(p, len, &n);
        if (used == 0 || n > len - used)
            return 0;
        p += used;
        *vlen = (size_t)n;
        used += (size_t)n;
        break;
    default: /* groups (proto2 only) and invalid types */
        return 0;
    }
    if (used == 0 || *num == 0)
        return 0;
    *val = p;
    return k + used;
}

/* 1 when the value of wire type wt is not the default. */
static int s_set(int wt, const uint8_t *val, size_t vlen, uint64_t v)
{
    if (wt == WT_VARINT)
        return v != 0;
    if (wt == WT_LEN)
        return vlen > 0;
    for (size_t i = 0; i < vlen; i++)
        if (val[i])
            return 1;
    return 0;
}

uint64_t lt_presence_mask(const uint8_t *buf, size_t len)
{
    uint64_t mask = 0;
    size_t off = 0;
    while (buf && off < len) {
        uint64_t num = 0, v = 0;
        int wt = 0;
        const uint8_t *val = NULL;
        size_t vlen = 0, used = s_field(buf + off, len - off, &num, &wt, &val, &vlen, &v);
        if (used == 0)
            break;
        if (num <= LT_PRESENCE_FIELDS && s_set(wt, val, vlen, v))
            mask |= 1ULL << (num - 1);
        off += used;
    }
    return mask;
}

uint64_t lt_presence_record_mask(const uint8_t *rec, size_t len)
{
    /* The last occurrence of a field wins in protobuf; a Record holds one. */
    const uint8_t *payload = NULL;
    size_t plen = 0, off = 0;
    while (rec && off < len) {
        uint64_t num = 0, v = 0;
        int wt = 0;
        const uint8_t *val = NULL;
        size_t vlen = 0, used = s_field(rec + off, len - off, &num, &wt, &val, &vlen, &v);
        if (used == 0)
            return 0;
        if (num == 4 && wt == WT_LEN) {
            payload = val;
            plen = vlen;
        }
        off += used;
    }
    return payload ? lt_presence_mask(payload, plen) : 0;
}
