/* lt_presence: which fields of an encoded record hold a value, read from
 * the protobuf wire bytes alone, for the completeness figures of each
 * stream (PROTOCOL.md 8.9).
 *
 * No schema is needed: the store computes the same mask when it publishes,
 * when it applies a replica's batch and when it backfills records stored
 * before the figures existed, so the counts are one definition everywhere.
 * A field is present when its encoding holds a value that is not proto3's
 * default: a non-zero number (varint, fixed32, fixed64), a non-empty string,
 * bytes, message or packed list. proto3 encoders omit defaults; the check
 * on the value also covers a producer that writes them out. */
#ifndef LT_PRESENCE_H
#define LT_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "lt_err.h"

/* Field numbers 1..LT_PRESENCE_FIELDS are counted, field n as bit n - 1
 * (the record types keep their fields well below; higher numbers are not
 * counted). */
#define LT_PRESENCE_FIELDS 63

/* The fields of the encoded message buf that hold a value, as a mask. The
 * walk stops at a malformed encoding, keeping what it saw before. */
uint64_t lt_presence_mask(const uint8_t *buf, size_t len) LT_NODISCARD;

/* The mask of the payload of an encoded lienthong.Record (field 4), 0 for
 * a tombstone or a record without payload. */
uint64_t lt_presence_record_mask(const uint8_t *rec, size_t len) LT_NODISCARD;

#endif
