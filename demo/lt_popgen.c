/* lt_popgen: deterministic Vietnamese demo data (see lt_popgen.h).
 *
 * All text literals in this file are UTF-8 in Unicode NFC: every letter
 * with diacritics is one precomposed code point (e.g. "ễ" U+1EC5), which is
 * what the record types require. */
#include "lt_popgen.h"
#include "lt_err.h"
#include "lt_adapter.h"
#include "lt_db_sqlite.h"
#include "lt_rules.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic generator ---------------------------------------- */

typedef struct {
    uint64_t s;
} s_rng_t;

/* splitmix64 (Steele, Lea, Flood 2014). */
static uint64_t s_next(s_rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void s_seed(s_rng_t *r, uint64_t seed, uint64_t salt)
{
    r->s = seed ^ (salt * 0xd1342543de82ef95ULL);
    s_next(r);
}

/* Uniform in [0, n) (n > 0); the bias of the multiply-shift is < 2^-32. */
static uint32_t s_below(s_rng_t *r, uint32_t n)
{
    return (uint32_t)(((s_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* 1 with probability per_mille / 1000. */
static int s_chance(s_rng_t *r, uint32_t per_mille)
{
    return s_below(r, 1000) < per_mille;
}

typedef struct {
    const char *text;
    uint32_t weight;
} s_weighted_t;

static const char *s_pick(s_rng_t *r, const s_weighted_t *w, size_t n)
{
    uint32_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i].weight;
    uint32_t x = s_below(r, total);
    for (size_t i = 0; i < n; i++) {
        if (x < w[i].weight)
            return w[i].text;
        x -= w[i].weight;
    }
    return w[n - 1].text;
}

#define N_OF(a)       (sizeof(a) / sizeof((a)[0]))
#define PICK(r, list) (list)[s_below((r), (uint32_t)N_OF(list))]

/* ---- data ----------------------------------------------------------- */

typedef struct {
    const char *code; /* two-digit administrative code */
    uint32_t people;  /* thousands, 2019 census, rounded: the draw weight */
} s_province_t;

/* The 63 provinces and centrally-run cities by code, with their weights;
 * their names, and which codes exist, come from core (lt_rules), whose
 * citizen id rule checks the ids drawn here (PROTOCOL.md 5.7). */
static const s_province_t s_provinces[] = {
    {"01", 8054}, {"02", 855},  {"04", 531},  {"06", 314},  {"08", 785},  {"10", 731},
    {"11", 599},  {"12", 461},  {"14", 1249}, {"15", 822},  {"17", 855},  {"19", 1287},
    {"20", 782},  {"22", 1321}, {"24", 1804}, {"25", 1464}, {"26", 1152}, {"27", 1369},
    {"30", 1893}, {"31", 2029}, {"33", 1253}, {"34", 1861}, {"35", 853},  {"36", 1781},
    {"37", 983},  {"38", 3641}, {"40", 3328}, {"42", 1289}, {"44", 896},  {"45", 633},
    {"46", 1129}, {"48", 1135}, {"49", 1496}, {"51", 1232}, {"52", 1487}, {"54", 873},
    {"56", 1232}, {"58", 591},  {"60", 1231}, {"62", 541},  {"64", 1514}, {"66", 1870},
    {"67", 623},  {"68", 1297}, {"70", 995},  {"72", 1170}, {"74", 2427}, {"75", 3097},
    {"77", 1149}, {"79", 8993}, {"80", 1689}, {"82", 1765}, {"83", 1289}, {"84", 1010},
    {"86", 1023}, {"87", 1600}, {"89", 1908}, {"91", 1724}, {"92", 1236}, {"93", 734},
    {"94", 1200}, {"95", 908},  {"96", 1194},
};
_Static_assert(N_OF(s_provinces) == 63, "Vietnam has 63 provinces and cities");

/* Family names; Nguyễn is about 38% of the population. Weights per mille. */
static const s_weighted_t s_family[] = {
    {"Nguyễn", 380}, {"Trần", 110}, {"Lê", 95},    {"Phạm", 70}, {"Phan", 45},  {"Hoàng", 30},
    {"Huỳnh", 21},   {"Đặng", 21},  {"Vũ", 20},    {"Bùi", 20},  {"Võ", 19},    {"Đỗ", 14},
    {"Hồ", 13},      {"Ngô", 13},   {"Dương", 10}, {"Đinh", 8},  {"Trương", 8}, {"Lý", 5},
    {"Lâm", 5},      {"Mai", 5},    {"Đào", 5},    {"Trịnh", 5}, {"Phùng", 5},  {"Triệu", 5},
    {"Lưu", 5},      {"Thái", 5},   {"Vương", 5},  {"Cao", 4},   {"Lương", 4},  {"Hà", 4},
    {"Quách", 4},    {"Kiều", 4},   {"Lại", 4},    {"Tô", 3},    {"Tạ", 3},     {"Văn", 3},
    {"Tăng", 3},     {"La", 3},     {"Mạc", 3},    {"Doãn", 3},  {"Nghiêm", 3}, {"Hứa", 3},
    {"Chu", 2},      {"Khúc", 2},
};

static const s_weighted_t s_middle_male[] = {
    {"Văn", 40},  {"Đức", 10}, {"Minh", 10}, {"Hữu", 8},  {"Quang", 6}, {"Công", 6},
    {"Quốc", 6},  {"Đình", 6}, {"Thanh", 5}, {"Ngọc", 4}, {"Xuân", 4},  {"Tiến", 3},
    {"Trọng", 3}, {"Gia", 3},  {"Hoàng", 3}, {"Anh", 2},
};

static const s_weighted_t s_middle_female[] = {
    {"Thị", 50}, {"Ngọc", 8},   {"Thanh", 6}, {"Thu", 6},  {"Minh", 4},
    {"Hồng", 4}, {"Phương", 4}, {"Kim", 4},   {"Thúy", 3}, {"Mỹ", 3},
    {"Bảo", 2},  {"Khánh", 2},  {"Hoài", 2},  {"Diệu", 2}, {"Quỳnh", 2},
};

/* A second middle name after "Thị", as in "Nguyễn Thị Thu Hà". */
static const char *const s_middle2_female[] = {"Thu",    "Thanh", "Ngọc", "Minh",
                                               "Phương", "Hồng",  "Kim",  "Bích"};

static const char *const s_given_male[] = {
    "An",   "Bình",  "Cường", "Dũng",  "Duy",   "Đạt",   "Đức",  "Hải",   "Hiếu", "Hiển",
    "Hòa",  "Hoàng", "Hùng",  "Huy",   "Khánh", "Khoa",  "Kiên", "Lâm",   "Long", "Lộc",
    "Mạnh", "Minh",  "Nam",   "Nghĩa", "Phong", "Phúc",  "Quân", "Quang", "Sơn",  "Tài",
    "Tâm",  "Thắng", "Thành", "Thịnh", "Toàn",  "Trung", "Tuấn", "Tùng",  "Việt", "Vinh",
};

static const char *const s_given_female[] = {
    "An",   "Anh",   "Châu",  "Chi",   "Dung", "Giang",  "Hà",    "Hạnh", "Hằng", "Hiền",
    "Hoa",  "Hồng",  "Huyền", "Hương", "Lan",  "Liên",   "Linh",  "Loan", "Mai",  "My",
    "Nga",  "Ngân",  "Ngọc",  "Nhung", "Oanh", "Phương", "Quyên", "Tâm",  "Thảo", "Thu",
    "Thủy", "Trang", "Trinh", "Tuyết", "Uyên", "Vân",    "Yến",
};

/* Ethnic groups, per mille (Kinh about 85%). */
static const s_weighted_t s_ethnicity[] = {
    {"Kinh", 853},   {"Tày", 19}, {"Thái", 18}, {"Mường", 15},  {"Khmer", 14},  {"Mông", 13},
    {"Nùng", 11},    {"Dao", 9},  {"Hoa", 8},   {"Gia Rai", 5}, {"Ê Đê", 4},    {"Ba Na", 3},
    {"Sán Chay", 2}, {"Chăm", 2}, {"Cơ Ho", 2}, {"Xơ Đăng", 2}, {"Sán Dìu", 2},
};

static const char *const s_streets[] = {
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Trãi",
    "Hai Bà Trưng",
    "Quang Trung",
    "Lý Thường Kiệt",
    "Điện Biên Phủ",
    "Hùng Vương",
    "Nguyễn Huệ",
    "Phan Đình Phùng",
    "Lê Duẩn",
    "Võ Thị Sáu",
    "Nguyễn Du",
    "Bà Triệu",
    "Trần Phú",
    "Lê Lai",
    "Hoàng Văn Thụ",
    "Ngô Quyền",
    "Nguyễn Văn Cừ",
    "Lạc Long Quân",
    "Phạm Văn Đồng",
    "Nguyễn Thị Minh Khai",
    "Cách Mạng Tháng Tám",
    "Tôn Đức Thắng",
};

static const char *const s_wards[] = {
    "Tân Định",    "Bến Thành",  "Hàng Bạc", "Cửa Nam",     "Đông Sơn",        "Lam Sơn",
    "Quang Trung", "Trường Thi", "Hòa Minh", "Phú Hội",     "Vĩnh Ninh",       "Tân Phong",
    "Ngọc Trạo",   "Đông Vệ",    "Phú Sơn",  "Thạch Thang", "Hiệp Bình Chánh", "Bình Hưng Hòa",
};

static const char *const s_communes[] = {
    "An Phú",    "Tân Lập",  "Hòa Bình", "Phú Lợi",     "Đông Hòa",  "Thắng Lợi",
    "Quảng Tân", "Thiệu Đô", "Yên Ninh", "Hoằng Quang", "Tân Thành", "Minh Tân",
    "Xuân Lâm",  "Đại Đồng", "Phú Xuân", "Bình An",     "Hưng Đạo",  "Tiến Thắng",
};

/* Mobile prefixes after the country code 84 (Viettel, VinaPhone, MobiFone). */
static const char *const s_mobile_prefixes[] = {
    "86", "96", "97", "98", "32", "33", "34", "35", "36", "37", "38", "39", "88", "91",
    "94", "81", "82", "83", "84", "85", "89", "90", "93", "70", "76", "77", "78", "79"};

/* ---- dates (days since 1970-01-01, proleptic Gregorian) ------------- */

static int64_t s_days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void s_civil(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void s_iso(int64_t days, char out[11])
{
    int y, m, d;
    s_civil(days, &y, &m, &d);
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u);
}

static int64_t s_parse_iso(const char *s)
{
    int y, m, d;
    if (!s || sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return s_days(1970, 1, 1);
    return s_days(y, m, d);
}

/* Uniform day in [lo, hi]. */
static int64_t s_day_between(s_rng_t *r, int64_t lo, int64_t hi)
{
    return hi <= lo ? lo : lo + s_below(r, (uint32_t)(hi - lo + 1));
}

/* ---- one citizen ---------------------------------------------------- */

typedef struct {
    char personal_id[16];
    char full_name[128];
    char date_of_birth[11];
    int sex; /* 1 male, 2 female */
    char place_of_birth[64];
    char home_town[64];
    const char *ethnicity;
    char permanent_province[3];
    char permanent_address[256];
    char current_province[3];
    char current_address[256];
    char id_card_issued[11];
} s_citizen_t;

/* A province's name (every code above is one of lt_rules's 63). */
static const char *s_pname(const s_province_t *p)
{
    const char *name = lt_rules_province(p->code);
    return name ? name : p->code;
}

static const s_province_t *s_province(s_rng_t *r)
{
    uint32_t total = 0;
    for (size_t i = 0; i < N_OF(s_provinces); i++)
        total += s_provinces[i].people;
    uint32_t x = s_below(r, total);
    for (size_t i = 0; i < N_OF(s_provinces); i++) {
        if (x < s_provinces[i].people)
            return &s_provinces[i];
        x -= s_provinces[i].people;
    }
    return &s_provinces[0];
}

static const s_province_t *s_province_by_code(const char *code)
{
    for (size_t i = 0; i < N_OF(s_provinces); i++)
        if (strcmp(s_provinces[i].code, code) == 0)
            return &s_provinces[i];
    return &s_provinces[0];
}

/* A province other than `not_code`, weighted by population. */
static const s_province_t *s_province_other(s_rng_t *r, const char *not_code)
{
    const s_province_t *p;
    do
        p = s_province(r);
    while (strcmp(p->code, not_code) == 0);
    return p;
}

static const char *s_given(s_rng_t *r, int sex)
{
    return sex == 1 ? PICK(r, s_given_male) : PICK(r, s_given_female);
}

static void s_name(s_rng_t *r, int sex, char *out, size_t cap)
{
    const char *family = s_pick(r, s_family, N_OF(s_family));
    const char *middle = sex == 1 ? s_pick(r, s_middle_male, N_OF(s_middle_male))
                                  : s_pick(r, s_middle_female, N_OF(s_middle_female));
    const char *middle2 = NULL;
    if (sex == 2 && strcmp(middle, "Thị") == 0 && s_chance(r, 250))
        middle2 = PICK(r, s_middle2_female);
    const char *given;
    do
        given = s_given(r, sex);
    while (strcmp(given, middle) == 0 || (middle2 && strcmp(given, middle2) == 0));
    if (middle2)
        snprintf(out, cap, "%s %s %s %s", family, middle, middle2, given);
    else
        snprintf(out, cap, "%s %s %s", family, middle, given);
}

static void s_address(s_rng_t *r, const s_province_t *p, char *out, size_t cap)
{
    int code = atoi(p->code);
    if (s_chance(r, 400))
        snprintf(out, cap, "Số %u %s, phường %s, %s", 1 + s_below(r, 300), PICK(r, s_streets),
                 PICK(r, s_wards), s_pname(p));
    else
        snprintf(out, cap, "%s %u, xã %s, %s", code >= 70 ? "Ấp" : "Thôn", 1 + s_below(r, 12),
                 PICK(r, s_communes), s_pname(p));
}

/* 12 digits: 0 + province code of birth, century and sex, year, 6 random. */
static void s_personal_id(s_rng_t *r, const char *code, int sex, int year, char out[16])
{
    int century = (year >= 2000 ? 2 : 0) + (sex == 2);
    snprintf(out, 16, "0%s%d%02d%06u", code, century, year % 100, s_below(r, 1000000));
}

static void s_citizen(s_rng_t *r, s_citizen_t *c)
{
    memset(c, 0, sizeof *c);
    c->sex = 1 + (int)s_below(r, 2);
    int64_t dob = s_day_between(r, s_days(1930, 1, 1), s_days(2010, 12, 31));
    s_iso(dob, c->date_of_birth);
    int year, m, d;
    s_civil(dob, &year, &m, &d);
    const s_province_t *birth = s_province(r);
    s_personal_id(r, birth->code, c->sex, year, c->personal_id);
    s_name(r, c->sex, c->full_name, sizeof c->full_name);
    snprintf(c->place_of_birth, sizeof c->place_of_birth, "%s", s_pname(birth));
    const s_province_t *home = s_chance(r, 700) ? birth : s_province(r);
    snprintf(c->home_town, sizeof c->home_town, "%s", s_pname(home));
    c->ethnicity = s_pick(r, s_ethnicity, N_OF(s_ethnicity));
    const s_province_t *perm = s_chance(r, 800) ? birth : s_province(r);
    snprintf(c->permanent_province, sizeof c->permanent_province, "%s", perm->code);
    s_address(r, perm, c->permanent_address, sizeof c->permanent_address);
    if (s_chance(r, 880)) {
        snprintf(c->current_province, sizeof c->current_province, "%s", perm->code);
        snprintf(c->current_address, sizeof c->current_address, "%s", c->permanent_address);
    } else {
        const s_province_t *cur = s_province_other(r, perm->code);
        snprintf(c->current_province, sizeof c->current_province, "%s", cur->code);
        s_address(r, cur, c->current_address, sizeof c->current_address);
    }
    /* Chip-based cards from 2021, at age 14 at the earliest. */
    int64_t adult = s_days(year + 14, m, d > 28 && m == 2 ? 28 : d);
    int64_t from = adult > s_days(2021, 1, 1) ? adult : s_days(2021, 1, 1);
    s_iso(s_day_between(r, from, s_days(2024, 12, 31)), c->id_card_issued);
}

/* ---- citizens table ------------------------------------------------- */

const char *const LT_POPGEN_CITIZENS_SQL =
    "CREATE TABLE IF NOT EXISTS citizens ("
    "personal_id TEXT PRIMARY KEY NOT NULL, full_name TEXT NOT NULL, date_of_birth TEXT, "
    "sex INTEGER, place_of_birth TEXT, home_town TEXT, ethnicity TEXT, nationality TEXT, "
    "permanent_province TEXT, permanent_address TEXT, current_province TEXT, "
    "current_address TEXT, id_card_number TEXT, id_card_issued TEXT, status INTEGER, "
    "date_of_death TEXT)";

static int s_bind_citizen(sqlite3_stmt *st, const s_citizen_t *c)
{
    const char *text[] = {
        c->personal_id,        c->full_name,         c->date_of_birth,    NULL,
        c->place_of_birth,     c->home_town,         c->ethnicity,        "VN",
        c->permanent_province, c->permanent_address, c->current_province, c->current_address,
        c->personal_id,        c->id_card_issued};
    for (int i = 0; i < (int)N_OF(text); i++)
        if (text[i] && sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_STATIC) != SQLITE_OK)
            return -1;
    if (sqlite3_bind_int(st, 4, c->sex) != SQLITE_OK || sqlite3_bind_int(st, 15, 1) != SQLITE_OK ||
        sqlite3_bind_null(st, 16) != SQLITE_OK)
        return -1;
    return 0;
}

/* Inserts one citizen, drawing new random digits while the id is taken. */
static int s_insert_citizen(sqlite3 *db, sqlite3_stmt *st, s_rng_t *r, char *err, size_t errlen)
{
    s_citizen_t c;
    s_citizen(r, &c);
    for (int attempt = 0; attempt < 1000; attempt++) {
        int rc = s_bind_citizen(st, &c) == 0 ? sqlite3_step(st) : SQLITE_ERROR;
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return 0;
        if (rc != SQLITE_CONSTRAINT) {
            lt_err_set(err, errlen, "cannot insert a citizen: %s", sqlite3_errmsg(db));
            return -1;
        }
        snprintf(c.personal_id + 6, sizeof c.personal_id - 6, "%06u", s_below(r, 1000000));
    }
    lt_err_set(err, errlen, "cannot find a free personal id");
    return -1;
}

static int s_count(sqlite3 *db, const char *sql, int64_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(db, sql, &st, err, errlen))
        return -1;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc != SQLITE_ROW)
        lt_err_set(err, errlen, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static void s_rollback(sqlite3 *db)
{
    char ignore[64];
    lt_db_sqlite_exec(db, "ROLLBACK", "rollback", ignore, sizeof ignore);
}

int lt_popgen_citizens(const char *db_path, uint64_t n, uint64_t seed, char *err, size_t errlen)
{
    int rc = -1;
    int64_t existing = 0;
    sqlite3_stmt *st = NULL;
    sqlite3 *db = lt_db_sqlite_open(db_path, 1, err, errlen);
    if (!db)
        return -1;
    if (lt_db_sqlite_exec(db, LT_POPGEN_CITIZENS_SQL, "cannot create citizens", err, errlen) ||
        s_count(db, "SELECT COUNT(*) FROM citizens", &existing, err, errlen) ||
        lt_db_sqlite_prepare(
            db,
            "INSERT INTO citizens VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
            "?11, ?12, ?13, ?14, ?15, ?16)",
            &st, err, errlen) ||
        lt_db_sqlite_exec(db, "BEGIN IMMEDIATE", "cannot begin", err, errlen))
        goto out;
    s_rng_t r;
    s_seed(&r, seed, 0x636974697a656e73ULL ^ (uint64_t)existing);
    for (uint64_t i = 0; i < n; i++)
        if (s_insert_citizen(db, st, &r, err, errlen)) {
            s_rollback(db);
            goto out;
        }
    if (lt_db_sqlite_exec(db, "COMMIT", "cannot commit", err, errlen))
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* ---- changes -------------------------------------------------------- */

typedef enum { PICK_ALIVE, PICK_NOT_IN_38, PICK_IN_38, PICK_N } s_pick_kind_t;

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *pick[PICK_N];
    sqlite3_stmt *move, *death, *rename, *rebirth;
    int64_t max_rowid;
    s_rng_t r;
} s_changer_t;

/* The picked citizen. Strings are copied out of the statement. */
typedef struct {
    char personal_id[16];
    char full_name[128];
    char date_of_birth[11];
    char current_province[3];
    int sex;
} s_person_t;

static int s_changer_prepare(s_changer_t *c, char *err, size_t errlen)
{
    static const char *const where[PICK_N] = {"", "AND current_province <> '38'",
                                              "AND current_province = '38'"};
    for (int k = 0; k < PICK_N; k++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT personal_id, full_name, date_of_birth, current_province,"
                 " sex FROM citizens WHERE rowid >= ?1 AND status = 1 %s ORDER BY rowid LIMIT 1",
                 where[k]);
        if (lt_db_sqlite_prepare(c->db, sql, &c->pick[k], err, errlen))
            return -1;
    }
    return lt_db_sqlite_prepare(c->db,
                                "UPDATE citizens SET current_province = ?2, current_address = ?3 "
                                "WHERE personal_id = ?1",
                                &c->move, err, errlen) ||
           lt_db_sqlite_prepare(c->db,
                                "UPDATE citizens SET status = 2, date_of_death = ?2 "
                                "WHERE personal_id = ?1",
                                &c->death, err, errlen) ||
           lt_db_sqlite_prepare(c->db, "UPDATE citizens SET full_name = ?2 WHERE personal_id = ?1",
                                &c->rename, err, errlen) ||
           lt_db_sqlite_prepare(c->db,
                                "UPDATE citizens SET date_of_birth = ?2 WHERE personal_id = ?1",
                                &c->rebirth, err, errlen);
}

static void s_changer_close(s_changer_t *c)
{
    for (int k = 0; k < PICK_N; k++)
        sqlite3_finalize(c->pick[k]);
    sqlite3_finalize(c->move);
    sqlite3_finalize(c->death);
    sqlite3_finalize(c->rename);
    sqlite3_finalize(c->rebirth);
    sqlite3_close(c->db);
}

static void s_copy(char *out, size_t cap, const unsigned char *text)
{
    snprintf(out, cap, "%s", text ? (const char *)text : "");
}

/* A random living citizen of the kind; 1 found, 0 none, -1 error. */
static int s_pick_person(s_changer_t *c, s_pick_kind_t kind, s_person_t *p)
{
    sqlite3_stmt *st = c->pick[kind];
    int64_t from = 1 + (int64_t)s_below(&c->r, (uint32_t)(c->max_rowid > 0 ? c->max_rowid : 1));
    int rc = SQLITE_DONE;
    for (int pass = 0; pass < 2 && rc == SQLITE_DONE; pass++, from = 1) {
        if (sqlite3_bind_int64(st, 1, from) != SQLITE_OK)
            return -1;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            s_copy(p->personal_id, sizeof p->personal_id, sqlite3_column_text(st, 0));
            s_copy(p->full_name, sizeof p->full_name, sqlite3_column_text(st, 1));
            s_copy(p->date_of_birth, sizeof p->date_of_birth, sqlite3_column_text(st, 2));
            s_copy(p->current_province, sizeof p->current_province, sqlite3_column_text(st, 3));
            p->sex = sqlite3_column_int(st, 4);
        }
        sqlite3_reset(st);
    }
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Binds ?1 = id and ?2 = text (and ?3 = text3 when given), steps. */
static int s_update(sqlite3_stmt *st, const char *id, const char *text, const char *text3)
{
    int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) == SQLITE_OK &&
                     sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC) == SQLITE_OK &&
                     (!text3 || sqlite3_bind_text(st, 3, text3, -1, SQLITE_STATIC) == SQLITE_OK)
                 ? sqlite3_step(st)
                 : SQLITE_ERROR;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int s_move(s_changer_t *c, lt_popgen_changes_t *done)
{
    uint32_t x = s_below(&c->r, 10);
    s_pick_kind_t kind = x < 2 ? PICK_NOT_IN_38 : x < 4 ? PICK_IN_38 : PICK_ALIVE;
    s_person_t p;
    int found = s_pick_person(c, kind, &p);
    if (found == 0 && kind != PICK_ALIVE)
        found = s_pick_person(c, kind = PICK_ALIVE, &p);
    if (found <= 0)
        return found;
    const s_province_t *to = kind == PICK_NOT_IN_38 ? s_province_by_code("38")
                                                    : s_province_other(&c->r, p.current_province);
    char address[256];
    s_address(&c->r, to, address, sizeof address);
    if (s_update(c->move, p.personal_id, to->code, address))
        return -1;
    done->moves++;
    done->moves_into_38 += strcmp(to->code, "38") == 0;
    done->moves_out_of_38 += strcmp(p.current_province, "38") == 0;
    return 1;
}

static int s_death(s_changer_t *c, lt_popgen_changes_t *done)
{
    s_person_t p;
    int found = s_pick_person(c, PICK_ALIVE, &p);
    if (found <= 0)
        return found;
    int64_t born = s_parse_iso(p.date_of_birth), from = s_days(2020, 1, 1);
    char day[11];
    s_iso(s_day_between(&c->r, born > from ? born : from, s_days(2025, 6, 30)), day);
    if (s_update(c->death, p.personal_id, day, NULL))
        return -1;
    done->deaths++;
    return 1;
}

/* A corrected name: a different given name, keeping the other words. */
static int s_name_fix(s_changer_t *c, lt_popgen_changes_t *done)
{
    s_person_t p;
    int found = s_pick_person(c, PICK_ALIVE, &p);
    if (found <= 0)
        return found;
    char *space = strrchr(p.full_name, ' ');
    const char *given;
    do
        given = s_given(&c->r, p.sex == 1 ? 1 : 2);
    while (space && strcmp(space + 1, given) == 0);
    char name[160];
    snprintf(name, sizeof name, "%.*s %s", space ? (int)(space - p.full_name) : 0, p.full_name,
             given);
    if (s_update(c->rename, p.personal_id, space ? name : given, NULL))
        return -1;
    done->name_fixes++;
    return 1;
}

/* A corrected birth date within the same year (the id encodes the year). */
static int s_birth_fix(s_changer_t *c, lt_popgen_changes_t *done)
{
    s_person_t p;
    int found = s_pick_person(c, PICK_ALIVE, &p);
    if (found <= 0)
        return found;
    int y, m, d;
    s_civil(s_parse_iso(p.date_of_birth), &y, &m, &d);
    char day[11];
    do
        s_iso(s_day_between(&c->r, s_days(y, 1, 1), s_days(y, 12, 31)), day);
    while (strcmp(day, p.date_of_birth) == 0);
    if (s_update(c->rebirth, p.personal_id, day, NULL))
        return -1;
    done->birth_fixes++;
    return 1;
}

/* One change of a random kind: moves 50%, deaths 10%, fixes 20% each. */
static int s_change(s_changer_t *c, lt_popgen_changes_t *done)
{
    uint32_t x = s_below(&c->r, 10);
    if (x < 5)
        return s_move(c, done);
    if (x < 6)
        return s_death(c, done);
    return x < 8 ? s_name_fix(c, done) : s_birth_fix(c, done);
}

static int s_changes_loop(s_changer_t *c, uint64_t n, lt_popgen_changes_t *done, char *err,
                          size_t errlen)
{
    for (uint64_t i = 0; i < n;) {
        if (lt_db_sqlite_exec(c->db, "BEGIN IMMEDIATE", "cannot begin", err, errlen))
            return -1;
        uint64_t end = i + 500 < n ? i + 500 : n;
        for (; i < end; i++) {
            int r = s_change(c, done);
            if (r <= 0) {
                lt_err_set(err, errlen, "%s",
                           r == 0 ? "no living citizen left to change" : sqlite3_errmsg(c->db));
                s_rollback(c->db);
                return -1;
            }
        }
        if (lt_db_sqlite_exec(c->db, "COMMIT", "cannot commit", err, errlen))
            return -1;
    }
    return 0;
}

int lt_popgen_changes(const char *db_path, uint64_t n, uint64_t seed, lt_popgen_changes_t *done,
                      char *err, size_t errlen)
{
    s_changer_t c;
    memset(&c, 0, sizeof c);
    memset(done, 0, sizeof *done);
    int64_t deceased = 0;
    int rc = -1;
    c.db = lt_db_sqlite_open(db_path, 1, err, errlen);
    if (!c.db)
        return -1;
    if (s_count(c.db, "SELECT COALESCE(MAX(rowid), 0) FROM citizens", &c.max_rowid, err, errlen) ||
        s_count(c.db, "SELECT COUNT(*) FROM citizens WHERE status = 2", &deceased, err, errlen) ||
        s_changer_prepare(&c, err, errlen))
        goto out;
    if (c.max_rowid == 0) {
        lt_err_set(err, errlen, "%s has no citizens: run popgen --citizens N first", db_path);
        goto out;
    }
    /* The state mixes into the stream, so repeated runs differ. */
    s_seed(&c.r, seed, 0x6368616e676573ULL ^ ((uint64_t)c.max_rowid << 32) ^ (uint64_t)deceased);
    rc = s_changes_loop(&c, n, done, err, errlen);
out:
    s_changer_close(&c);
    return rc;
}

/* ---- subscribers ---------------------------------------------------- */

static const char *const s_subscribers_sql =
    "CREATE TABLE IF NOT EXISTS subscribers ("
    "phone_number TEXT PRIMARY KEY NOT NULL, owner_personal_id TEXT NOT NULL, owner_name TEXT, "
    "owner_date_of_birth TEXT, activation_date TEXT, status INTEGER)";

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *owner, *insert;
    int64_t max_rowid;
    s_rng_t r;
} s_subgen_t;

static int s_subgen_open(s_subgen_t *g, const char *db_path, const char *population, char *err,
                         size_t errlen)
{
    g->db = lt_db_sqlite_open(db_path, 1, err, errlen);
    if (!g->db)
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = lt_db_sqlite_prepare(g->db, "ATTACH DATABASE ?1 AS pop", &st, err, errlen);
    if (rc == 0 && (sqlite3_bind_text(st, 1, population, -1, SQLITE_STATIC) != SQLITE_OK ||
                    sqlite3_step(st) != SQLITE_DONE)) {
        lt_err_set(err, errlen, "cannot open %s: %s", population, sqlite3_errmsg(g->db));
        rc = -1;
    }
    sqlite3_finalize(st);
    if (rc ||
        lt_db_sqlite_exec(g->db, s_subscribers_sql, "cannot create subscribers", err, errlen) ||
        s_count(g->db, "SELECT COALESCE(MAX(rowid), 0) FROM pop.citizens", &g->max_rowid, err,
                errlen) ||
        lt_db_sqlite_prepare(g->db,
                             "SELECT personal_id, full_name, date_of_birth, sex "
                             "FROM pop.citizens WHERE rowid >= ?1 AND status = 1 "
                             "AND date_of_birth <= '2008-12-31' ORDER BY rowid LIMIT 1",
                             &g->owner, err, errlen) ||
        lt_db_sqlite_prepare(g->db, "INSERT INTO subscribers VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                             &g->insert, err, errlen))
        return -1;
    if (g->max_rowid == 0) {
        lt_err_set(err, errlen, "%s has no citizens: run popgen --citizens N first", population);
        return -1;
    }
    return 0;
}

static void s_subgen_close(s_subgen_t *g)
{
    sqlite3_finalize(g->owner);
    sqlite3_finalize(g->insert);
    sqlite3_close(g->db);
}

static int s_owner(s_subgen_t *g, s_person_t *p)
{
    int64_t from = 1 + (int64_t)s_below(&g->r, (uint32_t)g->max_rowid);
    int rc = SQLITE_DONE;
    for (int pass = 0; pass < 2 && rc == SQLITE_DONE; pass++, from = 1) {
        if (sqlite3_bind_int64(g->owner, 1, from) != SQLITE_OK)
            return -1;
        rc = sqlite3_step(g->owner);
        if (rc == SQLITE_ROW) {
            s_copy(p->personal_id, sizeof p->personal_id, sqlite3_column_text(g->owner, 0));
            s_copy(p->full_name, sizeof p->full_name, sqlite3_column_text(g->owner, 1));
            s_copy(p->date_of_birth, sizeof p->date_of_birth, sqlite3_column_text(g->owner, 2));
            p->sex = sqlite3_column_int(g->owner, 3);
        }
        sqlite3_reset(g->owner);
    }
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* About 3% of subscribers were registered with a wrong name or birth date. */
static void s_mismatch(s_subgen_t *g, s_person_t *p, lt_popgen_subs_t *done)
{
    if (!s_chance(&g->r, 30))
        return;
    if (s_chance(&g->r, 500)) {
        char *space = strrchr(p->full_name, ' ');
        const char *given;
        do
            given = s_given(&g->r, p->sex == 1 ? 1 : 2);
        while (space && strcmp(space + 1, given) == 0);
        if (space)
            snprintf(space + 1, sizeof p->full_name - (size_t)(space + 1 - p->full_name), "%s",
                     given);
        done->name_mismatches++;
    } else {
        int64_t day = s_parse_iso(p->date_of_birth) + 1 + s_below(&g->r, 40);
        s_iso(day, p->date_of_birth);
        done->birth_mismatches++;
    }
}

static int s_insert_subscriber(s_subgen_t *g, lt_popgen_subs_t *done)
{
    s_person_t p;
    int found = s_owner(g, &p);
    if (found <= 0)
        return found;
    int64_t born = s_parse_iso(p.date_of_birth), from = s_days(2005, 1, 1);
    int64_t adult = born + 16 * 365 + 4;
    char activated[11], phone[16];
    s_iso(s_day_between(&g->r, adult > from ? adult : from, s_days(2024, 12, 31)), activated);
    uint32_t x = s_below(&g->r, 100);
    int status = x < 95 ? 1 : x < 98 ? 2 : 3;
    s_mismatch(g, &p, done);
    for (int attempt = 0; attempt < 1000; attempt++) {
        snprintf(phone, sizeof phone, "84%s%07u", PICK(&g->r, s_mobile_prefixes),
                 s_below(&g->r, 10000000));
        sqlite3_stmt *st = g->insert;
        int rc =
            sqlite3_bind_text(st, 1, phone, -1, SQLITE_STATIC) == SQLITE_OK &&
                    sqlite3_bind_text(st, 2, p.personal_id, -1, SQLITE_STATIC) == SQLITE_OK &&
                    sqlite3_bind_text(st, 3, p.full_name, -1, SQLITE_STATIC) == SQLITE_OK &&
                    sqlite3_bind_text(st, 4, p.date_of_birth, -1, SQLITE_STATIC) == SQLITE_OK &&
                    sqlite3_bind_text(st, 5, activated, -1, SQLITE_STATIC) == SQLITE_OK &&
                    sqlite3_bind_int(st, 6, status) == SQLITE_OK
                ? sqlite3_step(st)
                : SQLITE_ERROR;
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            done->subscribers++;
            return 1;
        }
        if (rc != SQLITE_CONSTRAINT)
            return -1;
    }
    return -1;
}

int lt_popgen_subscribers(const char *db_path, const char *population_path, uint64_t n,
                          uint64_t seed, lt_popgen_subs_t *done, char *err, size_t errlen)
{
    s_subgen_t g;
    memset(&g, 0, sizeof g);
    memset(done, 0, sizeof *done);
    int64_t existing = 0;
    int rc = -1;
    if (s_subgen_open(&g, db_path, population_path, err, errlen) ||
        s_count(g.db, "SELECT COUNT(*) FROM subscribers", &existing, err, errlen) ||
        lt_db_sqlite_exec(g.db, "BEGIN IMMEDIATE", "cannot begin", err, errlen))
        goto out;
    s_seed(&g.r, seed, 0x7375627363726962ULL ^ (uint64_t)existing);
    for (uint64_t i = 0; i < n; i++) {
        int r = s_insert_subscriber(&g, done);
        if (r <= 0) {
            lt_err_set(err, errlen, "%s",
                       r == 0 ? "no adult living citizen to draw an owner from"
                              : sqlite3_errmsg(g.db));
            s_rollback(g.db);
            goto out;
        }
    }
    if (lt_db_sqlite_exec(g.db, "COMMIT", "cannot commit", err, errlen))
        goto out;
    rc = 0;
out:
    s_subgen_close(&g);
    return rc;
}

/* ---- registers of other owners: shared parts ------------------------ */

/* The day the generated registers were extracted: no generated date of an
 * event (a card issued, a dose given) is after it, so the data passes the
 * owners' "not in the future" rules whenever the demo runs. */
#define S_EXTRACT_DAY s_days(2025, 6, 30)

/* A living citizen of the population register, as the other owners' data
 * needs them. */
typedef struct {
    char personal_id[16];
    char date_of_birth[11];
    char current_province[3];
    char permanent_province[3];
    int sex;
} s_holder_t;

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *each, *insert;
    s_rng_t r;
} s_reggen_t;

/* Opens db_path, attaches the population, creates the table and prepares
 * a walk over the living citizens that `table` does not hold yet. */
static int s_reggen_open(s_reggen_t *g, const char *db_path, const char *population,
                         const char *create_sql, const char *table, const char *insert_sql,
                         char *err, size_t errlen)
{
    g->db = lt_db_sqlite_open(db_path, 1, err, errlen);
    if (!g->db)
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = lt_db_sqlite_prepare(g->db, "ATTACH DATABASE ?1 AS pop", &st, err, errlen);
    if (rc == 0 && (sqlite3_bind_text(st, 1, population, -1, SQLITE_STATIC) != SQLITE_OK ||
                    sqlite3_step(st) != SQLITE_DONE)) {
        lt_err_set(err, errlen, "cannot open %s: %s", population, sqlite3_errmsg(g->db));
        rc = -1;
    }
    sqlite3_finalize(st);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT personal_id, date_of_birth, current_province, permanent_province, sex "
             "FROM pop.citizens WHERE status = 1 AND personal_id NOT IN "
             "(SELECT personal_id FROM main.%s) ORDER BY rowid",
             table);
    if (rc || lt_db_sqlite_exec(g->db, create_sql, "cannot create the table", err, errlen) ||
        lt_db_sqlite_prepare(g->db, sql, &g->each, err, errlen) ||
        lt_db_sqlite_prepare(g->db, insert_sql, &g->insert, err, errlen))
        return -1;
    return 0;
}

static void s_reggen_close(s_reggen_t *g)
{
    sqlite3_finalize(g->each);
    sqlite3_finalize(g->insert);
    sqlite3_close(g->db);
}

static void s_holder(sqlite3_stmt *st, s_holder_t *h)
{
    s_copy(h->personal_id, sizeof h->personal_id, sqlite3_column_text(st, 0));
    s_copy(h->date_of_birth, sizeof h->date_of_birth, sqlite3_column_text(st, 1));
    s_copy(h->current_province, sizeof h->current_province, sqlite3_column_text(st, 2));
    s_copy(h->permanent_province, sizeof h->permanent_province, sqlite3_column_text(st, 3));
    h->sex = sqlite3_column_int(st, 4);
}

/* Binds the texts as ?1.. (NULL leaves the parameter to the caller). */
static int s_bind_texts(sqlite3_stmt *st, const char *const *text, int n)
{
    for (int i = 0; i < n; i++)
        if (text[i] && sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_TRANSIENT) != SQLITE_OK)
            return -1;
    return 0;
}

/* Age in whole years on `day`. */
static int s_age(const char *date_of_birth, int64_t day)
{
    int y, m, d, ty, tm, td;
    s_civil(s_parse_iso(date_of_birth), &y, &m, &d);
    s_civil(day, &ty, &tm, &td);
    return ty - y - (tm < m || (tm == m && td < d));
}

/* Walks the citizens, calling one(g, holder) for each; 0 or -1. */
static int s_reggen_walk(s_reggen_t *g, int (*one)(s_reggen_t *, const s_holder_t *, void *),
                         void *done, char *err, size_t errlen)
{
    /* Deferred: IMMEDIATE would also lock the attached population, which
     * its owner's source adapter may be writing (its change log). */
    if (lt_db_sqlite_exec(g->db, "BEGIN", "cannot begin", err, errlen))
        return -1;
    int rc;
    while ((rc = sqlite3_step(g->each)) == SQLITE_ROW) {
        s_holder_t h;
        s_holder(g->each, &h);
        if (one(g, &h, done)) {
            lt_err_set(err, errlen, "cannot insert for %s: %s", h.personal_id,
                       sqlite3_errmsg(g->db));
            s_rollback(g->db);
            return -1;
        }
    }
    if (rc != SQLITE_DONE) {
        lt_err_set(err, errlen, "cannot read the citizens: %s", sqlite3_errmsg(g->db));
        s_rollback(g->db);
        return -1;
    }
    return lt_db_sqlite_exec(g->db, "COMMIT", "cannot commit", err, errlen);
}

/* Generates `table` from the population: seeded with salt and the rows it
 * holds already (a second run draws others), one(holder) is called for
 * each living citizen it lacks. */
static int s_reggen_run(const char *db_path, const char *population, const char *create_sql,
                        const char *table, const char *insert_sql, uint64_t seed, uint64_t salt,
                        int (*one)(s_reggen_t *, const s_holder_t *, void *), void *done, char *err,
                        size_t errlen)
{
    s_reggen_t g;
    memset(&g, 0, sizeof g);
    int64_t existing = 0;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
    int rc = -1;
    if (s_reggen_open(&g, db_path, population, create_sql, table, insert_sql, err, errlen) == 0 &&
        s_count(g.db, sql, &existing, err, errlen) == 0) {
        s_seed(&g.r, seed, salt ^ (uint64_t)existing);
        rc = s_reggen_walk(&g, one, done, err, errlen);
    }
    s_reggen_close(&g);
    return rc;
}

/* ---- insurance cards (VN/GOV/BHXH) ---------------------------------- */

const char *const LT_POPGEN_CARDS_SQL =
    "CREATE TABLE IF NOT EXISTS insurance_cards ("
    "personal_id TEXT PRIMARY KEY NOT NULL, card_number TEXT NOT NULL UNIQUE, valid_from TEXT, "
    "valid_to TEXT, hospital_code TEXT, hospital_name TEXT, benefit_level TEXT, status INTEGER)";

enum { CARD_VALID = 1, CARD_EXPIRED = 2, CARD_SUSPENDED = 3 };

/* The beneficiary group printed on the card and the benefit level it
 * carries, by age on the extraction day. */
static void s_card_group(s_rng_t *r, int age, const char **group, const char **level)
{
    uint32_t x = s_below(r, 100);
    if (x == 0) {
        *group = "QN", *level = "5"; /* armed forces */
    } else if (age < 18) {
        *group = "HS", *level = "4";
    } else if (age < 23 && x < 50) {
        *group = "SV", *level = "4";
    } else if (age >= 60) {
        *group = x < 60 ? "HT" : x < 95 ? "GD" : "CC";
        *level = x < 60 ? "3" : x < 95 ? "4" : "1";
    } else {
        *group = x < 50 ? "DN" : x < 60 ? "HC" : x < 65 ? "HN" : "GD";
        *level = x < 60 ? "4" : x < 65 ? "2" : "4";
    }
}

/* Hospital "PPNNN" of a province and its name, which follows from the code. */
static void s_hospital(s_rng_t *r, const char *province, char code[8], char *name, size_t cap)
{
    const s_province_t *p = s_province_by_code(province);
    unsigned n = s_chance(r, 300) ? 1 : 2 + s_below(r, (uint32_t)N_OF(s_communes));
    snprintf(code, 8, "%.2s%03u", p->code, n);
    if (n == 1)
        snprintf(name, cap, "Bệnh viện Đa khoa tỉnh %s", s_pname(p));
    else
        snprintf(name, cap, "Trung tâm Y tế huyện %s, %s", s_communes[n - 2], s_pname(p));
}

static int s_insert_card(s_reggen_t *g, const s_holder_t *h, void *arg)
{
    lt_popgen_cards_t *done = arg;
    if (!s_chance(&g->r, 930))
        return 0; /* about 7% of citizens are not insured */
    const char *group, *level;
    s_card_group(&g->r, s_age(h->date_of_birth, S_EXTRACT_DAY), &group, &level);
    char hcode[8], hname[160], from[11], to[11];
    s_hospital(&g->r, h->current_province, hcode, hname, sizeof hname);
    /* Cards run a year; a few lapsed in 2024 and were not renewed. */
    int status = s_chance(&g->r, 30)   ? CARD_EXPIRED
                 : s_chance(&g->r, 20) ? CARD_SUSPENDED
                                       : CARD_VALID;
    int64_t f = status == CARD_EXPIRED
                    ? s_day_between(&g->r, s_days(2023, 1, 1), s_days(2023, 12, 31))
                    : s_day_between(&g->r, s_days(2024, 7, 1), S_EXTRACT_DAY);
    int64_t born = s_parse_iso(h->date_of_birth);
    if (f < born)
        f = born;
    s_iso(f, from);
    s_iso(f + 364, to);
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    for (int attempt = 0; attempt < 1000; attempt++) {
        char number[24];
        snprintf(number, sizeof number, "%s%s%.2s%05u%05u", group, level, h->permanent_province,
                 s_below(&g->r, 100000), s_below(&g->r, 100000));
        const char *text[] = {h->personal_id, number, from, to, hcode, hname, level};
        int rc = s_bind_texts(g->insert, text, (int)N_OF(text)) == 0 &&
                         sqlite3_bind_int(g->insert, 8, status) == SQLITE_OK
                     ? sqlite3_step(g->insert)
                     : SQLITE_ERROR;
        sqlite3_reset(g->insert);
        if (rc == SQLITE_DONE) {
            done->cards++;
            done->expired += status == CARD_EXPIRED;
            done->suspended += status == CARD_SUSPENDED;
            return 0;
        }
        if (rc != SQLITE_CONSTRAINT)
            return -1;
    }
    return -1;
}

int lt_popgen_cards(const char *db_path, const char *population_path, uint64_t seed,
                    lt_popgen_cards_t *done, char *err, size_t errlen)
{
    memset(done, 0, sizeof *done);
    return s_reggen_run(db_path, population_path, LT_POPGEN_CARDS_SQL, "insurance_cards",
                        "INSERT INTO insurance_cards VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", seed,
                        0x6361726473ULL, s_insert_card, done, err, errlen);
}

/* ---- vaccinations (VN/GOV/BYT) -------------------------------------- */

const char *const LT_POPGEN_VACCINATIONS_SQL =
    "CREATE TABLE IF NOT EXISTS vaccinations ("
    "personal_id TEXT PRIMARY KEY NOT NULL, vaccine TEXT NOT NULL, doses INTEGER NOT NULL, "
    "first_dose_date TEXT, last_dose_date TEXT, facility TEXT, facility_province TEXT)";

typedef struct {
    const char *name;
    uint32_t weight;
    int sex;                 /* 0 any, 2 women only */
    int min_age, max_age;    /* age at the first dose, years */
    int y, m, d;             /* when the programme started */
    unsigned max_doses, gap; /* doses and the least days between two */
} s_vaccine_t;

/* Programme vaccines relevant to public services (schools, work abroad). */
static const s_vaccine_t s_vaccines[] = {
    {"COVID-19", 700, 0, 12, 120, 2021, 3, 8, 4, 28}, {"HepB", 100, 0, 18, 120, 2010, 1, 1, 3, 30},
    {"Td", 80, 2, 15, 45, 2010, 1, 1, 3, 30},         {"HPV", 60, 2, 9, 26, 2019, 1, 1, 2, 180},
    {"MR", 60, 0, 1, 14, 2014, 6, 1, 2, 30},
};

/* Draws the vaccine and the first dose's day; 0 when none fits. */
static const s_vaccine_t *s_vaccine(s_rng_t *r, const s_holder_t *h, int64_t *first)
{
    int64_t born = s_parse_iso(h->date_of_birth);
    for (int attempt = 0; attempt < 8; attempt++) {
        uint32_t x = s_below(r, 1000);
        const s_vaccine_t *v = &s_vaccines[0];
        for (size_t i = 0; i < N_OF(s_vaccines); i++, x -= v->weight)
            if (x < (v = &s_vaccines[i])->weight)
                break;
        if (v->sex && v->sex != h->sex)
            continue;
        int64_t lo = born + v->min_age * 365 + 1, hi = born + v->max_age * 365;
        int64_t start = s_days(v->y, v->m, v->d);
        lo = lo > start ? lo : start;
        hi = hi < S_EXTRACT_DAY ? hi : S_EXTRACT_DAY;
        if (lo <= hi) {
            *first = s_day_between(r, lo, hi);
            return v;
        }
    }
    return NULL;
}

/* A facility in the province (the commune's health station or the
 * district's centre). */
static void s_facility(s_rng_t *r, const char *province, char *out, size_t cap)
{
    const s_province_t *p = s_province_by_code(province);
    if (s_chance(r, 700))
        snprintf(out, cap, "Trạm Y tế xã %s, %s", PICK(r, s_communes), s_pname(p));
    else
        snprintf(out, cap, "Trung tâm Y tế huyện %s, %s", PICK(r, s_communes), s_pname(p));
}

static int s_insert_vaccination(s_reggen_t *g, const s_holder_t *h, void *arg)
{
    lt_popgen_vaccinations_t *done = arg;
    int64_t first, last;
    if (!s_chance(&g->r, 550))
        return 0;
    const s_vaccine_t *v = s_vaccine(&g->r, h, &first);
    if (!v)
        return 0;
    unsigned doses = 1 + s_below(&g->r, v->max_doses);
    last = first;
    for (unsigned i = 1; i < doses; i++) {
        int64_t next = last + v->gap + s_below(&g->r, 3 * v->gap);
        if (next > S_EXTRACT_DAY) {
            doses = i;
            break;
        }
        last = next;
    }
    const char *fprov = s_chance(&g->r, 900) ? h->current_province : s_province(&g->r)->code;
    char d1[11], d2[11], facility[160];
    s_iso(first, d1);
    s_iso(last, d2);
    s_facility(&g->r, fprov, facility, sizeof facility);
    const char *text[] = {h->personal_id, v->name, NULL, d1, d2, facility, fprov};
    int rc = s_bind_texts(g->insert, text, (int)N_OF(text)) == 0 &&
                     sqlite3_bind_int(g->insert, 3, (int)doses) == SQLITE_OK
                 ? sqlite3_step(g->insert)
                 : SQLITE_ERROR;
    sqlite3_reset(g->insert);
    if (rc != SQLITE_DONE)
        return -1;
    done->records++;
    done->in_38 += strcmp(fprov, "38") == 0;
    return 0;
}

int lt_popgen_vaccinations(const char *db_path, const char *population_path, uint64_t seed,
                           lt_popgen_vaccinations_t *done, char *err, size_t errlen)
{
    memset(done, 0, sizeof *done);
    return s_reggen_run(db_path, population_path, LT_POPGEN_VACCINATIONS_SQL, "vaccinations",
                        "INSERT INTO vaccinations VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", seed,
                        0x766163636e73ULL, s_insert_vaccination, done, err, errlen);
}

/* ---- changes to the other owners' registers ------------------------- */

/* Newest day a change may date an event: after the extraction, still in
 * the past. */
#define S_CHANGE_LAST_DAY s_days(2025, 12, 31)

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *pick, *update, *drop;
    int64_t max_rowid;
    s_rng_t r;
} s_regchg_t;

static int s_regchg_open(s_regchg_t *c, const char *db_path, const char *table, const char *columns,
                         const char *update_sql, uint64_t seed, uint64_t salt, char *err,
                         size_t errlen)
{
    char sql[512];
    int64_t rows = 0;
    c->db = lt_db_sqlite_open(db_path, 1, err, errlen);
    if (!c->db)
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
             "name = '%s'",
             table);
    if (s_count(c->db, sql, &rows, err, errlen))
        return -1;
    if (rows == 0) {
        lt_err_set(err, errlen, "%s has no table %s: generate it first (popgen --%s)", db_path,
                   table, strcmp(table, "vaccinations") ? "insurance-cards" : "vaccinations");
        return -1;
    }
    snprintf(sql, sizeof sql, "SELECT COALESCE(MAX(rowid), 0) FROM %s", table);
    if (s_count(c->db, sql, &c->max_rowid, err, errlen))
        return -1;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
    if (s_count(c->db, sql, &rows, err, errlen))
        return -1;
    if (rows == 0) {
        lt_err_set(err, errlen, "%s has no %s to change", db_path, table);
        return -1;
    }
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE rowid >= ?1 ORDER BY rowid LIMIT 1", columns,
             table);
    if (lt_db_sqlite_prepare(c->db, sql, &c->pick, err, errlen) ||
        lt_db_sqlite_prepare(c->db, update_sql, &c->update, err, errlen))
        return -1;
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE personal_id = ?1", table);
    if (lt_db_sqlite_prepare(c->db, sql, &c->drop, err, errlen))
        return -1;
    /* The state mixes into the stream, so repeated runs differ. */
    s_seed(&c->r, seed, salt ^ ((uint64_t)c->max_rowid << 32) ^ (uint64_t)rows);
    return 0;
}

static void s_regchg_close(s_regchg_t *c)
{
    sqlite3_finalize(c->pick);
    sqlite3_finalize(c->update);
    sqlite3_finalize(c->drop);
    sqlite3_close(c->db);
}

/* Steps the picker at a random row (wrapping round); 1 row, 0 none, -1. */
static int s_regchg_pick(s_regchg_t *c)
{
    int64_t from = 1 + (int64_t)s_below(&c->r, (uint32_t)(c->max_rowid > 0 ? c->max_rowid : 1));
    int rc = SQLITE_DONE;
    for (int pass = 0; pass < 2 && rc == SQLITE_DONE; pass++, from = 1) {
        sqlite3_reset(c->pick);
        if (sqlite3_bind_int64(c->pick, 1, from) != SQLITE_OK)
            return -1;
        rc = sqlite3_step(c->pick);
    }
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int s_regchg_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int s_regchg_delete(s_regchg_t *c, const char *id)
{
    return sqlite3_bind_text(c->drop, 1, id, -1, SQLITE_TRANSIENT) == SQLITE_OK
               ? s_regchg_step(c->drop)
               : -1;
}

/* Runs n changes in transactions of 500; change() returns 0 or -1. */
static int s_regchg_loop(s_regchg_t *c, uint64_t n, int (*change)(s_regchg_t *, void *), void *done,
                         char *err, size_t errlen)
{
    for (uint64_t i = 0; i < n;) {
        if (lt_db_sqlite_exec(c->db, "BEGIN IMMEDIATE", "cannot begin", err, errlen))
            return -1;
        uint64_t end = i + 500 < n ? i + 500 : n;
        for (; i < end; i++) {
            int r = s_regchg_pick(c);
            if (r <= 0 || change(c, done)) {
                lt_err_set(err, errlen, "%s",
                           r == 0 ? "no row left to change" : sqlite3_errmsg(c->db));
                sqlite3_reset(c->pick);
                s_rollback(c->db);
                return -1;
            }
        }
        sqlite3_reset(c->pick);
        if (lt_db_sqlite_exec(c->db, "COMMIT", "cannot commit", err, errlen))
            return -1;
    }
    return 0;
}

/* One change to the card under the picker: renewals 50%, moves of the
 * registered hospital 20%, suspensions and reinstatements 20% (a suspended
 * card leaves a view of valid cards), cancellations 10%. */
static int s_card_change(s_regchg_t *c, void *arg)
{
    lt_popgen_card_changes_t *done = arg;
    char id[16], from_s[11], to_s[11], hcode[8], hname[160];
    s_copy(id, sizeof id, sqlite3_column_text(c->pick, 0));
    s_copy(from_s, sizeof from_s, sqlite3_column_text(c->pick, 1));
    s_copy(to_s, sizeof to_s, sqlite3_column_text(c->pick, 2));
    s_copy(hcode, sizeof hcode, sqlite3_column_text(c->pick, 3));
    s_copy(hname, sizeof hname, sqlite3_column_text(c->pick, 4));
    int status = sqlite3_column_int(c->pick, 5);
    sqlite3_reset(c->pick);
    uint32_t x = s_below(&c->r, 10);
    int64_t to = s_parse_iso(to_s);
    if (x == 9) {
        done->cancellations++;
        return s_regchg_delete(c, id);
    }
    if (x >= 7 && status != CARD_EXPIRED) {
        status = status == CARD_SUSPENDED ? CARD_VALID : CARD_SUSPENDED;
        done->suspensions += status == CARD_SUSPENDED;
        done->reinstatements += status == CARD_VALID;
    } else if (x < 5 && status == CARD_EXPIRED) {
        int64_t f = s_day_between(&c->r, s_days(2025, 1, 1), S_CHANGE_LAST_DAY);
        s_iso(f, from_s), s_iso(f + 364, to_s), status = CARD_VALID;
        done->renewals++;
    } else if (x < 5 && status == CARD_VALID && to < S_CHANGE_LAST_DAY) {
        s_iso(to + 1, from_s), s_iso(to + 365, to_s);
        done->renewals++;
    } else {
        char province[3];
        snprintf(province, sizeof province, "%.2s",
                 s_chance(&c->r, 800) ? hcode : s_province(&c->r)->code);
        s_hospital(&c->r, province, hcode, hname, sizeof hname);
        done->hospital_moves++;
    }
    const char *text[] = {id, from_s, to_s, hcode, hname};
    return s_bind_texts(c->update, text, (int)N_OF(text)) == 0 &&
                   sqlite3_bind_int(c->update, 6, status) == SQLITE_OK
               ? s_regchg_step(c->update)
               : -1;
}

int lt_popgen_card_changes(const char *db_path, uint64_t n, uint64_t seed,
                           lt_popgen_card_changes_t *done, char *err, size_t errlen)
{
    s_regchg_t c;
    memset(&c, 0, sizeof c);
    memset(done, 0, sizeof *done);
    int rc = -1;
    if (s_regchg_open(&c, db_path, "insurance_cards",
                      "personal_id, valid_from, valid_to, hospital_code, hospital_name, status",
                      "UPDATE insurance_cards SET valid_from = ?2, valid_to = ?3, "
                      "hospital_code = ?4, hospital_name = ?5, status = ?6 WHERE personal_id = ?1",
                      seed, 0x6361726463686cULL, err, errlen) == 0)
        rc = s_regchg_loop(&c, n, s_card_change, done, err, errlen);
    s_regchg_close(&c);
    return rc;
}

/* A facility province for a correction: 30% of those outside Thanh Hoa
 * (38) move into it, those in it move out, so its view sees both. */
static const char *s_moved_province(s_rng_t *r, const char *from)
{
    if (strcmp(from, "38") != 0 && s_chance(r, 300))
        return "38";
    return s_province_other(r, from)->code;
}

/* One change to the vaccination under the picker: a further dose 60%
 * (sometimes at another facility), a corrected facility 30% (moving the
 * record into or out of a province's view), a withdrawn record 10%. A
 * record that has all the programme's doses gets a corrected facility. */
static int s_vaccination_change(s_regchg_t *c, void *arg)
{
    lt_popgen_vaccination_changes_t *done = arg;
    char id[16], last_s[11], facility[160], fprov[3];
    s_copy(id, sizeof id, sqlite3_column_text(c->pick, 0));
    int doses = sqlite3_column_int(c->pick, 1);
    s_copy(last_s, sizeof last_s, sqlite3_column_text(c->pick, 2));
    s_copy(facility, sizeof facility, sqlite3_column_text(c->pick, 3));
    s_copy(fprov, sizeof fprov, sqlite3_column_text(c->pick, 4));
    const unsigned char *vaccine = sqlite3_column_text(c->pick, 5);
    unsigned max_doses = 1;
    for (size_t i = 0; i < N_OF(s_vaccines); i++)
        if (vaccine && strcmp((const char *)vaccine, s_vaccines[i].name) == 0)
            max_doses = s_vaccines[i].max_doses;
    sqlite3_reset(c->pick);
    uint32_t x = s_below(&c->r, 10);
    if (x == 9) {
        done->withdrawals++;
        return s_regchg_delete(c, id);
    }
    const char *to = fprov;
    if (x < 6 && (unsigned)doses < max_doses) {
        int64_t last = s_parse_iso(last_s) + 28 + s_below(&c->r, 150);
        s_iso(last < S_CHANGE_LAST_DAY ? last : S_CHANGE_LAST_DAY, last_s);
        doses++;
        done->doses++;
        if (s_chance(&c->r, 800))
            goto write;
    } else
        done->facility_fixes++;
    to = s_moved_province(&c->r, fprov);
    done->into_38 += strcmp(to, "38") == 0;
    done->out_of_38 += strcmp(fprov, "38") == 0;
    s_facility(&c->r, to, facility, sizeof facility);
write:;
    const char *text[] = {id, NULL, last_s, facility, to};
    return s_bind_texts(c->update, text, (int)N_OF(text)) == 0 &&
                   sqlite3_bind_int(c->update, 2, doses) == SQLITE_OK
               ? s_regchg_step(c->update)
               : -1;
}

int lt_popgen_vaccination_changes(const char *db_path, uint64_t n, uint64_t seed,
                                  lt_popgen_vaccination_changes_t *done, char *err, size_t errlen)
{
    s_regchg_t c;
    memset(&c, 0, sizeof c);
    memset(done, 0, sizeof *done);
    int rc = -1;
    if (s_regchg_open(&c, db_path, "vaccinations",
                      "personal_id, doses, last_dose_date, facility, facility_province, vaccine",
                      "UPDATE vaccinations SET doses = ?2, last_dose_date = ?3, facility = ?4, "
                      "facility_province = ?5 WHERE personal_id = ?1",
                      seed, 0x76616363686cULL, err, errlen) == 0)
        rc = s_regchg_loop(&c, n, s_vaccination_change, done, err, errlen);
    s_regchg_close(&c);
    return rc;
}
