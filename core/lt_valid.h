/* lt_valid: the field checks of every message received (PROTOCOL.md 4.2
 * checks 8 and 10, 4.5), in one place for every receiver.
 *
 * Two layers. lt_valid_utf8 walks the exact bytes of an encoded message of
 * any type, guided by its descriptor, and checks that every `string` field,
 * at any depth, is valid UTF-8 without NUL (4.5): lt_wire_decode applies it
 * to every envelope, and the receivers of nested messages carried as bytes
 * (answers, records, directories, payloads) apply it to those. Then one
 * function per request body checks what the protocol requires of its
 * fields (ids non-empty, lengths, counts); each handler calls its own
 * before acting. Every failure names the field, never the bad bytes. */
#ifndef LT_VALID_H
#define LT_VALID_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_err.h"

/* Reads a base-128 varint at p; returns the bytes used, 0 when malformed. */
size_t lt_valid_varint(const uint8_t *p, size_t len, uint64_t *v);

/* 0 when every string field of the encoded message buf of type desc is
 * valid UTF-8 without NUL; -1 with the field's path ("subscribe.stream")
 * in where when one is not, or when the encoding cannot be walked. */
int lt_valid_utf8(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                  char *where, size_t wlen) LT_NODISCARD;

/* 1 when s (a C string) is valid UTF-8. */
int lt_valid_text(const char *s) LT_NODISCARD;

/* 1 when key can be a record's key: 1 to LT_RECORD_KEY_MAX bytes. Every
 * path that stores a key checks it, so that the fixed-size copies made of
 * keys later (pruning, snapshots) never cut one short. */
int lt_valid_key(const char *key) LT_NODISCARD;

/* A source cursor (PROTOCOL.md 8.1): empty, or a decimal number of 0 to
 * 2^63 - 1 in digits only (no sign, space or leading "+"), the range the
 * owner's store keeps exactly. 0 with the value in *out (0 for empty: no
 * cursor), -1 when malformed. Loose parsing let "-1" read as 2^64 - 1, after
 * which every later change of the dataset was skipped as already stored. */
int lt_valid_cursor(const char *text, uint64_t *out) LT_NODISCARD;

/* Makes the C string s valid UTF-8 in place: every byte that does not
 * start a valid sequence becomes '?' (so text cut in the middle of a
 * character, or echoing input, never goes out invalid). Returns s. */
char *lt_valid_sanitise(char *s);

/* The length of the longest prefix of s of at most max bytes that does not
 * cut a UTF-8 character in two (for "%.*s" of text that may be cut). */
int lt_valid_cut(const char *s, size_t max) LT_NODISCARD;

/* 1 when s holds no control character (below 0x20, 0x7f, or a C1 control
 * U+0080..U+009F, UTF-8 0xc2 0x80..0x9f): text that is written into an
 * audit entry and printed one entry a line, where a line feed could forge
 * an entry and a C1 control (CSI) drive a terminal. */
int lt_valid_plain(const char *s) LT_NODISCARD;

/* Field checks of one request body (PROTOCOL.md 4.2 check 10, 6.2, 7.1,
 * 7.5, 7.6, 8.5). Each returns ERR_NONE, or the code to answer
 * (ERR_MALFORMED, or ERR_TOO_LARGE for a count over its limit) with the
 * reason in err, which starts with the stream id for a feed (4.4). */
Lienthong__ErrorCode lt_valid_subscribe(const Lienthong__Subscribe *m, char *err, size_t errlen);
Lienthong__ErrorCode lt_valid_stream(const char *stream, const char *what, char *err,
                                     size_t errlen);
Lienthong__ErrorCode lt_valid_lookup(const Lienthong__LookupRequest *q, char *err, size_t errlen);
Lienthong__ErrorCode lt_valid_verify(const Lienthong__VerifyRequest *q, char *err, size_t errlen);
/* A local ProfileRequest (PROTOCOL.md 7.7): id, key, deadline, parts. */
Lienthong__ErrorCode lt_valid_profile(const Lienthong__ProfileRequest *q, char *err, size_t errlen);
Lienthong__ErrorCode lt_valid_on_behalf(const Lienthong__OnBehalf *w, char *err, size_t errlen);
/* A pre-fill (PROTOCOL.md 8.8): request_id, a key of 1 to 256 bytes, at
 * most 64 streams each a valid stream id, purpose and case reference of at
 * most 128 bytes. */
Lienthong__ErrorCode lt_valid_prefill(const Lienthong__PrefillRequest *q, char *err, size_t errlen);
/* A snapshot's parts (PROTOCOL.md 6.7): the stream, 1 to 1024 records per
 * chunk, a 64-byte signature, a 32-byte state root. */
Lienthong__ErrorCode lt_valid_snapshot_chunk(const Lienthong__SnapshotChunk *c, char *err,
                                             size_t errlen);
Lienthong__ErrorCode lt_valid_snapshot_end(const Lienthong__SnapshotEnd *e, char *err,
                                           size_t errlen);

/* The request_id of a lookup, verify, profile, pre-fill, publish or range envelope, else 0:
 * what an Error about the envelope echoes (4.4, 6.10). */
uint64_t lt_valid_request_id(const Lienthong__Envelope *env);

#endif
