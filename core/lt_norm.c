/* lt_norm: claim normaliser built on libunistring: case folding to NFD,
 * one tone-mark placement for the Vietnamese clusters that have two in
 * common use, then NFC and white-space collapsing. Matching compares the
 * decomposed forms, which is the same test without the composition.
 * Latin text (all of Vietnamese) is case-folded from a table that
 * libunistring fills at first use, one entry per code point. A claim met
 * by many stored values (a verification's keys) keeps its key once made. */
#include "lt_norm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

/* 1 when uc is white space: Unicode's White_Space property (PROTOCOL.md
 * 7.6), no-break, narrow no-break and ideographic spaces, line and
 * paragraph separators and U+0085 too. ASCII is tested inline. */
static int s_is_space(ucs4_t uc)
{
    return uc < 0x80 ? uc == ' ' || (uc >= 0x09 && uc <= 0x0d) : uc_is_property_white_space(uc);
}

size_t lt_norm_spaces(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        ucs4_t uc;
        int len = u8_mbtouc(&uc, (const uint8_t *)s + i, n - i);
        if (!s_is_space(uc))
            break;
        i += (size_t)len;
    }
    return i;
}

/* Collapses runs of ASCII and Unicode white space into one space and trims;
 * with fold_ascii, also maps A-Z to a-z (the whole case folding of ASCII
 * text, lt_norm_text's short path). */
static char *s_spaces(const uint8_t *s, size_t n, int fold_ascii)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    int pending = 0;
    for (size_t i = 0; i < n;) {
        ucs4_t uc;
        int len = u8_mbtouc(&uc, s + i, n - i);
        if (s_is_space(uc)) {
            pending = o > 0;
        } else {
            if (pending)
                out[o++] = ' ';
            pending = 0;
            memcpy(out + o, s + i, (size_t)len);
            if (fold_ascii && uc >= 'A' && uc <= 'Z')
                out[o] = (char)(uc - 'A' + 'a');
            o += (size_t)len;
        }
        i += (size_t)len;
    }
    out[o] = 0;
    return out;
}

/* 1 when s[0..1] is a Vietnamese tone mark in NFD: grave (huyền), acute
 * (sắc), tilde (ngã), hook above (hỏi) or dot below (nặng). */
static int s_is_tone(const uint8_t *s, size_t left)
{
    return left >= 2 && s[0] == 0xcc &&
           (s[1] == 0x80 || s[1] == 0x81 || s[1] == 0x83 || s[1] == 0x89 || s[1] == 0xa3);
}

/* 1 when a syllable ends at s[i]: the text ends, or the next character is
 * neither a letter nor a combining mark. */
static int s_syllable_ends(const uint8_t *s, size_t i, size_t n)
{
    if (i >= n)
        return 1;
    ucs4_t uc;
    u8_mbtouc(&uc, s + i, n - i);
    return !uc_is_alpha(uc) && !uc_is_general_category(uc, UC_CATEGORY_M);
}

/* Vietnamese writes the open syllables ending in oa, oe and uy with the tone
 * on either vowel: "hòa" / "hoà", "khỏe" / "khoẻ", "thủy" / "thuỷ" (old and
 * new placement, both valid and both in registers). In case-folded NFD text
 * this moves such a tone to the second vowel, so both spellings normalise
 * alike. Only plain o/u + tone + plain a/e/y at the end of a syllable is
 * touched: with a final consonant ("hoàng") both styles already agree. */
static void s_tone_placement(uint8_t *s, size_t n)
{
    for (size_t i = 1; i + 3 <= n; i++) {
        uint8_t v1 = s[i - 1], v2 = s[i + 2];
        int cluster = (v1 == 'o' && (v2 == 'a' || v2 == 'e')) || (v1 == 'u' && v2 == 'y');
        if (!cluster || !s_is_tone(s + i, n - i) || !s_syllable_ends(s, i + 3, n))
            continue;
        uint8_t mark = s[i + 1];
        s[i] = v2;
        s[i + 1] = 0xcc;
        s[i + 2] = mark;
    }
}

/* 1 when s holds only ASCII. */
static int s_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/* ---- case folding of Latin text, from a table ------------------------------ */

/* u8_casefold(UNINORM_NFD) of one code point, for U+0001..U+024F (ASCII,
 * Latin-1, Latin Extended-A and -B) and U+1E00..U+1EFF (Latin Extended
 * Additional: every precomposed Vietnamese letter). len 0: not in the
 * table, the text takes libunistring's path. */
#define FOLD_MAX 11
#define FOLD_LOW 0x250
#define FOLD_EXT 0x1e00
typedef struct {
    uint8_t len;
    uint8_t s[FOLD_MAX];
} fold_t;

static fold_t s_fold_low[FOLD_LOW], s_fold_ext[0x100];
static pthread_once_t s_fold_once = PTHREAD_ONCE_INIT;

/* Folding is context-free, so the fold of a text is its code points' folds
 * put end to end, as long as no combining mark has to be reordered across
 * two of them. So an entry is kept only for a code point that is itself a
 * starter (combining class 0) and whose fold begins with one: then every
 * run of marks lies within one fold, already in canonical order. Combining
 * marks themselves are left out. */
static void s_fold_entry(ucs4_t uc, fold_t *f)
{
    uint8_t in[6];
    int n = u8_uctomb(in, uc, (int)sizeof in);
    if (n <= 0 || uc_combining_class(uc) != 0)
        return;
    size_t len = 0;
    uint8_t *out = u8_casefold(in, (size_t)n, NULL, UNINORM_NFD, NULL, &len);
    ucs4_t first = 0;
    if (out && len > 0 && len <= FOLD_MAX && u8_mbtouc(&first, out, len) > 0 &&
        uc_combining_class(first) == 0) {
        memcpy(f->s, out, len);
        f->len = (uint8_t)len;
    }
    free(out); /* out of memory: no entry, the slow path stays right */
}

static void s_fold_init(void)
{
    for (ucs4_t uc = 1; uc < FOLD_LOW; uc++)
        s_fold_entry(uc, &s_fold_low[uc]);
    for (ucs4_t uc = 0; uc < 0x100; uc++)
        s_fold_entry(FOLD_EXT + uc, &s_fold_ext[uc]);
}

/* The table entry of uc, or NULL when it has none. */
static const fold_t *s_fold_of(ucs4_t uc)
{
    const fold_t *f = uc < FOLD_LOW                             ? &s_fold_low[uc]
                      : uc >= FOLD_EXT && uc < FOLD_EXT + 0x100 ? &s_fold_ext[uc - FOLD_EXT]
                                                                : NULL;
    return f && f->len ? f : NULL;
}

/* The table's fold of n bytes of valid UTF-8, or NULL when a code point has
 * no entry or memory ran out (*len 0). Two passes: measure, then write. */
static uint8_t *s_fold_table(const uint8_t *in, size_t n, size_t *len)
{
    (void)pthread_once(&s_fold_once, s_fold_init);
    size_t total = 0;
    *len = 0;
    for (size_t i = 0; i < n;) {
        ucs4_t uc;
        int k = u8_mbtouc(&uc, in + i, n - i);
        const fold_t *f = s_fold_of(uc);
        if (!f)
            return NULL;
        total += f->len;
        i += (size_t)k;
    }
    uint8_t *out = malloc(total + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        ucs4_t uc;
        int k = u8_mbtouc(&uc, in + i, n - i);
        const fold_t *f = s_fold_of(uc);
        memcpy(out + o, f->s, f->len);
        o += f->len;
        i += (size_t)k;
    }
    out[o] = 0;
    *len = o;
    return out;
}

uint8_t *lt_norm_fold(const char *in, size_t n, size_t *len)
{
    uint8_t *out = s_fold_table((const uint8_t *)in, n, len);
    return out ? out : u8_casefold((const uint8_t *)in, n, NULL, UNINORM_NFD, NULL, len);
}

/* ---- keys and matching ---------------------------------------------------------- */

/* The comparison key of n bytes of valid UTF-8: case-folded, decomposed
 * (NFD), one tone placement, white space collapsed. Two texts have equal
 * NFC forms exactly when they have equal NFD forms, so keys compare as the
 * composed texts would, without composing them (lt_norm_match). ASCII text
 * takes a short path: its full case folding is A-Z to a-z and nothing else,
 * NFD and NFC leave it as it is, and it has no tone marks to place; its key
 * comes with the white space collapsed already (*final set). */
static uint8_t *s_key(const char *in, size_t n, size_t *len, int *final)
{
    *final = s_ascii(in, n);
    if (*final) {
        char *out = s_spaces((const uint8_t *)in, n, 1);
        *len = out ? strlen(out) : 0;
        return (uint8_t *)out;
    }
    uint8_t *folded = lt_norm_fold(in, n, len);
    if (folded)
        s_tone_placement(folded, *len);
    return folded;
}

/* Normalises n bytes of valid UTF-8: the key, composed (NFC) when compose
 * is set (lt_norm_text) or left decomposed (lt_norm_match), white space
 * collapsed. */
static char *s_text(const char *in, size_t n, int compose)
{
    size_t len = 0;
    int final = 0;
    uint8_t *key = s_key(in, n, &len, &final);
    if (!key || final)
        return (char *)key;
    if (compose) {
        uint8_t *nfc = u8_normalize(UNINORM_NFC, key, len, NULL, &len);
        free(key);
        if (!(key = nfc))
            return NULL;
    }
    char *out = s_spaces(key, len, 0);
    free(key);
    return out;
}

char *lt_norm_text(const char *in)
{
    size_t n = strlen(in);
    return u8_check((const uint8_t *)in, n) == NULL ? s_text(in, n, 1) : NULL;
}

static int s_days_in(long y, long m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int lt_norm_date(const char *in, long *ymd)
{
    /* Trimmed of the white space lt_norm_text trims (7.6), then parsed
     * exactly: ASCII digits, with '-' at 4 and 7 for YYYY-MM-DD. */
    size_t n = strlen(in), sp = lt_norm_spaces(in, n);
    in += sp;
    n -= sp;
    size_t raw = strspn(in, "0123456789-");
    if (raw + lt_norm_spaces(in + raw, n - raw) != n || (raw != 8 && raw != 10))
        return -1;
    char digits[9];
    size_t d = 0;
    for (size_t i = 0; i < raw; i++) {
        int dash = raw == 10 && (i == 4 || i == 7);
        if ((in[i] == '-') != dash)
            return -1;
        if (!dash)
            digits[d++] = in[i];
    }
    digits[8] = 0;
    long v = strtol(digits, NULL, 10), y = v / 10000, m = v / 100 % 100, day = v % 100;
    if (y < 1 || m < 1 || m > 12 || day < 1 || day > s_days_in(y, m))
        return -1;
    *ymd = v;
    return 0;
}

/* Claims, and stored values, worked out so far (lt_norm_claims_worked,
 * lt_norm_stored_worked): counts for tests, which order nothing. */
static _Atomic uint64_t s_worked, s_stored_worked;

uint64_t lt_norm_claims_worked(void)
{
    return atomic_load_explicit(&s_worked, memory_order_relaxed);
}

uint64_t lt_norm_stored_worked(void)
{
    return atomic_load_explicit(&s_stored_worked, memory_order_relaxed);
}

void lt_norm_claim_init(lt_norm_claim_t *self, const char *claim)
{
    *self = (lt_norm_claim_t){.claim = claim, .len = strlen(claim)};
    self->valid = u8_check((const uint8_t *)claim, self->len) == NULL;
}

void lt_norm_claim_clear(lt_norm_claim_t *self)
{
    free(self->key);
    self->key = NULL;
}

/* 1 when one side is a date, parsed at most once (counted in *worked). */
static int s_side_date(lt_norm_claim_t *side, _Atomic uint64_t *worked)
{
    if (!side->date) {
        atomic_fetch_add_explicit(worked, 1, memory_order_relaxed);
        side->date = lt_norm_date(side->claim, &side->ymd) == 0 ? 1 : -1;
    }
    return side->date == 1;
}

/* One side's key, made at most once (counted in *worked): 0, or -1 out of
 * memory (valid text fails to normalise for no other reason). */
static int s_side_key(lt_norm_claim_t *side, _Atomic uint64_t *worked)
{
    if (side->key)
        return 0;
    atomic_fetch_add_explicit(worked, 1, memory_order_relaxed);
    return (side->key = s_text(side->claim, side->len, 0)) ? 0 : -1;
}

int lt_norm_claim_match_value(lt_norm_claim_t *self, lt_norm_claim_t *stored, int is_date)
{
    /* The stored side first: a claim is worked out only against a value
     * it can be compared with. */
    if (is_date)
        return s_side_date(stored, &s_stored_worked) && s_side_date(self, &s_worked) &&
               stored->ymd == self->ymd;
    /* Invalid UTF-8 never matches. Equal bytes normalise alike: a claim
     * copied from the same source as the record (the common case) matches
     * without the Unicode work. Failing to normalise is no answer, never a
     * signed "no match". */
    if (!self->valid || !stored->valid)
        return 0;
    if (stored->len == self->len && memcmp(stored->claim, self->claim, self->len) == 0)
        return 1;
    if (s_side_key(self, &s_worked) != 0 || s_side_key(stored, &s_stored_worked) != 0)
        return -1;
    return strcmp(stored->key, self->key) == 0;
}

int lt_norm_claim_match(lt_norm_claim_t *self, const char *stored, int is_date)
{
    lt_norm_claim_t value;
    lt_norm_claim_init(&value, stored);
    int match = lt_norm_claim_match_value(self, &value, is_date);
    lt_norm_claim_clear(&value);
    return match;
}

int lt_norm_match(const char *stored, const char *claim, int is_date)
{
    lt_norm_claim_t c;
    lt_norm_claim_init(&c, claim);
    int match = lt_norm_claim_match(&c, stored, is_date);
    lt_norm_claim_clear(&c);
    return match;
}
