/* test_norm: CUnit suite for core/lt_norm (the claim normaliser of
 * PROTOCOL.md 7.6) with Vietnamese known-answer vectors, and for
 * lt_wire_body_bytes (the exact request body that 7.1 hashes).
 *
 * Text: precomposed and combining diacritics, upper and lower case, đ/Đ,
 * white space of every kind the normaliser collapses, differences that must
 * stay differences, old and new tone placement, invalid UTF-8. Dates: both ISO forms, leap years,
 * bad months and days, surrounding white space, unpadded fields, unparsable claims. All strings are
 * spelled as UTF-8 bytes so that the editor cannot normalise the vectors away. */
#include "unit_util.h"

#include "lt_norm.h"
#include "lt_wire.h"

#include <unicase.h>
#include <unistr.h>
#include <uninorm.h>

/* ---- Vietnamese spellings, byte for byte ----------------------------------- */

/* "Nguyễn" with U+1EC5 (precomposed e, circumflex and tilde). */
#define NGUYEN_NFC "Nguy\xe1\xbb\x85n"
/* "Nguyễn" as e + U+0302 COMBINING CIRCUMFLEX + U+0303 COMBINING TILDE. */
#define NGUYEN_NFD "Nguye\xcc\x82\xcc\x83n"
/* e + U+0303 + U+0302: tilde first, a different letter (ẽ with a hat). */
#define NGUYEN_SWAPPED "Nguye\xcc\x83\xcc\x82n"
/* "NGUYỄN VĂN AN" (U+1EC4, U+0102) and "nguyễn văn an" (U+1EC5, U+0103). */
#define NAME_UPPER "NGUY\xe1\xbb\x84N V\xc4\x82N AN"
#define NAME_LOWER "nguy\xe1\xbb\x85n v\xc4\x83n an"
/* "Nguyễn Văn An" in NFC, and with Ă/ă decomposed (A + U+0306 BREVE). */
#define NAME_MIXED     "Nguy\xe1\xbb\x85n V\xc4\x83n An"
#define NAME_UPPER_NFD "NGUYE\xcc\x82\xcc\x83N VA\xcc\x86N AN"
/* "Đặng" (U+0110, U+1EB7), "đặng" (U+0111), "Dặng", "dặng". */
#define DANG_UPPER "\xc4\x90\xe1\xba\xb7ng"
#define DANG_LOWER "\xc4\x91\xe1\xba\xb7ng"
#define DANG_D_UP  "D\xe1\xba\xb7ng"
#define DANG_D_LOW "d\xe1\xba\xb7ng"
/* "Lê" / "Le", "Hà" (U+00E0) / "Hạ" (U+1EA1) / "Ha". */
#define LE_HAT   "L\xc3\xaa"
#define HA_GRAVE "H\xc3\xa0"
#define HA_DOT   "H\xe1\xba\xa1"
/* U+00A0 NO-BREAK SPACE, U+3000 IDEOGRAPHIC SPACE, U+2003 EM SPACE. */
#define NBSP "\xc2\xa0"
#define IDEO "\xe3\x80\x80"
#define EMSP "\xe2\x80\x83"

static void s_expect_norm(const char *in, const char *want)
{
    char *got = lt_norm_text(in);
    CU_ASSERT_PTR_NOT_NULL(got);
    if (got && strcmp(got, want) != 0)
        fprintf(stderr, "\n  lt_norm_text(\"%s\") = \"%s\", want \"%s\"\n", in, got, want);
    if (got)
        CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void test_precomposed_and_combining(void)
{
    s_expect_norm(NGUYEN_NFC, "nguy\xe1\xbb\x85n");
    s_expect_norm(NGUYEN_NFD, "nguy\xe1\xbb\x85n");
    CU_ASSERT(lt_norm_match(NGUYEN_NFC, NGUYEN_NFD, 0) == 1);
    CU_ASSERT(lt_norm_match(NGUYEN_NFD, NGUYEN_NFC, 0) == 1);
    CU_ASSERT(lt_norm_match(NAME_MIXED, NAME_UPPER_NFD, 0) == 1);
    /* The order of two marks of the same class is significant: not ễ. */
    CU_ASSERT(lt_norm_match(NGUYEN_NFC, NGUYEN_SWAPPED, 0) == 0);
    /* Stripping the marks is not normalisation. */
    CU_ASSERT(lt_norm_match(NGUYEN_NFC, "Nguyen", 0) == 0);
}

static void test_case_folding(void)
{
    s_expect_norm(NAME_UPPER, NAME_LOWER);
    CU_ASSERT(lt_norm_match(NAME_UPPER, NAME_LOWER, 0) == 1);
    CU_ASSERT(lt_norm_match(NAME_LOWER, NAME_MIXED, 0) == 1);
    CU_ASSERT(lt_norm_match(NAME_MIXED, NAME_UPPER_NFD, 0) == 1);
    /* Full case folding: ß folds to "ss". */
    CU_ASSERT(lt_norm_match("Stra\xc3\x9f"
                            "e",
                            "STRASSE", 0) == 1);
}

static void test_d_with_stroke(void)
{
    s_expect_norm(DANG_UPPER, DANG_LOWER);
    CU_ASSERT(lt_norm_match(DANG_UPPER, DANG_LOWER, 0) == 1);
    CU_ASSERT(lt_norm_match(DANG_LOWER, DANG_UPPER, 0) == 1);
    /* đ is a letter of its own, never a d. */
    CU_ASSERT(lt_norm_match(DANG_UPPER, DANG_D_UP, 0) == 0);
    CU_ASSERT(lt_norm_match(DANG_LOWER, DANG_D_LOW, 0) == 0);
    CU_ASSERT(lt_norm_match(DANG_UPPER, DANG_D_LOW, 0) == 0);
    CU_ASSERT(lt_norm_match("\xc4\x90", "D", 0) == 0);
}

static void test_white_space(void)
{
    s_expect_norm("  " NAME_MIXED "  ", NAME_LOWER);
    s_expect_norm("\t" NAME_UPPER "\n", NAME_LOWER);
    s_expect_norm("Nguy\xe1\xbb\x85n  \t V\xc4\x83n\t\tAn", NAME_LOWER);
    s_expect_norm(NBSP "Nguy\xe1\xbb\x85n" NBSP "V\xc4\x83n" IDEO "An" IDEO, NAME_LOWER);
    s_expect_norm(IDEO IDEO "Nguy\xe1\xbb\x85n" EMSP NBSP " V\xc4\x83n\r\nAn" NBSP, NAME_LOWER);
    s_expect_norm("   ", "");
    s_expect_norm("", "");
    CU_ASSERT(lt_norm_match(" \t" NAME_UPPER_NFD NBSP, NAME_MIXED, 0) == 1);
    /* Removing the space is not collapsing it. */
    CU_ASSERT(lt_norm_match("Nguy\xe1\xbb\x85nV\xc4\x83n An", NAME_MIXED, 0) == 0);
}

/* White space is every code point of Unicode's White_Space property
 * (PROTOCOL.md 7.6), and only those: "A<sp>B" matches "a b" for each of
 * them (U+202F, U+2028, U+2029, U+205F, U+1680 and U+0085 were missed), and
 * spacing look-alikes that are not white space (zero width space, word
 * joiner, byte order mark, Mongolian vowel separator) are kept. */
static void test_white_space_property(void)
{
    static const char *const space[] = {"\t",           "\n",
                                        "\v",           "\f",
                                        "\r",           " ",
                                        "\xc2\x85",     "\xc2\xa0",
                                        "\xe1\x9a\x80", "\xe2\x80\x80",
                                        "\xe2\x80\x81", "\xe2\x80\x82",
                                        "\xe2\x80\x83", "\xe2\x80\x84",
                                        "\xe2\x80\x85", "\xe2\x80\x86",
                                        "\xe2\x80\x87", "\xe2\x80\x88",
                                        "\xe2\x80\x89", "\xe2\x80\x8a",
                                        "\xe2\x80\xa8", "\xe2\x80\xa9",
                                        "\xe2\x80\xaf", "\xe2\x81\x9f",
                                        "\xe3\x80\x80", NULL};
    static const char *const not_space[] = {"\xe2\x80\x8b", "\xe2\x81\xa0", "\xef\xbb\xbf",
                                            "\xe1\xa0\x8e", "\x1c",         NULL};
    char text[32];
    for (int i = 0; space[i]; i++) {
        snprintf(text, sizeof text, "%sA%s%sB%s", space[i], space[i], space[i], space[i]);
        if (lt_norm_match(text, "a b", 0) != 1) {
            fprintf(stderr, "\n  space %d (%s) is not white space\n", i, space[i]);
            CU_FAIL("white space");
        }
    }
    for (int i = 0; not_space[i]; i++) {
        snprintf(text, sizeof text, "A%sB", not_space[i]);
        CU_ASSERT(lt_norm_match(text, "a b", 0) == 0);
        CU_ASSERT(lt_norm_match(text, "ab", 0) == 0);
    }
}

static void test_differences_stay(void)
{
    CU_ASSERT(lt_norm_match(LE_HAT, "Le", 0) == 0);
    CU_ASSERT(lt_norm_match("Le", LE_HAT, 0) == 0);
    CU_ASSERT(lt_norm_match(HA_GRAVE, HA_DOT, 0) == 0);
    CU_ASSERT(lt_norm_match(HA_GRAVE, "Ha", 0) == 0);
    CU_ASSERT(lt_norm_match(HA_DOT, "Ha", 0) == 0);
    CU_ASSERT(lt_norm_match(NAME_MIXED, "Nguy\xe1\xbb\x85n V\xc4\x83n Anh", 0) == 0);
    CU_ASSERT(lt_norm_match(NAME_MIXED, "", 0) == 0);
    /* The same strings do match themselves. */
    CU_ASSERT(lt_norm_match(LE_HAT, LE_HAT, 0) == 1);
    CU_ASSERT(lt_norm_match(HA_DOT, "h\xe1\xba\xa1", 0) == 1);
}

/* Old and new tone placement in the open syllables ending in oa, oe and uy:
 * every cluster with each of the five tone marks, {old, new}, NFC. */
static const char *const s_tone_pairs[][2] = {
    {"h\xc3\xb2"
     "a",
     "ho\xc3\xa0"}, /* hòa / hoà (huyen) */
    {"h\xc3\xb3"
     "a",
     "ho\xc3\xa1"}, /* hóa / hoá (sac) */
    {"h\xc3\xb5"
     "a",
     "ho\xc3\xa3"}, /* hõa / hoã (nga) */
    {"h\xe1\xbb\x8f"
     "a",
     "ho\xe1\xba\xa3"}, /* hỏa / hoả (hoi) */
    {"h\xe1\xbb\x8d"
     "a",
     "ho\xe1\xba\xa1"}, /* họa / hoạ (nang) */
    {"kh\xc3\xb2"
     "e",
     "kho\xc3\xa8"}, /* khòe / khoè (huyen) */
    {"kh\xc3\xb3"
     "e",
     "kho\xc3\xa9"}, /* khóe / khoé (sac) */
    {"kh\xc3\xb5"
     "e",
     "kho\xe1\xba\xbd"}, /* khõe / khoẽ (nga) */
    {"kh\xe1\xbb\x8f"
     "e",
     "kho\xe1\xba\xbb"}, /* khỏe / khoẻ (hoi) */
    {"kh\xe1\xbb\x8d"
     "e",
     "kho\xe1\xba\xb9"},                    /* khọe / khoẹ (nang) */
    {"th\xc3\xb9y", "thu\xe1\xbb\xb3"},     /* thùy / thuỳ (huyen) */
    {"th\xc3\xbay", "thu\xc3\xbd"},         /* thúy / thuý (sac) */
    {"th\xc5\xa9y", "thu\xe1\xbb\xb9"},     /* thũy / thuỹ (nga) */
    {"th\xe1\xbb\xa7y", "thu\xe1\xbb\xb7"}, /* thủy / thuỷ (hoi) */
    {"th\xe1\xbb\xa5y", "thu\xe1\xbb\xb5"}, /* thụy / thuỵ (nang) */
};

static void test_tone_placement(void)
{
    size_t n = sizeof s_tone_pairs / sizeof s_tone_pairs[0];
    for (size_t i = 0; i < n; i++) {
        const char *old = s_tone_pairs[i][0], *new = s_tone_pairs[i][1];
        /* Both spellings normalise to the new placement, in NFC. */
        s_expect_norm(old, new);
        s_expect_norm(new, new);
        CU_ASSERT(lt_norm_match(old, new, 0) == 1);
        CU_ASSERT(lt_norm_match(new, old, 0) == 1);
        /* A different tone, or none, still differs. */
        const char *other = s_tone_pairs[(i / 5) * 5 + (i + 1) % 5][1];
        CU_ASSERT(lt_norm_match(old, other, 0) == 0);
    }
    /* In names, upper case and decomposed input: "Nguyễn Thị Thủy" (old,
     * combining hook above on u) and "NGUYỄN THỊ THUỶ" (new, precomposed). */
    CU_ASSERT(lt_norm_match("Nguy\xe1\xbb\x85n Th\xe1\xbb\x8b Thu\xcc\x89y",
                            "NGUY\xe1\xbb\x84N TH\xe1\xbb\x8a THU\xe1\xbb\xb6", 0) == 1);
    /* "Hòa Bình" / "Hoà Bình" and "Khỏe" / "KHOẺ". */
    CU_ASSERT(lt_norm_match("H\xc3\xb2"
                            "a B\xc3\xacnh",
                            "Ho\xc3\xa0 B\xc3\xacnh", 0) == 1);
    CU_ASSERT(lt_norm_match("Kh\xe1\xbb\x8f"
                            "e",
                            "KHO\xe1\xba\xba", 0) == 1);
    /* With a final consonant both styles agree, and a misplaced tone is not
     * moved: "hoàng" against "hòang". */
    s_expect_norm("Ho\xc3\xa0ng", "ho\xc3\xa0ng");
    CU_ASSERT(lt_norm_match("Ho\xc3\xa0ng",
                            "H\xc3\xb2"
                            "ang",
                            0) == 0);
    /* "quý" keeps its tone on y; "Thúy" is not "Thủy"; "Hoa" has no tone. */
    s_expect_norm("qu\xc3\xbd", "qu\xc3\xbd");
    CU_ASSERT(lt_norm_match("Th\xc3\xba"
                            "y",
                            "Th\xe1\xbb\xa7y", 0) == 0);
    CU_ASSERT(lt_norm_match("Hoa",
                            "H\xc3\xb2"
                            "a",
                            0) == 0);
    /* A mark other than a tone on the first vowel (ơ, horn) is left alone. */
    CU_ASSERT(lt_norm_match("h\xe1\xbb\x9d"
                            "a",
                            "h\xc6\xa1\xc3\xa0", 0) == 0);
}

static void test_invalid_utf8(void)
{
    static const char *const bad[] = {"\xc3\x28",               /* bad continuation */
                                      "Nguy\xe1\xbb",           /* truncated sequence at the end */
                                      "\xff",                   /* never valid */
                                      "\xc0\xaf",               /* overlong '/' */
                                      "\xe0\x80\xaf",           /* overlong, three bytes */
                                      "\xed\xa0\x80",           /* UTF-16 surrogate */
                                      "\xf4\x90\x80\x80",       /* beyond U+10FFFF */
                                      "Nguy\xe1\xbb\x85n \x80", /* lone continuation byte */
                                      NULL};
    for (size_t i = 0; bad[i]; i++) {
        char *n = lt_norm_text(bad[i]);
        CU_ASSERT_PTR_NULL(n);
        free(n);
        CU_ASSERT(lt_norm_match(bad[i], bad[i], 0) == 0);
        CU_ASSERT(lt_norm_match(NAME_MIXED, bad[i], 0) == 0);
        CU_ASSERT(lt_norm_match(bad[i], NAME_MIXED, 0) == 0);
    }
    /* Latin-1 "Hà" is not UTF-8: refused rather than guessed at. */
    CU_ASSERT(lt_norm_match(HA_GRAVE, "H\xe0", 0) == 0);
}

/* What the general (libunistring) path makes of text: case folding to
 * NFD, then NFC, then ASCII white space collapsed and trimmed. For ASCII
 * only (the fast path's domain), where the tone pass changes nothing. */
static char *s_general(const char *in)
{
    size_t fl = 0, nl = 0;
    uint8_t *f = u8_casefold((const uint8_t *)in, strlen(in), NULL, UNINORM_NFD, NULL, &fl);
    uint8_t *c = f ? u8_normalize(UNINORM_NFC, f, fl, NULL, &nl) : NULL;
    char *out = c ? malloc(nl + 1) : NULL;
    size_t o = 0;
    int pending = 0;
    for (size_t i = 0; out && i < nl; i++) {
        if (c[i] == ' ' || (c[i] >= 0x09 && c[i] <= 0x0d)) {
            pending = o > 0;
            continue;
        }
        if (pending)
            out[o++] = ' ';
        pending = 0;
        out[o++] = (char)c[i];
    }
    if (out)
        out[o] = 0;
    free(f);
    free(c);
    return out;
}

/* ASCII text takes a path of its own (no libunistring): it must give what
 * the general path gives, for every printable character and every white
 * space, and byte-equal claims must match exactly when the general path
 * would match them. */
static void test_ascii_path_agrees(void)
{
    static const char *const texts[] = {"NGUYEN Van An",
                                        "  nguyen   VAN an  ",
                                        "\tKhanh\r\nHoa\v\f",
                                        "ID 001099012345",
                                        "Ha-Noi / Q.1, P.2",
                                        "K",
                                        "",
                                        " ",
                                        "MiXeD CaSe 123 ~!@#$%^&*()_+`{}|[]\\:\";'<>?,./",
                                        NULL};
    char all[96];
    for (int i = 0; i < 95; i++)
        all[i] = (char)(0x20 + i);
    all[95] = 0;
    for (size_t i = 0; texts[i]; i++) {
        const char *t = texts[i];
        char *want = s_general(t), *got = lt_norm_text(t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(want);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "\n  ascii \"%s\": got \"%s\", general \"%s\"\n", t, got, want);
        CU_ASSERT_STRING_EQUAL(got, want);
        CU_ASSERT(lt_norm_match(t, t, 0) == 1); /* equal bytes */
        free(want);
        free(got);
    }
    char *got = lt_norm_text(all), *want = s_general(all);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
    free(want);
    /* Mixed: an ASCII claim against a stored value with diacritics still
     * goes through the general path on the stored side. */
    CU_ASSERT(lt_norm_match(NAME_MIXED, "nguyen van an", 0) == 0);
    CU_ASSERT(lt_norm_match(LE_HAT, LE_HAT, 0) == 1);
    CU_ASSERT(lt_norm_match("Le", "LE", 0) == 1);
}

/* The fold one code point at a time must be libunistring's fold of the
 * whole text. */
static int s_fold_agrees(const uint8_t *t, size_t n)
{
    size_t la = 0, lb = 0;
    uint8_t *a = lt_norm_fold((const char *)t, n, &la);
    uint8_t *b = u8_casefold(t, n, NULL, UNINORM_NFD, NULL, &lb);
    int ok = a && b && la == lb && memcmp(a, b, la) == 0;
    if (!ok)
        fprintf(stderr, "\n  fold of \"%.*s\" (%zu bytes) differs from u8_casefold\n", (int)n,
                (const char *)t, n);
    free(a);
    free(b);
    return ok;
}

/* Latin text is folded from a table, code point by code point: every
 * single code point of and around its ranges, every pair of a letter and a
 * combining mark (a mark after a precomposed letter must be put in
 * canonical order, which the table path leaves to libunistring), and
 * 100,000 random texts of Latin letters, ASCII, marks, Greek and Cyrillic
 * letters and white space, all against u8_casefold. */
static void test_latin_table_agrees(void)
{
    uint8_t t[64];
    size_t bad = 0;
    for (ucs4_t uc = 1; uc < 0x2100; uc++) {
        if (uc >= 0xd800 && uc < 0xe000)
            continue;
        int n = u8_uctomb(t, uc, (int)sizeof t);
        bad += n > 0 && !s_fold_agrees(t, (size_t)n);
    }
    static const ucs4_t marks[] = {0x300, 0x301, 0x302, 0x303, 0x306, 0x309, 0x31b, 0x323, 0x345};
    for (ucs4_t uc = 0x41; uc < 0x1f00; uc += (uc == 0x24f ? 0x1e00 - 0x24f : 1))
        for (size_t m = 0; m < sizeof marks / sizeof *marks; m++) {
            int n = u8_uctomb(t, uc, (int)sizeof t);
            int k = u8_uctomb(t + n, marks[m], (int)sizeof t - n);
            bad += !s_fold_agrees(t, (size_t)(n + k));
        }
    static const ucs4_t other[] = {' ',    0xa0,  0x2003, 0x3000, 0x3a3, 0x3c2, 0x410, 0x44f,
                                   0x1e9e, 0x130, 0x149,  0x1c4,  0x1f0, 0x345, 0x323, 0x302};
    uint32_t x = 2463534242u; /* xorshift32: the same texts every run */
    for (int i = 0; i < 100000; i++) {
        size_t n = 0;
        int cps = 1 + (int)(i % 8);
        for (int c = 0; c < cps; c++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            ucs4_t uc = x % 4 == 0   ? 0x20 + (x >> 8) % 0x5f
                        : x % 4 == 1 ? 0x80 + (x >> 8) % (0x250 - 0x80)
                        : x % 4 == 2 ? 0x1e00 + (x >> 8) % 0x100
                                     : other[(x >> 8) % (sizeof other / sizeof *other)];
            n += (size_t)u8_uctomb(t + n, uc, (int)(sizeof t - n));
        }
        bad += !s_fold_agrees(t, n);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Matching compares decomposed keys (no NFC step): over every pair of a
 * set of texts that differ in composition, case, tone placement, canonical
 * singletons and white space, a match must be exactly "equal NFC forms"
 * (lt_norm_text, which composes). */
static void test_match_agrees_with_composed_forms(void)
{
    static const char *const texts[] = {NGUYEN_NFC,
                                        NGUYEN_NFD,
                                        NGUYEN_SWAPPED,
                                        NAME_UPPER,
                                        NAME_LOWER,
                                        NAME_MIXED,
                                        NAME_UPPER_NFD,
                                        DANG_UPPER,
                                        DANG_LOWER,
                                        DANG_D_UP,
                                        DANG_D_LOW,
                                        LE_HAT,
                                        "Le\xcc\x82",
                                        HA_GRAVE,
                                        "Ha\xcc\x80",
                                        HA_DOT,
                                        "Ha\xcc\xa3",
                                        "h\xc3\xb2"
                                        "a",
                                        "ho\xc3\xa0",
                                        "HO\xcc\x80"
                                        "A",
                                        "kho\xe1\xba\xbb",
                                        "kh\xe1\xbb\x8f"
                                        "e",
                                        "th\xe1\xbb\xa7y",
                                        "thu\xe1\xbb\xb7",
                                        "ho\xc3\xa0ng",
                                        "h\xc3\xb2"
                                        "ang",
                                        "\xe2\x84\xab",
                                        "\xc3\x85",
                                        "A\xcc\x8a",
                                        "a\xcc\x8a", /* Angstrom sign, A ring */
                                        "a" NBSP "b",
                                        "a" IDEO "b",
                                        "a" EMSP "b",
                                        "a\xe2\x80\x80"
                                        "b",
                                        "a b",
                                        " A  B ",
                                        "a \xcc\x81",
                                        "a\xcc\x81",
                                        "\xc3\xa1",
                                        "STRASSE",
                                        "stra\xc3\x9f"
                                        "e",
                                        "",
                                        NULL};
    size_t n = 0;
    while (texts[n])
        n++;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            char *a = lt_norm_text(texts[i]), *b = lt_norm_text(texts[j]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(a);
            CU_ASSERT_PTR_NOT_NULL_FATAL(b);
            int want = strcmp(a, b) == 0, got = lt_norm_match(texts[i], texts[j], 0);
            if (got != want)
                fprintf(stderr, "\n  texts %zu and %zu: match %d, composed forms equal %d\n", i, j,
                        got, want);
            CU_ASSERT_EQUAL(got, want);
            free(a);
            free(b);
        }
}

static void s_expect_date(const char *in, long want)
{
    long ymd = -7;
    int rc = lt_norm_date(in, &ymd);
    if (want < 0) {
        if (rc != -1)
            fprintf(stderr, "\n  lt_norm_date(\"%s\") accepted (%ld), want refusal\n", in, ymd);
        CU_ASSERT(rc == -1);
    } else {
        if (rc != 0 || ymd != want)
            fprintf(stderr, "\n  lt_norm_date(\"%s\") = %d/%ld, want %ld\n", in, rc, ymd, want);
        CU_ASSERT(rc == 0);
        CU_ASSERT(ymd == want);
    }
}

static void test_dates(void)
{
    s_expect_date("1980-02-29", 19800229);
    s_expect_date("19800229", 19800229);
    s_expect_date(" 1990-01-02 ", 19900102);
    s_expect_date("\t1990-01-02\n", 19900102);
    /* The white space text is trimmed of (7.6), not only ASCII's four:
     * before, "\v" after a date and U+00A0, U+3000 around it made no date. */
    s_expect_date("1990-01-02\v", 19900102);
    s_expect_date("\f19900102\r", 19900102);
    s_expect_date("\xc2\xa0"
                  "1990-01-02\xe3\x80\x80",
                  19900102);
    s_expect_date("\xe3\x80\x80\xe3\x80\x80"
                  "19900102 \xc2\xa0",
                  19900102);
    s_expect_date("1990-01-02\xc2\xa0x", -1);
    s_expect_date("1990\xc2\xa0"
                  "01-02",
                  -1);
    s_expect_date("\xc2\xa0", -1);
    s_expect_date("2000-02-29", 20000229); /* divisible by 400 */
    s_expect_date("2024-12-31", 20241231);
    s_expect_date("1981-02-29", -1); /* not a leap year */
    s_expect_date("1900-02-29", -1); /* century, not a leap year */
    s_expect_date("2000-13-01", -1);
    s_expect_date("2000-00-10", -1);
    s_expect_date("2000-01-00", -1);
    s_expect_date("2000-01-32", -1);
    s_expect_date("2000-04-31", -1);
    s_expect_date("0000-01-01", -1);
    s_expect_date("1990-1-2", -1);
    s_expect_date("1990-01-2", -1);
    s_expect_date("1990-0102", -1);
    s_expect_date("199001-02", -1);
    s_expect_date("1990/01/02", -1);
    s_expect_date("1990-01-02x", -1);
    s_expect_date("1990-01-02 x", -1);
    s_expect_date("1990 -01-02", -1);
    s_expect_date("199001020", -1);
    s_expect_date("1990010", -1);
    s_expect_date("02/01/1990", -1);
    s_expect_date("", -1);
    s_expect_date("   ", -1);
    s_expect_date("-1990-01-02", -1);
}

static void test_date_match(void)
{
    CU_ASSERT(lt_norm_match("1980-02-29", "19800229", 1) == 1);
    CU_ASSERT(lt_norm_match("19800229", "1980-02-29", 1) == 1);
    CU_ASSERT(lt_norm_match("1990-01-02", " 1990-01-02 ", 1) == 1);
    CU_ASSERT(lt_norm_match("1990-01-02", "1990-01-03", 1) == 0);
    CU_ASSERT(lt_norm_match("1990-01-02", "1990-02-01", 1) == 0);
    /* An unparsable claim never matches, even one that reads the same. */
    CU_ASSERT(lt_norm_match("1990-01-02", "1990-1-2", 1) == 0);
    CU_ASSERT(lt_norm_match("1990-01-02", "2 Jan 1990", 1) == 0);
    CU_ASSERT(lt_norm_match("1990-01-02", "02/01/1990", 1) == 0);
    CU_ASSERT(lt_norm_match("1990-01-02", "", 1) == 0);
    CU_ASSERT(lt_norm_match("1981-02-29", "1981-02-29", 1) == 0);
    CU_ASSERT(lt_norm_match("1981-03-01", "1981-02-29", 1) == 0);
}

/* ---- one claim against many stored values -------------------------------- */

/* What a comparison must give, from the composed forms (text) or the parsed
 * dates: the old per-pair lt_norm_match's meaning (PROTOCOL.md 7.6). */
static int s_reference(const char *stored, const char *claim, int is_date)
{
    if (is_date) {
        long a, b;
        return lt_norm_date(stored, &a) == 0 && lt_norm_date(claim, &b) == 0 && a == b;
    }
    char *a = lt_norm_text(stored), *b = lt_norm_text(claim);
    int want = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    return want;
}

/* A claim worked out once gives, against every stored value and as text or
 * as a date in turn, what comparing the pair afresh gives. Its key and its
 * date are each made once, however many values it meets. */
static void test_claim_once_same_results(void)
{
    static const char *const texts[] = {NGUYEN_NFC,
                                        NGUYEN_NFD,
                                        NGUYEN_SWAPPED,
                                        NAME_UPPER,
                                        NAME_LOWER,
                                        NAME_MIXED,
                                        NAME_UPPER_NFD,
                                        " \t" NAME_UPPER_NFD NBSP,
                                        "Nguy\xe1\xbb\x85n" IDEO "V\xc4\x83n" EMSP "An",
                                        "Nguy\xe1\xbb\x85n\xe2\x80\xa8V\xc4\x83n\xc2\x85"
                                        "An", /* line separator, NEL */
                                        DANG_UPPER,
                                        DANG_D_UP,
                                        LE_HAT,
                                        "Le",
                                        HA_GRAVE,
                                        HA_DOT,
                                        "h\xc3\xb2"
                                        "a",
                                        "ho\xc3\xa0",
                                        "STRASSE",
                                        "stra\xc3\x9f"
                                        "e",
                                        "a b",
                                        " A  B ",
                                        "",
                                        "   ",
                                        "1990-01-02",
                                        "19900102",
                                        " 1990-01-02 ",
                                        "\t19900102\n",
                                        "1990-01-03",
                                        "1990-1-2",
                                        "1981-02-29",
                                        "1980-02-29",
                                        "19800229",
                                        "02/01/1990",
                                        "\xff",
                                        "H\xe0",
                                        "a\xc3", /* invalid UTF-8 */
                                        NULL};
    size_t n = 0;
    while (texts[n])
        n++;
    enum { MAX = 64 };
    CU_ASSERT_FATAL(n <= MAX);
    static int got[3][MAX][MAX][2];
    int wrong = 0;
    for (size_t j = 0; j < n; j++) {
        lt_norm_claim_t c;
        lt_norm_claim_init(&c, texts[j]);
        uint64_t before = lt_norm_claims_worked();
        for (int round = 0; round < 3; round++)
            for (size_t i = 0; i < n; i++)
                for (int is_date = 0; is_date < 2; is_date++)
                    got[round][i][j][is_date] = lt_norm_claim_match(&c, texts[i], is_date);
        /* At most its key and its date. */
        uint64_t worked = lt_norm_claims_worked() - before;
        if (worked > 2)
            fprintf(stderr, "\n  claim %zu worked out %llu times\n", j, (unsigned long long)worked);
        CU_ASSERT(worked <= 2);
        lt_norm_claim_clear(&c);
        lt_norm_claim_clear(&c); /* idempotent */
    }
    for (int round = 0; round < 3; round++)
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < n; i++)
                for (int is_date = 0; is_date < 2; is_date++) {
                    int want = s_reference(texts[i], texts[j], is_date);
                    int single = lt_norm_match(texts[i], texts[j], is_date);
                    if (got[round][i][j][is_date] != want || single != want) {
                        fprintf(stderr, "\n  stored %zu, claim %zu, date %d: %d and %d, want %d\n",
                                i, j, is_date, got[round][i][j][is_date], single, want);
                        wrong++;
                    }
                }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* A stored value kept over many claims (the claims of one key naming one
 * field, PROTOCOL.md 7.6) gives against each, as text or as a date, what
 * comparing the pair afresh gives; its key and its date are each made
 * once, however many claims it meets. */
static void test_stored_once_same_results(void)
{
    static const char *const texts[] = {
        NGUYEN_NFC,     NGUYEN_NFD, NAME_UPPER,   NAME_LOWER, NAME_MIXED,   NAME_UPPER_NFD,
        DANG_UPPER,     DANG_D_UP,  "STRASSE",    "",         "1990-01-02", "19900102",
        " 1990-01-02 ", "1990-1-2", "1981-02-29", "\xff",     NULL};
    int wrong = 0;
    for (size_t i = 0; texts[i]; i++) {
        lt_norm_claim_t v;
        lt_norm_claim_init(&v, texts[i]);
        uint64_t before = lt_norm_stored_worked();
        for (int round = 0; round < 3; round++)
            for (size_t j = 0; texts[j]; j++)
                for (int is_date = 0; is_date < 2; is_date++) {
                    lt_norm_claim_t c;
                    lt_norm_claim_init(&c, texts[j]);
                    int got = lt_norm_claim_match_value(&c, &v, is_date);
                    lt_norm_claim_clear(&c);
                    int want = s_reference(texts[i], texts[j], is_date);
                    if (got != want) {
                        fprintf(stderr, "\n  stored %zu, claim %zu, date %d: %d, want %d\n", i, j,
                                is_date, got, want);
                        wrong++;
                    }
                }
        uint64_t worked = lt_norm_stored_worked() - before;
        if (worked > 2)
            fprintf(stderr, "\n  stored %zu worked out %llu times\n", i,
                    (unsigned long long)worked);
        CU_ASSERT(worked <= 2);
        lt_norm_claim_clear(&v);
    }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* One claim against a thousand records: its key is made once, its date
 * parsed once, and a claim matching by its bytes needs neither. */
static void test_claim_worked_once(void)
{
    lt_norm_claim_t name, date, same;
    lt_norm_claim_init(&name, NAME_LOWER);
    lt_norm_claim_init(&date, " 1990-01-02");
    lt_norm_claim_init(&same, NAME_MIXED);
    uint64_t before = lt_norm_claims_worked();
    int matched = 0;
    for (int i = 0; i < 1000; i++) {
        matched += lt_norm_claim_match(&name, i % 2 ? NAME_MIXED : NAME_UPPER_NFD, 0) == 1;
        matched += lt_norm_claim_match(&date, i % 2 ? "19900102" : "1990-01-02", 1) == 1;
        matched += lt_norm_claim_match(&same, NAME_MIXED, 0) == 1;
    }
    CU_ASSERT_EQUAL(matched, 3000);
    CU_ASSERT_EQUAL(lt_norm_claims_worked() - before, 2);
    /* The single comparison works its claim out each time. */
    before = lt_norm_claims_worked();
    for (int i = 0; i < 10; i++)
        CU_ASSERT(lt_norm_match(NAME_MIXED, NAME_LOWER, 0) == 1);
    CU_ASSERT_EQUAL(lt_norm_claims_worked() - before, 10);
    lt_norm_claim_clear(&name);
    lt_norm_claim_clear(&date);
    lt_norm_claim_clear(&same);
}

/* ---- lt_wire_body_bytes ------------------------------------------------------ */

static uint8_t *s_pack_env(const Lienthong__Envelope *env, size_t *len)
{
    *len = lienthong__envelope__get_packed_size(env);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        lienthong__envelope__pack(env, buf);
    return buf;
}

static void s_lookup(Lienthong__LookupRequest *q, char **fields)
{
    lienthong__lookup_request__init(q);
    q->request_id = 0x1122334455667788ull;
    q->dataset = "VN/GOV/BCA/population";
    q->key = "001099012345";
    q->fields = fields;
    q->n_fields = 2;
    q->purpose = "KYC";
    q->case_ref = "HS-2024-" NGUYEN_NFC;
    q->deadline_ms = 1700000000000;
}

static void test_body_bytes_exact(void)
{
    char *fields[] = {"full_name", "date_of_birth"};
    Lienthong__LookupRequest q;
    s_lookup(&q, fields);
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    size_t len, want_len = lienthong__lookup_request__get_packed_size(&q);
    uint8_t *buf = s_pack_env(&env, &len), *want = malloc(want_len);
    CU_ASSERT_FATAL(buf != NULL && want != NULL);
    lienthong__lookup_request__pack(&q, want);
    const uint8_t *body = NULL;
    size_t body_len = 0;
    CU_ASSERT_FATAL(lt_wire_body_bytes(buf, len, &body, &body_len) == 0);
    CU_ASSERT(body_len == want_len);
    CU_ASSERT(body >= buf && body + body_len == buf + len); /* inside, at the end */
    CU_ASSERT(memcmp(body, want, want_len) == 0);

    /* The same body placed before the version field, and an unknown
     * non-body field (number 5) in between, change nothing. */
    uint8_t *moved = malloc(len + 4);
    CU_ASSERT_FATAL(moved != NULL);
    size_t hdr = len - want_len; /* "08 01" + tag + length of the body */
    CU_ASSERT_FATAL(hdr > 2 && buf[0] == 0x08 && buf[1] == 0x01);
    memcpy(moved, buf + 2, len - 2);          /* tag, length, body */
    memcpy(moved + len - 2, "\x2a\x02hi", 4); /* field 5, "hi" */
    memcpy(moved + len + 2, "\x08\x01", 2);   /* version last */
    body = NULL;
    CU_ASSERT_FATAL(lt_wire_body_bytes(moved, len + 4, &body, &body_len) == 0);
    CU_ASSERT(body == moved + hdr - 2);
    CU_ASSERT(body_len == want_len);
    CU_ASSERT(memcmp(body, want, want_len) == 0);

    /* A verify request is field 32: a two-byte tag. */
    Lienthong__VerifyRequest v = LIENTHONG__VERIFY_REQUEST__INIT;
    char *keys[] = {"001099012345"};
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp[] = {&c};
    c.field = "full_name";
    c.value = NAME_UPPER;
    v.request_id = 9;
    v.dataset = "VN/GOV/BCA/population";
    v.keys = keys;
    v.n_keys = 1;
    v.claims = cp;
    v.n_claims = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    env.verify_request = &v;
    size_t vlen, vwant_len = lienthong__verify_request__get_packed_size(&v);
    uint8_t *vbuf = s_pack_env(&env, &vlen), *vwant = malloc(vwant_len);
    CU_ASSERT_FATAL(vbuf != NULL && vwant != NULL);
    lienthong__verify_request__pack(&v, vwant);
    CU_ASSERT_FATAL(lt_wire_body_bytes(vbuf, vlen, &body, &body_len) == 0);
    CU_ASSERT(body_len == vwant_len && memcmp(body, vwant, vwant_len) == 0);
    /* An empty body (a StatusRequest) is one body of zero bytes. */
    Lienthong__StatusRequest sr = LIENTHONG__STATUS_REQUEST__INIT;
    env.body_case = LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST;
    env.status_request = &sr;
    size_t slen;
    uint8_t *sbuf = s_pack_env(&env, &slen);
    CU_ASSERT_FATAL(sbuf != NULL);
    CU_ASSERT(lt_wire_body_bytes(sbuf, slen, &body, &body_len) == 0);
    CU_ASSERT(body_len == 0);
    free(sbuf);
    free(vbuf);
    free(vwant);
    free(moved);
    free(buf);
    free(want);
}

static void test_body_bytes_refused(void)
{
    char *fields[] = {"full_name", "date_of_birth"};
    Lienthong__LookupRequest q;
    s_lookup(&q, fields);
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    size_t len;
    uint8_t *buf = s_pack_env(&env, &len);
    CU_ASSERT_FATAL(buf != NULL);
    const uint8_t *body;
    size_t body_len;
    uint8_t *two = malloc(2 * len + 8);
    CU_ASSERT_FATAL(two != NULL);

    /* Two bodies: the same field twice (protobuf would merge them). */
    memcpy(two, buf, len);
    memcpy(two + len, buf + 2, len - 2);
    CU_ASSERT(lt_wire_body_bytes(two, 2 * len - 2, &body, &body_len) == -1);
    /* Two different body fields (a oneof would keep the last). */
    memcpy(two, buf, len);
    memcpy(two + len, "\x5a\x00", 2); /* field 11 (hello), empty */
    CU_ASSERT(lt_wire_body_bytes(two, len + 2, &body, &body_len) == -1);
    /* No body at all: just the version, or nothing. */
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x08\x01", 2, &body, &body_len) == -1);
    CU_ASSERT(lt_wire_body_bytes(buf, 0, &body, &body_len) == -1);

    /* Field number 0, as a varint field, as bytes, and with an overlong tag. */
    memcpy(two, "\x00\x00", 2);
    memcpy(two + 2, buf, len);
    CU_ASSERT(lt_wire_body_bytes(two, len + 2, &body, &body_len) == -1);
    memcpy(two, buf, len);
    memcpy(two + len, "\x02\x00", 2);
    CU_ASSERT(lt_wire_body_bytes(two, len + 2, &body, &body_len) == -1);
    memcpy(two, buf, len);
    memcpy(two + len, "\x82\x00\x00", 3);
    CU_ASSERT(lt_wire_body_bytes(two, len + 3, &body, &body_len) == -1);

    /* Truncated: every proper prefix of a valid envelope is refused. */
    size_t accepted = 0;
    for (size_t cut = 0; cut < len; cut++)
        accepted += lt_wire_body_bytes(buf, cut, &body, &body_len) == 0;
    CU_ASSERT(accepted == 0);
    /* A length that runs past the end; an unfinished varint; a tag alone. */
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\xf2\x01\x05\x08", 4, &body, &body_len) == -1);
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x08\x81", 2, &body, &body_len) == -1);
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\xf2\x01", 2, &body, &body_len) == -1);
    /* A varint longer than 10 bytes. */
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                                                  "\x5a\x00",
                                 14, &body, &body_len) == -1);
    /* Fixed-width fields cut short. */
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x5a\x00\x09\x01\x02", 5, &body, &body_len) ==
              -1);
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x5a\x00\x0d\x01\x02", 5, &body, &body_len) ==
              -1);
    /* ... and whole ones accepted. */
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x5a\x00\x0d\x01\x02\x03\x04", 7, &body,
                                 &body_len) == 0);
    /* Groups (wire types 3 and 4) and the unused types 6 and 7. */
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x5a\x00\x0b\x0c", 4, &body, &body_len) == -1);
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x5a\x00\x0e", 3, &body, &body_len) == -1);
    CU_ASSERT(lt_wire_body_bytes((const uint8_t *)"\x5a\x00\x0f", 3, &body, &body_len) == -1);
    free(two);
    free(buf);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"precomposed and combining diacritics", test_precomposed_and_combining},
        {"ASCII text takes a short path that agrees with libunistring's; equal bytes match",
         test_ascii_path_agrees},
        {"matching decomposed keys agrees with comparing composed forms",
         test_match_agrees_with_composed_forms},
        {"Latin text folded from the table agrees with libunistring", test_latin_table_agrees},
        {"upper and lower case", test_case_folding},
        {"d with stroke", test_d_with_stroke},
        {"inner and outer white space", test_white_space},
        {"white space is Unicode's White_Space property", test_white_space_property},
        {"differences that must stay", test_differences_stay},
        {"old and new tone placement (oa, oe, uy)", test_tone_placement},
        {"invalid UTF-8 refused", test_invalid_utf8},
        {"dates parsed as calendar dates", test_dates},
        {"dates compared as dates", test_date_match},
        {"a claim worked out once compares as afresh, text and dates",
         test_claim_once_same_results},
        {"a stored value worked out once compares as afresh, text and dates",
         test_stored_once_same_results},
        {"a claim is worked out once against a thousand values", test_claim_worked_once},
        {"body bytes are the exact packed body", test_body_bytes_exact},
        {"body bytes refused", test_body_bytes_refused},
        {NULL, NULL}};
    return ut_main("lt_norm", NULL, NULL, tests);
}
