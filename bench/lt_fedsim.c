/* lt_fedsim: provinces, a deterministic citizen generator, read-only
 * store checks and the shared figures of the federation simulation. See
 * lt_fedsim.h. */
#include "lt_fedsim.h"
#include "lt_err.h"
#include "lienthong.pb-c.h"
#include "records/population.pb-c.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_OF(a)             (sizeof(a) / sizeof((a)[0]))
#define SEQ_BITS            40
#define LOG_ID(stream, seq) (((int64_t)(stream) << SEQ_BITS) | (int64_t)(seq))

/* Codes, names and weights as in adapters/lt_popgen.c. */
const lt_fedsim_province_t lt_fedsim_provinces[LT_FEDSIM_PROVINCES] = {
    {"01", "Hà Nội", 8054, 1},
    {"02", "Hà Giang", 855, 0},
    {"04", "Cao Bằng", 531, 0},
    {"06", "Bắc Kạn", 314, 0},
    {"08", "Tuyên Quang", 785, 0},
    {"10", "Lào Cai", 731, 0},
    {"11", "Điện Biên", 599, 0},
    {"12", "Lai Châu", 461, 0},
    {"14", "Sơn La", 1249, 0},
    {"15", "Yên Bái", 822, 0},
    {"17", "Hòa Bình", 855, 0},
    {"19", "Thái Nguyên", 1287, 0},
    {"20", "Lạng Sơn", 782, 0},
    {"22", "Quảng Ninh", 1321, 0},
    {"24", "Bắc Giang", 1804, 0},
    {"25", "Phú Thọ", 1464, 0},
    {"26", "Vĩnh Phúc", 1152, 0},
    {"27", "Bắc Ninh", 1369, 0},
    {"30", "Hải Dương", 1893, 0},
    {"31", "Hải Phòng", 2029, 1},
    {"33", "Hưng Yên", 1253, 0},
    {"34", "Thái Bình", 1861, 0},
    {"35", "Hà Nam", 853, 0},
    {"36", "Nam Định", 1781, 0},
    {"37", "Ninh Bình", 983, 0},
    {"38", "Thanh Hóa", 3641, 0},
    {"40", "Nghệ An", 3328, 0},
    {"42", "Hà Tĩnh", 1289, 0},
    {"44", "Quảng Bình", 896, 0},
    {"45", "Quảng Trị", 633, 0},
    {"46", "Thừa Thiên Huế", 1129, 0},
    {"48", "Đà Nẵng", 1135, 1},
    {"49", "Quảng Nam", 1496, 0},
    {"51", "Quảng Ngãi", 1232, 0},
    {"52", "Bình Định", 1487, 0},
    {"54", "Phú Yên", 873, 0},
    {"56", "Khánh Hòa", 1232, 0},
    {"58", "Ninh Thuận", 591, 0},
    {"60", "Bình Thuận", 1231, 0},
    {"62", "Kon Tum", 541, 0},
    {"64", "Gia Lai", 1514, 0},
    {"66", "Đắk Lắk", 1870, 0},
    {"67", "Đắk Nông", 623, 0},
    {"68", "Lâm Đồng", 1297, 0},
    {"70", "Bình Phước", 995, 0},
    {"72", "Tây Ninh", 1170, 0},
    {"74", "Bình Dương", 2427, 0},
    {"75", "Đồng Nai", 3097, 0},
    {"77", "Bà Rịa - Vũng Tàu", 1149, 0},
    {"79", "TP Hồ Chí Minh", 8993, 1},
    {"80", "Long An", 1689, 0},
    {"82", "Tiền Giang", 1765, 0},
    {"83", "Bến Tre", 1289, 0},
    {"84", "Trà Vinh", 1010, 0},
    {"86", "Vĩnh Long", 1023, 0},
    {"87", "Đồng Tháp", 1600, 0},
    {"89", "An Giang", 1908, 0},
    {"91", "Kiên Giang", 1724, 0},
    {"92", "Cần Thơ", 1236, 1},
    {"93", "Hậu Giang", 734, 0},
    {"94", "Sóc Trăng", 1200, 0},
    {"95", "Bạc Liêu", 908, 0},
    {"96", "Cà Mau", 1194, 0},
};

/* ---- random ------------------------------------------------------------- */

uint64_t lt_fedsim_rng_next(lt_fedsim_rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void lt_fedsim_rng_seed(lt_fedsim_rng_t *r, uint64_t seed, uint64_t salt)
{
    r->s = seed ^ (salt * 0xd1342543de82ef95ULL);
    (void)lt_fedsim_rng_next(r);
}

uint32_t lt_fedsim_rng_below(lt_fedsim_rng_t *r, uint32_t n)
{
    return (uint32_t)(((lt_fedsim_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

int lt_fedsim_rng_province(lt_fedsim_rng_t *r)
{
    static uint32_t total;
    if (!total)
        for (int i = 0; i < LT_FEDSIM_PROVINCES; i++)
            total += lt_fedsim_provinces[i].people;
    uint32_t x = lt_fedsim_rng_below(r, total);
    for (int i = 0; i < LT_FEDSIM_PROVINCES; i++) {
        if (x < lt_fedsim_provinces[i].people)
            return i;
        x -= lt_fedsim_provinces[i].people;
    }
    return LT_FEDSIM_PROVINCES - 1;
}

/* ---- citizens -------------------------------------------------------------- */

typedef struct {
    const char *text;
    uint32_t weight;
} weighted_t;

static const char *s_pick_w(lt_fedsim_rng_t *r, const weighted_t *w, size_t n)
{
    uint32_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i].weight;
    uint32_t x = lt_fedsim_rng_below(r, total);
    for (size_t i = 0; i < n; i++) {
        if (x < w[i].weight)
            return w[i].text;
        x -= w[i].weight;
    }
    return w[n - 1].text;
}

#define PICK(r, list) (list)[lt_fedsim_rng_below((r), (uint32_t)N_OF(list))]

static const weighted_t s_family[] = {
    {"Nguyễn", 380}, {"Trần", 110}, {"Lê", 95},    {"Phạm", 70}, {"Phan", 45},  {"Hoàng", 30},
    {"Huỳnh", 21},   {"Đặng", 21},  {"Vũ", 20},    {"Bùi", 20},  {"Võ", 19},    {"Đỗ", 14},
    {"Hồ", 13},      {"Ngô", 13},   {"Dương", 10}, {"Đinh", 8},  {"Trương", 8}, {"Lý", 5},
};
static const weighted_t s_middle[2][6] = {
    {{"Văn", 40}, {"Đức", 10}, {"Minh", 10}, {"Hữu", 8}, {"Quang", 6}, {"Quốc", 6}},
    {{"Thị", 50}, {"Ngọc", 8}, {"Thanh", 6}, {"Thu", 6}, {"Minh", 4}, {"Hồng", 4}},
};
static const char *const s_given[2][24] = {
    {"An",    "Bình", "Cường", "Dũng",  "Dương", "Đạt",   "Hải",  "Hiếu",
     "Hùng",  "Huy",  "Khoa",  "Khánh", "Long",  "Minh",  "Nam",  "Nghĩa",
     "Phong", "Phúc", "Quân",  "Sơn",   "Thắng", "Thành", "Tuấn", "Việt"},
    {"Anh",   "Châu",  "Chi",    "Dung",  "Giang", "Hà",    "Hạnh", "Hằng",
     "Hoa",   "Hương", "Lan",    "Linh",  "Mai",   "My",    "Nga",  "Ngân",
     "Nhung", "Oanh",  "Phương", "Quyên", "Thảo",  "Trang", "Vân",  "Yến"},
};
static const weighted_t s_ethnicity[] = {{"Kinh", 853}, {"Tày", 19}, {"Thái", 18}, {"Mường", 15},
                                         {"Khmer", 13}, {"Hoa", 8},  {"Nùng", 11}, {"H'Mông", 13}};
static const char *const s_streets[] = {
    "Lê Lợi",     "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng",  "Lý Thường Kiệt", "Quang Trung",
    "Hùng Vương", "Điện Biên Phủ", "Nguyễn Du",   "Lê Duẩn",       "Phan Chu Trinh", "Bà Triệu",
    "Trần Phú",   "Ngô Quyền",     "Nguyễn Huệ",  "Lê Thánh Tông",
};
static const char *const s_wards[] = {"Điện Biên",  "Ba Đình",   "Tân Định",  "Bến Nghé",
                                      "Hòa Bình",   "Tân Phong", "An Phú",    "Quang Trung",
                                      "Trường Thi", "Đông Thọ",  "Minh Khai", "Phú Sơn"};
static const char *const s_districts[] = {"Hoằng Hóa", "Tĩnh Gia",  "Yên Định",   "Thọ Xuân",
                                          "Quỳnh Lưu", "Diễn Châu", "Gia Lâm",    "Đông Anh",
                                          "Củ Chi",    "Hóc Môn",   "Bình Chánh", "Thủ Đức"};

static int s_birth_province(uint64_t seed, uint64_t i)
{
    lt_fedsim_rng_t r;
    lt_fedsim_rng_seed(&r, seed, 0x62697274680000ULL ^ i);
    return lt_fedsim_rng_province(&r);
}

int lt_fedsim_home(uint64_t seed, uint64_t i)
{
    lt_fedsim_rng_t r;
    lt_fedsim_rng_seed(&r, seed, 0x686f6d650000ULL ^ i);
    /* Four in five live in their birth province. */
    return lt_fedsim_rng_below(&r, 5) ? s_birth_province(seed, i) : lt_fedsim_rng_province(&r);
}

static void s_address(char *out, size_t cap, uint64_t salt, int province)
{
    lt_fedsim_rng_t r;
    lt_fedsim_rng_seed(&r, salt, 0x61646472ULL);
    snprintf(out, cap, "Số %u/%u %s, P. %s, %s", 1 + lt_fedsim_rng_below(&r, 400),
             1 + lt_fedsim_rng_below(&r, 90), PICK(&r, s_streets), PICK(&r, s_wards),
             lt_fedsim_provinces[province].name);
}

void lt_fedsim_person(uint64_t seed, uint64_t i, int province, uint32_t version, int status,
                      lt_fedsim_person_t *p)
{
    memset(p, 0, sizeof *p);
    lt_fedsim_rng_t r;
    lt_fedsim_rng_seed(&r, seed, 0x706572736f6e0000ULL ^ i);
    int female = (int)lt_fedsim_rng_below(&r, 2);
    int year = 1940 + (int)lt_fedsim_rng_below(&r, 66);
    int birth = s_birth_province(seed, i);
    const lt_fedsim_province_t *bp = &lt_fedsim_provinces[birth];
    /* 0PP C YY NNNNNN: birth province, century and sex, year, serial. */
    snprintf(p->personal_id, sizeof p->personal_id, "0%s%d%02d%06u", bp->code,
             (year >= 2000 ? 2 : 0) + female, year % 100, (unsigned)(i % 1000000));
    const char *family = s_pick_w(&r, s_family, N_OF(s_family));
    const char *middle = s_pick_w(&r, s_middle[female], N_OF(s_middle[female]));
    snprintf(p->full_name, sizeof p->full_name, "%s %s %s", family, middle,
             PICK(&r, s_given[female]));
    snprintf(p->date_of_birth, sizeof p->date_of_birth, "%04d-%02u-%02u", year % 10000,
             (unsigned)(1 + lt_fedsim_rng_below(&r, 12)) % 100u,
             (unsigned)(1 + lt_fedsim_rng_below(&r, 28)) % 100u);
    p->sex = female ? LIENTHONG__RECORDS__SEX__SEX_FEMALE : LIENTHONG__RECORDS__SEX__SEX_MALE;
    snprintf(p->place_of_birth, sizeof p->place_of_birth, "%s", bp->name);
    snprintf(p->home_town, sizeof p->home_town, "%s, %s", PICK(&r, s_districts), bp->name);
    p->ethnicity = s_pick_w(&r, s_ethnicity, N_OF(s_ethnicity));
    p->permanent_province = bp->code;
    s_address(p->permanent_address, sizeof p->permanent_address, seed ^ (i * 0x9e37ULL), birth);
    snprintf(p->id_card_issued, sizeof p->id_card_issued, "20%02u-%02u-%02u",
             16 + lt_fedsim_rng_below(&r, 9), 1 + lt_fedsim_rng_below(&r, 12),
             1 + lt_fedsim_rng_below(&r, 28));
    p->current_province = lt_fedsim_provinces[province].code;
    if (province == birth && version == 0)
        memcpy(p->current_address, p->permanent_address, sizeof p->current_address);
    else
        s_address(p->current_address, sizeof p->current_address,
                  seed ^ (i * 0x9e37ULL) ^ ((uint64_t)version << 40) ^ ((uint64_t)province << 32),
                  province);
    p->status = status;
    if (status == LT_FEDSIM_DECEASED)
        snprintf(p->date_of_death, sizeof p->date_of_death, "2025-%02u-%02u", 1 + version % 12,
                 1 + version % 28);
}

size_t lt_fedsim_pack(const lt_fedsim_person_t *p, uint8_t *out, size_t cap)
{
    Lienthong__Records__Population m = LIENTHONG__RECORDS__POPULATION__INIT;
    m.personal_id = (char *)p->personal_id;
    m.full_name = (char *)p->full_name;
    m.date_of_birth = (char *)p->date_of_birth;
    m.sex = (Lienthong__Records__Sex)p->sex;
    m.place_of_birth = (char *)p->place_of_birth;
    m.home_town = (char *)p->home_town;
    m.ethnicity = (char *)p->ethnicity;
    m.nationality = "VN";
    m.permanent_province = (char *)p->permanent_province;
    m.permanent_address = (char *)p->permanent_address;
    m.current_province = (char *)p->current_province;
    m.current_address = (char *)p->current_address;
    m.id_card_number = (char *)p->personal_id;
    m.id_card_issued = (char *)p->id_card_issued;
    m.status = (Lienthong__Records__CitizenStatus)p->status;
    m.date_of_death = (char *)p->date_of_death;
    size_t n = lienthong__records__population__get_packed_size(&m);
    if (n > cap)
        return 0;
    lienthong__records__population__pack(&m, out);
    return n;
}

long lt_fedsim_index(const char *id)
{
    if (!id || strlen(id) != 12)
        return -1;
    char *end;
    long v = strtol(id + 6, &end, 10);
    return *end ? -1 : v;
}

/* ---- store checks ------------------------------------------------------------ */

void *lt_fedsim_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

void lt_fedsim_close(void *db)
{
    sqlite3_close(db);
}

int64_t lt_fedsim_changed_at(void *db, int64_t stream_id, uint64_t seq)
{
    sqlite3_stmt *st = NULL;
    int64_t at = -1;
    if (sqlite3_prepare_v2(db, "SELECT record FROM log WHERE id = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, LOG_ID(stream_id, seq));
        if (sqlite3_step(st) == SQLITE_ROW) {
            Lienthong__Record *r = lienthong__record__unpack(
                NULL, (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 0));
            if (r)
                at = r->changed_at_ms;
            lienthong__record__free_unpacked(r, NULL);
        }
    }
    sqlite3_finalize(st);
    return at;
}

int lt_fedsim_stream(void *db, const char *name, int64_t *id, uint64_t *last)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT id, last_seq FROM streams WHERE name = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *id = sqlite3_column_int64(st, 0);
            *last = (uint64_t)sqlite3_column_int64(st, 1);
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static sqlite3_stmt *s_prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Walks the log of both sides in step. */
static int s_compare_log(sqlite3 *a, int64_t ida, sqlite3 *b, int64_t idb, uint64_t last,
                         lt_fedsim_cmp_t *out, char *err, size_t errlen)
{
    const char *sql = "SELECT id, record FROM log WHERE id > ?1 AND id < ?2 ORDER BY id";
    sqlite3_stmt *sa = s_prep(a, sql), *sb = s_prep(b, sql);
    int rc = -1;
    if (!sa || !sb) {
        lt_err_set(err, errlen, "cannot read the log: %s", sqlite3_errmsg(sa ? b : a));
        goto out;
    }
    /* The whole key range of the stream: records past last_seq are an error too. */
    sqlite3_bind_int64(sa, 1, LOG_ID(ida, 0));
    sqlite3_bind_int64(sa, 2, LOG_ID(ida + 1, 0));
    sqlite3_bind_int64(sb, 1, LOG_ID(idb, 0));
    sqlite3_bind_int64(sb, 2, LOG_ID(idb + 1, 0));
    uint64_t expect = 1;
    for (;;) {
        int ra = sqlite3_step(sa), rb = sqlite3_step(sb);
        if (ra == SQLITE_DONE && rb == SQLITE_DONE)
            break;
        if ((ra != SQLITE_ROW && ra != SQLITE_DONE) || (rb != SQLITE_ROW && rb != SQLITE_DONE)) {
            lt_err_set(err, errlen, "log read failed at seq %llu", (unsigned long long)expect);
            goto out;
        }
        if (ra != rb) {
            lt_err_set(err, errlen, "the %s log ends at seq %llu, the other goes on",
                       ra == SQLITE_DONE ? "owner's" : "replica's",
                       (unsigned long long)(expect - 1));
            goto out;
        }
        uint64_t qa = (uint64_t)(sqlite3_column_int64(sa, 0) & ((1LL << SEQ_BITS) - 1));
        uint64_t qb = (uint64_t)(sqlite3_column_int64(sb, 0) & ((1LL << SEQ_BITS) - 1));
        if (qa != expect || qb != expect) {
            lt_err_set(err, errlen,
                       "log has seq %llu (owner) / %llu (replica) where %llu was expected",
                       (unsigned long long)qa, (unsigned long long)qb, (unsigned long long)expect);
            goto out;
        }
        int la = sqlite3_column_bytes(sa, 1), lb = sqlite3_column_bytes(sb, 1);
        const void *ba = sqlite3_column_blob(sa, 1), *bb = sqlite3_column_blob(sb, 1);
        if (la != lb || (la && memcmp(ba, bb, (size_t)la) != 0)) {
            lt_err_set(err, errlen,
                       "record %llu differs (%d bytes at the owner, %d at the replica)",
                       (unsigned long long)expect, la, lb);
            goto out;
        }
        Lienthong__Record *r = lienthong__record__unpack(NULL, (size_t)la, ba);
        if (!r) {
            lt_err_set(err, errlen, "record %llu is not a Record", (unsigned long long)expect);
            goto out;
        }
        out->tombstones += r->deleted;
        lienthong__record__free_unpacked(r, NULL);
        out->records++;
        expect++;
    }
    if (expect - 1 != last) {
        lt_err_set(err, errlen, "log holds %llu records but last_seq is %llu",
                   (unsigned long long)(expect - 1), (unsigned long long)last);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(sa);
    sqlite3_finalize(sb);
    return rc;
}

static int s_compare_state(sqlite3 *a, int64_t ida, sqlite3 *b, int64_t idb, lt_fedsim_cmp_t *out,
                           char *err, size_t errlen)
{
    const char *sql = "SELECT key, seq, deleted FROM state WHERE stream = ?1 ORDER BY key";
    sqlite3_stmt *sa = s_prep(a, sql), *sb = s_prep(b, sql);
    int rc = -1;
    if (!sa || !sb) {
        lt_err_set(err, errlen, "cannot read the state");
        goto out;
    }
    sqlite3_bind_int64(sa, 1, ida);
    sqlite3_bind_int64(sb, 1, idb);
    for (;;) {
        int ra = sqlite3_step(sa), rb = sqlite3_step(sb);
        if (ra == SQLITE_DONE && rb == SQLITE_DONE)
            break;
        if (ra != SQLITE_ROW || rb != SQLITE_ROW) {
            lt_err_set(err, errlen, "state: %s after %llu equal rows",
                       ra == rb           ? "read failed"
                       : ra == SQLITE_ROW ? "replica has fewer rows"
                                          : "replica has more rows",
                       (unsigned long long)out->state_rows);
            goto out;
        }
        const char *ka = (const char *)sqlite3_column_text(sa, 0);
        const char *kb = (const char *)sqlite3_column_text(sb, 0);
        int64_t qa = sqlite3_column_int64(sa, 1), qb = sqlite3_column_int64(sb, 1);
        int da = sqlite3_column_int(sa, 2), db = sqlite3_column_int(sb, 2);
        if (!ka || !kb || strcmp(ka, kb) != 0 || qa != qb || da != db) {
            lt_err_set(err, errlen, "state: owner has %s@%lld%s, replica %s@%lld%s", ka ? ka : "?",
                       (long long)qa, da ? " (deleted)" : "", kb ? kb : "?", (long long)qb,
                       db ? " (deleted)" : "");
            goto out;
        }
        out->state_rows++;
        out->live += !da;
    }
    rc = 0;
out:
    sqlite3_finalize(sa);
    sqlite3_finalize(sb);
    return rc;
}

int lt_fedsim_compare(const char *owner_db, const char *replica_db, const char *name,
                      lt_fedsim_cmp_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    sqlite3 *a = lt_fedsim_open(owner_db), *b = lt_fedsim_open(replica_db);
    int64_t ida, idb;
    uint64_t la, lb;
    int rc = -1;
    if (!a || !b)
        lt_err_set(err, errlen, "cannot open %s", a ? replica_db : owner_db);
    else if (lt_fedsim_stream(a, name, &ida, &la) != 0 || lt_fedsim_stream(b, name, &idb, &lb) != 0)
        lt_err_set(err, errlen, "%s: stream missing from the %s store", name,
                   lt_fedsim_stream(a, name, &ida, &la) != 0 ? "owner's" : "replica's");
    else if (la != lb)
        lt_err_set(err, errlen, "%s: last_seq %llu at the owner, %llu at the replica", name,
                   (unsigned long long)la, (unsigned long long)lb);
    else if (s_compare_log(a, ida, b, idb, la, out, err, errlen) == 0 &&
             s_compare_state(a, ida, b, idb, out, err, errlen) == 0) {
        out->last_seq = la;
        rc = 0;
    }
    lt_fedsim_close(a);
    lt_fedsim_close(b);
    return rc;
}

/* Checks one live view row against the model; NULL when it agrees. */
static const char *s_check_row(const lt_fedsim_model_t *m, int p, const char *key,
                               const Lienthong__Records__Population *v)
{
    long i = lt_fedsim_index(key);
    if (i < 0 || (size_t)i >= m->n)
        return "key is not a citizen of the model";
    if (m->province[i] != p)
        return "the model has the citizen in another province";
    lt_fedsim_person_t e;
    lt_fedsim_person(m->seed, (uint64_t)i, p, m->version[i], m->status[i], &e);
    if (strcmp(v->personal_id, e.personal_id) != 0 || strcmp(key, e.personal_id) != 0)
        return "personal_id differs";
    if (strcmp(v->full_name, e.full_name) != 0)
        return "full_name differs";
    if (strcmp(v->date_of_birth, e.date_of_birth) != 0 || (int)v->sex != e.sex)
        return "date_of_birth or sex differs";
    if (strcmp(v->current_province, e.current_province) != 0)
        return "current_province differs";
    if (strcmp(v->current_address, e.current_address) != 0)
        return "current_address differs (an older version?)";
    if ((int)v->status != e.status)
        return "status differs";
    if (v->place_of_birth[0] || v->home_town[0] || v->ethnicity[0] || v->nationality[0] ||
        v->permanent_province[0] || v->permanent_address[0] || v->id_card_number[0] ||
        v->id_card_issued[0] || v->date_of_death[0])
        return "a field outside the view was replicated";
    return NULL;
}

int lt_fedsim_check_view(const char *path, const char *name, int p, const lt_fedsim_model_t *m,
                         uint64_t *live, char *err, size_t errlen)
{
    *live = 0;
    sqlite3 *db = lt_fedsim_open(path);
    int64_t id;
    uint64_t last;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (!db || lt_fedsim_stream(db, name, &id, &last) != 0) {
        lt_err_set(err, errlen, "%s: cannot open the stream in %s", name, path);
        goto out;
    }
    st = s_prep(db,
                "SELECT s.key, l.record FROM state s JOIN log l ON l.id = (s.stream << 40) | s.seq "
                "WHERE s.stream = ?1 AND s.deleted = 0");
    if (!st) {
        lt_err_set(err, errlen, "%s: cannot read the state: %s", name, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        Lienthong__Record *r = lienthong__record__unpack(NULL, (size_t)sqlite3_column_bytes(st, 1),
                                                         sqlite3_column_blob(st, 1));
        Lienthong__Records__Population *v =
            r ? lienthong__records__population__unpack(NULL, r->payload.len, r->payload.data)
              : NULL;
        const char *why = !r || !v || r->deleted     ? "record is not a live Population"
                          : strcmp(r->key, key) != 0 ? "record key differs from the state key"
                                                     : s_check_row(m, p, key, v);
        if (why)
            lt_err_set(err, errlen, "%s: key %s: %s", name, key ? key : "?", why);
        lienthong__records__population__free_unpacked(v, NULL);
        lienthong__record__free_unpacked(r, NULL);
        if (why)
            goto out;
        (*live)++;
    }
    if (step != SQLITE_DONE) {
        lt_err_set(err, errlen, "%s: state read failed: %s", name, sqlite3_errmsg(db));
        goto out;
    }
    uint64_t want = 0;
    for (size_t i = 0; i < m->n; i++)
        want += m->province[i] == p;
    if (want != *live) {
        lt_err_set(err, errlen, "%s: %llu live rows, the model has %llu citizens in %s", name,
                   (unsigned long long)*live, (unsigned long long)want,
                   lt_fedsim_provinces[p].code);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    lt_fedsim_close(db);
    return rc;
}

size_t lt_fedsim_change(const lt_fedsim_model_t *m, size_t i, uint64_t cursor,
                        lt_fedsim_change_t *c)
{
    lt_fedsim_person_t p;
    lt_fedsim_person(m->seed, i, m->province[i], m->version[i], m->status[i], &p);
    lienthong__change__init(&c->change);
    size_t len = lt_fedsim_pack(&p, c->payload, sizeof c->payload);
    if (!len)
        return 0;
    snprintf(c->key, sizeof c->key, "%s", p.personal_id);
    snprintf(c->cursor, sizeof c->cursor, "%llu", (unsigned long long)cursor);
    c->change.key = c->key;
    c->change.payload.data = c->payload;
    c->change.payload.len = len;
    c->change.source_cursor = c->cursor;
    return len;
}

void lt_fedsim_lag(void *owner_db, int64_t view_id, uint64_t owner_last, uint64_t replica_last,
                   int64_t now_ms, double *records, double *ms)
{
    *records = *ms = 0;
    if (owner_last <= replica_last)
        return;
    *records = (double)(owner_last - replica_last);
    int64_t changed = lt_fedsim_changed_at(owner_db, view_id, replica_last + 1);
    if (changed > 0 && now_ms > changed)
        *ms = (double)(now_ms - changed);
}

void lt_fedsim_series_add(lt_fedsim_series_t *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lt_fedsim_pct(lt_fedsim_series_t *s, double q)
{
    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, s_cmp_double);
    size_t i = (size_t)(q * (double)s->n);
    return s->v[i >= s->n ? s->n - 1 : i];
}

void lt_fedsim_series_free(lt_fedsim_series_t *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}
