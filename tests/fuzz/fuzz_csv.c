/* fuzz_csv: libFuzzer target for the CSV row -> record path of `lienthong
 * import csv` (adapters/lt_csv.c): libcsv's parsing, the row checks (column
 * count, UTF-8, dates, digits, duplicate keys), the conversion through the
 * adapters' row mapping, and the line numbers.
 *
 * Each input is a CSV file, fed in two pieces split where its first byte
 * says (so that rows and quoted fields are cut at every place), to an
 * import of the Population type with checks; the first line is its header,
 * or a fixed header is put before it when the input's second byte is odd,
 * so that rows are reached. For every row handed over, the record must
 * decode as a Population whose personal_id is the row's key, a key never
 * handed over twice; every rejection must name a line within the file and a
 * non-empty column and reason; rows = published + rejected. The file is
 * then fed again, whole, to a fresh import: the rows handed over and the
 * rejections (lines, columns, reasons, in order) and the outcome must be
 * the same as in pieces (a stray quote's lines are held and read again
 * whatever the pieces).
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#define _GNU_SOURCE
#include "lt_csv.h"
#include "records/population.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,trang_thai,ghi_chu\n"

static lt_csv_t *g_csv;
static char g_conf[64]; /* its configuration's path, new for each import */

/* What one input produced. */
typedef struct {
    long lines;
    uint64_t records, rejects;
    char **keys;
    size_t n_keys, cap;
    uint64_t digest; /* FNV-1a of every row handed over and rejection */
} s_seen_t;

static void s_digest(s_seen_t *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        s->digest = (s->digest ^ p[i]) * 0x100000001b3ull;
}

static void s_init(void)
{
    char dir[] = "/tmp/fuzz-csv-XXXXXX", err[1024];
    if (!mkdtemp(dir))
        abort();
    snprintf(g_conf, sizeof g_conf, "%s/import.conf", dir);
    FILE *f = fopen(g_conf, "w");
    if (!f)
        abort();
    fputs("gateway_socket = \"gw.sock\";\ndataset = \"VN/GOV/BCA/population\";\n"
          "record_type = \"lienthong.records.Population\";\nkey_field = \"personal_id\";\n"
          "columns = { personal_id = \"so_dinh_danh\"; full_name = \"ho_ten\";"
          " date_of_birth = \"ngay_sinh\"; sex = \"gioi_tinh\"; status = \"trang_thai\"; };\n"
          "checks = { personal_id = \"digits:12\"; date_of_birth = \"date\";"
          " full_name = \"required\"; };\n",
          f);
    if (fclose(f) != 0 || !(g_csv = lt_csv_new(g_conf, err, sizeof err))) {
        fprintf(stderr, "fuzz_csv: %s\n", err);
        abort();
    }
    unlink(g_conf);
    rmdir(dir);
}

static int s_on_record(void *arg, const char *key, const uint8_t *payload, size_t len, long line)
{
    s_seen_t *s = arg;
    Lienthong__Records__Population *p = lienthong__records__population__unpack(NULL, len, payload);
    if (!p || !p->personal_id || strcmp(p->personal_id, key) != 0 || line < 2 || line > s->lines)
        abort();
    s_digest(s, &line, sizeof line);
    s_digest(s, payload, len);
    lienthong__records__population__free_unpacked(p, NULL);
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i], key) == 0)
            abort(); /* a duplicate key handed over */
    if (s->n_keys == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        char **k = realloc(s->keys, s->cap * sizeof *k);
        if (!k)
            abort();
        s->keys = k;
    }
    if (!(s->keys[s->n_keys++] = strdup(key)))
        abort();
    s->records++;
    return 0;
}

static void s_on_reject(void *arg, long line, const char *column, const char *reason)
{
    s_seen_t *s = arg;
    if (line < 1 || line > s->lines || !column[0] || !reason[0])
        abort();
    s_digest(s, &line, sizeof line);
    s_digest(s, column, strlen(column) + 1);
    s_digest(s, reason, strlen(reason) + 1);
    s->rejects++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void s_write_seeds(const char *dir);

/* Imports text, fed in two pieces cut at `cut`, and starts a fresh import
 * for the next: what it saw goes to s, its outcome and error folded into
 * s->digest. */
static void s_import(const char *text, size_t len, size_t cut, s_seen_t *s)
{
    uint64_t rows0, good0, bad0, rows, good, bad;
    lt_csv_counts(g_csv, &rows0, &good0, &bad0);
    char err[1024] = "";
    int rc = lt_csv_begin(g_csv, "f.csv", s_on_record, s_on_reject, s, err, sizeof err) == 0 &&
                     lt_csv_feed(g_csv, text, cut, err, sizeof err) == 0 &&
                     lt_csv_feed(g_csv, text + cut, len - cut, err, sizeof err) == 0 &&
                     lt_csv_end(g_csv, err, sizeof err) == 0
                 ? 0
                 : -1;
    lt_csv_counts(g_csv, &rows, &good, &bad);
    if (good - good0 != s->records || rows - rows0 != (good - good0) + (bad - bad0))
        abort();
    s_digest(s, &rc, sizeof rc);
    const char *conf = strstr(err, g_conf); /* differs from import to import */
    s_digest(s, err, conf ? (size_t)(conf - err) : strlen(err));
    /* Keys stay seen across files of a run; a fresh import per input keeps
     * the fuzzer's inputs independent. */
    lt_csv_destroy(&g_csv);
    s_init();
    for (size_t i = 0; i < s->n_keys; i++)
        free(s->keys[i]);
    free(s->keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_csv) {
        s_init();
        const char *seeds = getenv("FUZZ_WRITE_SEEDS");
        if (seeds)
            s_write_seeds(seeds);
    }
    int header = size > 1 && (data[1] & 1);
    size_t hlen = header ? strlen(HEADER) : 0;
    char *text = malloc(hlen + size + 1);
    if (!text)
        return 0;
    memcpy(text, HEADER, hlen);
    memcpy(text + hlen, data, size);
    size_t len = hlen + size;
    s_seen_t s = {1, 0, 0, NULL, 0, 0, 0xcbf29ce484222325ull};
    for (size_t i = 0; i < len; i++) /* LF, CRLF and a lone CR end a line */
        s.lines += text[i] == '\n' || (text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n'));
    s_seen_t whole = s;
    s_import(text, len, size ? (size_t)data[0] * len / 256 : 0, &s);
    s_import(text, len, len, &whole);
    if (s.digest != whole.digest)
        abort(); /* pieces changed what was seen */
    free(text);
    return 0;
}

static void s_seed(const char *dir, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void s_write_seeds(const char *dir)
{
    s_seed(dir, "good",
           "\x20\x00" HEADER "038084915725,\"Nguyễn Văn An\",1984-05-02,1,1,x\n"
           "038084915728,\"Hoàng\nHuy\",2000-01-01,,,\n");
    s_seed(dir, "bad",
           "\x80\x01"
           "03808491572A,Trần Thị Bình,1990-01-01,2,1,\n"
           "038084915726,\"Lê, \"\"Văn\"\" C\",1990-02-30,1,1,\n"
           "038084915727,Phạm Dũng,,SEX_MALE\n038084915727,Đỗ,1984-05-02,1,1,\n"
           "038084915729,\xff\xfe,2000-01-01,1,1,\n038084915730,Vũ,2000-01-01,NAM,1,\n"
           "038084915731,Võ,2000-01-01,1,1,,extra\n038084915732,\"open");
    s_seed(dir, "stray",
           "\x60\x01"
           "038084915741,\"Nguyễn Văn A,1990-01-01,1,1,\n"
           "038084915742,Trần Thị B,1991-02-02,2,1,\n"
           "038084915743,\"Lê\nVăn C\",1992-03-03,1,1,\n"
           "038084915744,\"Phạm D\",1993-04-04,1,1,\n038084915745,\"open,1994-05-05,1,1,\n"
           "038084915746,Vũ,1995-06-06,1,1,\n");
    s_seed(dir, "header", "\x10\x00so_dinh_danh;ho_ten\r\n\xEF\xBB\xBF\"a\"\"b\",c\r\n");
    s_seed(dir, "cr",
           "\x40\x01"
           "038084915751,An,1990-01-01,1,1,\r038084915752,\"B\rC\",1991-02-02,99,1,\r\n"
           "038084915753,\"D,1992-03-03,1,1,\r038084915754,E,1993-04-04,-1,1,\r");
}
