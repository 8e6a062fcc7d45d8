/* test_csv: CUnit suite for CSV rows to records (adapters/lt_csv.c): the
 * import configuration (strict), RFC 4180 quoting (delimiters, quotes and
 * newlines inside a field), Vietnamese UTF-8, an empty field as absent or
 * as text, each kind of bad row with its line, column and reason (wrong
 * number of columns, bad date, invalid UTF-8, a letter in a citizen id, a
 * duplicate key, a value the field cannot take, a key, a record or an enum
 * number the owner's gateway would refuse, an unterminated quote,
 * broken quoting that rejects its own row and no other), a stray quote
 * (its row rejected, the lines after it read again as rows), the
 * 16 MiB a row's lines and a line without a line end may hold, the
 * same results whatever the pieces the file is fed in, a byte order mark,
 * CRLF, lone CR line ends and another delimiter, and a header without a
 * mapped column. */
#include "unit_util.h"

#include "lt_csv.h"
#include "records/population.pb-c.h"

static char g_dir[512];

/* The reason of a value that is not one of the enum Sex's. */
#define SEX_WANT                                                                                   \
    "cannot fill field lienthong.records.Population.sex: expected a value of "                     \
    "lienthong.records.Sex, by name or number: SEX_UNSPECIFIED (0), SEX_MALE (1), SEX_FEMALE (2)"

static int suite_init(void)
{
    return ut_mkdtemp(g_dir, sizeof g_dir, "csv");
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

#define CONF_HEAD                                                                                  \
    "gateway_socket = \"gw.sock\";\n"                                                              \
    "dataset = \"VN/GOV/BCA/population\";\n"                                                       \
    "record_type = \"lienthong.records.Population\";\n"                                            \
    "key_field = \"personal_id\";\n"
#define CONF_COLUMNS                                                                               \
    "columns = { personal_id = \"so_dinh_danh\"; full_name = \"ho_ten\";"                          \
    " date_of_birth = \"ngay_sinh\"; sex = \"gioi_tinh\"; status = \"trang_thai\"; };\n"           \
    "checks = { personal_id = \"digits:12\"; date_of_birth = \"date\"; };\n"

/* Writes a configuration and loads it; NULL with err when refused. */
static lt_csv_t *load(const char *text, char *err, size_t errlen)
{
    char path[600];
    snprintf(path, sizeof path, "%s/import.conf", g_dir);
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    return lt_csv_new(path, err, errlen);
}

/* What an import saw: good rows as "line:key:name|dob|sex|status" and
 * rejects as "line: column: reason", one per line. */
typedef struct {
    char out[8192];
    size_t len;
} seen_t;

static int on_record(void *arg, const char *key, const uint8_t *payload, size_t len, long line)
{
    seen_t *s = arg;
    Lienthong__Records__Population *p = lienthong__records__population__unpack(NULL, len, payload);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_STRING_EQUAL(p->personal_id, key);
    s->len += (size_t)snprintf(s->out + s->len, sizeof s->out - s->len, "%ld:%s:%s|%s|%d|%d\n",
                               line, key, p->full_name, p->date_of_birth, p->sex, p->status);
    lienthong__records__population__free_unpacked(p, NULL);
    return 0;
}

static void on_reject(void *arg, long line, const char *column, const char *reason)
{
    seen_t *s = arg;
    s->len += (size_t)snprintf(s->out + s->len, sizeof s->out - s->len, "%ld: %s: %s\n", line,
                               column, reason);
}

/* Feeds text in pieces of `piece` bytes (0: at once). */
static int run(lt_csv_t *c, const char *text, size_t piece, seen_t *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (lt_csv_begin(c, "a.csv", on_record, on_reject, s, err, errlen))
        return -1;
    size_t len = strlen(text), step = piece ? piece : len;
    for (size_t at = 0; at < len; at += step)
        if (lt_csv_feed(c, text + at, len - at < step ? len - at : step, err, errlen))
            return -1;
    return lt_csv_end(c, err, errlen);
}

static const char *SAMPLE =
    "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,trang_thai,ghi_chu\n"
    "038084915725,\"Nguyễn Văn An\",1984-05-02,1,1,x\n"        /* 2: good */
    "03808491572A,Trần Thị Bình,1990-01-01,2,1,\n"             /* 3: a letter */
    "038084915726,\"Lê, \"\"Văn\"\" Cường\",1990-02-30,1,1,\n" /* 4: no Feb 30 */
    "038084915727,Phạm Dũng,,SEX_MALE\n"                       /* 5: 4 columns */
    "038084915725,Đỗ Hùng,1984-05-02,1,1,\n"                   /* 6: duplicate */
    "038084915728,\"Hoàng\nHuy\",2000-01-01,,,\n"              /* 7-8: good, empty */
    "038084915729,\xff\xfe,2000-01-01,1,1,\n"                  /* 9: not UTF-8 */
    "038084915730,Vũ,2000-01-01,NAM,1,\n"                      /* 10: no such enum value */
    "038084915731,Võ,2000-01-01,1,1,,extra\n"                  /* 11: 7 columns */
    "\n"                                                       /* 12: blank, skipped */
    "038084915732,\"Bùi, Thị\",2000-02-29,SEX_FEMALE,CITIZEN_DECEASED,z"; /* 13: good */

static const char *SAMPLE_SEEN =
    "2:038084915725:Nguyễn Văn An|1984-05-02|1|1\n"
    "3: so_dinh_danh: must be 12 digits 0-9\n"
    "4: ngay_sinh: not a date YYYY-MM-DD\n"
    "5: trang_thai: missing (the row has 4 of the header's 6 columns)\n"
    "6: so_dinh_danh: duplicate key, first on line 2\n"
    "7:038084915728:Hoàng\nHuy|2000-01-01|0|0\n"
    "9: ho_ten: invalid UTF-8 at byte 1\n"
    "10: gioi_tinh: " SEX_WANT "\n"
    "11: 7: extra (the row has 7 columns, the header 6)\n"
    "13:038084915732:Bùi, Thị|2000-02-29|2|2\n";

static void test_rows(void)
{
    char err[1024] = "";
    lt_csv_t *c = load(CONF_HEAD CONF_COLUMNS, err, sizeof err);
    if (!c)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_STRING_EQUAL(lt_csv_dataset(c), "VN/GOV/BCA/population");
    CU_ASSERT(strstr(lt_csv_socket(c), "/gw.sock") != NULL); /* resolved */
    CU_ASSERT(lt_csv_batch(c) == 1000);
    seen_t s;
    CU_ASSERT_FATAL(run(c, SAMPLE, 0, &s, err, sizeof err) == 0);
    if (strcmp(s.out, SAMPLE_SEEN) != 0)
        fprintf(stderr, "seen:\n%s", s.out);
    CU_ASSERT_STRING_EQUAL(s.out, SAMPLE_SEEN);
    uint64_t rows, good, bad;
    lt_csv_counts(c, &rows, &good, &bad);
    CU_ASSERT(rows == 10 && good == 3 && bad == 7);
    /* The same whatever the pieces: one byte at a time, and 7 at a time. A
     * new file: the keys of the first are still seen. */
    static const size_t pieces[] = {1, 7};
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT_FATAL(run(c, SAMPLE, pieces[i], &s, err, sizeof err) == 0);
        CU_ASSERT(strstr(s.out, "2: so_dinh_danh: duplicate key, first on line 2\n") != NULL);
        CU_ASSERT(strstr(s.out, "9: ho_ten: invalid UTF-8 at byte 1\n") != NULL);
        CU_ASSERT(strstr(s.out, "11: 7: extra") != NULL);
        CU_ASSERT(strstr(s.out, "13: so_dinh_danh: duplicate key, first on line 13\n") != NULL);
    }
    lt_csv_destroy(&c);
    CU_ASSERT(c == NULL);
}

/* empty = "text": an empty field is an empty text, which an enum cannot
 * take; a quoted "" is always text. A BOM, CRLF and ';'. */
static void test_empty_text_bom_crlf(void)
{
    char err[1024] = "";
    lt_csv_t *c =
        load(CONF_HEAD CONF_COLUMNS "empty = \"text\";\ndelimiter = \";\";\n", err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    seen_t s;
    /* Whole, and a byte or two at a time: a mark split over reads (a pipe). */
    for (size_t piece = 0; piece < 3; piece++) {
        CU_ASSERT_FATAL(run(c,
                            "\xEF\xBB\xBFso_dinh_danh;ho_ten;ngay_sinh;gioi_tinh;trang_thai\r\n"
                            "038084915725;An;;1;1\r\n"
                            "038084915726;Bình;1990-01-01;;1\r\n"
                            "038084915727;\"\";1990-01-01;1;1\r\n",
                            piece, &s, err, sizeof err) == 0);
        CU_ASSERT_STRING_EQUAL(s.out, "2:038084915725:An||1|1\n"
                                      "3: gioi_tinh: " SEX_WANT "\n"
                                      "4:038084915727:|1990-01-01|1|1\n");
        lt_csv_destroy(&c);
        c = load(CONF_HEAD CONF_COLUMNS "empty = \"text\";\ndelimiter = \";\";\n", err, sizeof err);
        CU_ASSERT_FATAL(c != NULL);
    }
    /* Bytes that begin like a mark and are not one are data. */
    CU_ASSERT(run(c, "\xEFso_dinh_danh;ho_ten;ngay_sinh;gioi_tinh;trang_thai\n", 1, &s, err,
                  sizeof err) == -1);
    CU_ASSERT(strstr(err, "the header has no column 'so_dinh_danh'") != NULL);
    lt_csv_destroy(&c);
    /* The delimiter of the configuration gives way to the command line's. */
    c = load(CONF_HEAD CONF_COLUMNS "delimiter = \"\\t\";\n", err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    lt_csv_set_delimiter(c, '|');
    CU_ASSERT_FATAL(run(c,
                        "so_dinh_danh|ho_ten|ngay_sinh|gioi_tinh|trang_thai\n"
                        "038084915725| An |1984-05-02|1|1\n",
                        0, &s, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(s.out, "2:038084915725: An |1984-05-02|1|1\n"); /* spaces kept */
    lt_csv_destroy(&c);
}

static void test_file_errors(void)
{
    char err[1024] = "";
    lt_csv_t *c = load(CONF_HEAD CONF_COLUMNS, err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    seen_t s;
    /* A header without a mapped column stops the file. */
    CU_ASSERT(
        run(c, "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh\n1,2,3,4\n", 0, &s, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "a.csv:1: the header has no column 'trang_thai' (mapped to field status "
                          "in ") == err);
    CU_ASSERT(run(c, "so_dinh_danh,ho_ten,ho_ten,ngay_sinh,gioi_tinh,trang_thai\n", 0, &s, err,
                  sizeof err) == -1);
    CU_ASSERT_STRING_EQUAL(err, "a.csv:1: the header names column 'ho_ten' twice");
    CU_ASSERT(run(c, "", 0, &s, err, sizeof err) == -1);
    CU_ASSERT_STRING_EQUAL(err, "a.csv: no header row");
    /* An open quote to the end of the file: that row is rejected, and the
     * line after it read again. */
    CU_ASSERT(run(c,
                  "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,trang_thai\n"
                  "038084915799,An,1984-05-02,1,1\n"
                  "038084915798,\"Bình\n...",
                  0, &s, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(s.out, "2:038084915799:An|1984-05-02|1|1\n"
                                  "3: ho_ten: unterminated quoted field, open from line 3 to the "
                                  "end of the file on line 4 (a stray quote?); line 4 is read "
                                  "again as a row of its own\n"
                                  "4: ho_ten: missing (the row has 1 of the header's 5 columns)\n");
    lt_csv_destroy(&c);
}

/* Broken quoting rejects its own row and no other: a character after a
 * closing quote, a quote inside an unquoted field; reading goes on at the
 * next line, whatever the pieces. A quoted field over two lines that breaks
 * on the second is rejected at the first, and the second line read again
 * (test_stray_quote). Numbers are digits only: " 1" and "+1" are not. */
static const char *BROKEN = "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,trang_thai\n"
                            "038084915701,\"An\" ,1984-05-02,1,1\n"        /* 2: after the quote */
                            "038084915702,\"Bình\",1990-01-01,2,1\n"       /* 3: good */
                            "03808491\"5703,Cường,1990-01-01,1,1\n"        /* 4: quote in a field */
                            "038084915704,Dũng,1990-01-01, 1,1\n"          /* 5: a space */
                            "038084915705,Em,1990-01-01,+1,1\n"            /* 6: a plus */
                            "038084915706,\"Giang\nHà\"x,2000-01-01,1,1\n" /* 7-8: breaks on 8 */
                            "038084915707,Hùng,2000-01-01,1,1\n";          /* 9: good */

static const char *BROKEN_SEEN =
    "2: ho_ten: malformed quoting on line 2 (a quote inside an unquoted field, or a character "
    "after a closing quote); the rest of that line is skipped\n"
    "3:038084915702:Bình|1990-01-01|2|1\n"
    "4: so_dinh_danh: malformed quoting on line 4 (a quote inside an unquoted field, or a "
    "character after a closing quote); the rest of that line is skipped\n"
    "5: gioi_tinh: " SEX_WANT "\n"
    "6: gioi_tinh: " SEX_WANT "\n"
    "7: ho_ten: malformed quoting on line 8, in a row whose quoted fields run on from line 7 (a "
    "stray quote?); line 8 is read again as a row of its own\n"
    "8: so_dinh_danh: malformed quoting on line 8 (a quote inside an unquoted field, or a "
    "character after a closing quote); the rest of that line is skipped\n"
    "9:038084915707:Hùng|2000-01-01|1|1\n";

static void test_broken_quoting(void)
{
    char err[1024] = "";
    lt_csv_t *c = load(CONF_HEAD CONF_COLUMNS, err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    static const size_t pieces[] = {0, 1, 7};
    for (size_t i = 0; i < 3; i++) {
        seen_t s;
        CU_ASSERT_FATAL(run(c, BROKEN, pieces[i], &s, err, sizeof err) == 0);
        if (strcmp(s.out, BROKEN_SEEN) != 0)
            fprintf(stderr, "pieces of %zu, seen:\n%s", pieces[i], s.out);
        CU_ASSERT_STRING_EQUAL(s.out, BROKEN_SEEN);
        uint64_t rows, good, bad;
        lt_csv_counts(c, &rows, &good, &bad);
        CU_ASSERT(rows == 8 && good == 2 && bad == 6);
        lt_csv_destroy(&c);
        c = load(CONF_HEAD CONF_COLUMNS, err, sizeof err); /* keys seen start empty */
        CU_ASSERT_FATAL(c != NULL);
    }
    /* A header whose quoting breaks stops the file, naming the line. */
    seen_t s;
    CU_ASSERT(run(c, "so_dinh_danh,\"ho_ten\"x\n", 0, &s, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "a.csv:1: ") == err);
    lt_csv_destroy(&c);
}

/* A stray quote: a quote that opens a field and is never closed where it
 * should be makes the lines after it one quoted field, up to where the
 * quoting breaks. That row is rejected at its first line, and its other
 * lines are read again as rows of their own. The configuration of the
 * examples: id, name, born. */
#define CONF_SHORT                                                                                 \
    CONF_HEAD "columns = { personal_id = \"id\"; full_name = \"name\";"                            \
              " date_of_birth = \"born\"; };\n"                                                    \
              "checks = { date_of_birth = \"date\"; };\n"

static const struct {
    const char *text, *seen;
    uint64_t rows, good, bad;
} STRAY[] = {
    /* The quote of line 2 closes at the first quote of line 5, where a
     * character follows it. */
    {"id,name,born\n"
     "1,\"Nguyen Van A,1990-01-01\n"
     "2,Tran Thi B,1991-02-02\n"
     "3,Le Van C,1992-03-03\n"
     "4,\"Pham D\",1993-04-04\n",
     "2: name: malformed quoting on line 5, in a row whose quoted fields run on from line 2 (a "
     "stray quote?); lines 3-5 are read again as rows of their own\n"
     "3:2:Tran Thi B|1991-02-02|0|0\n"
     "4:3:Le Van C|1992-03-03|0|0\n"
     "5:4:Pham D|1993-04-04|0|0\n",
     4, 3, 1},
    /* A quote never closed: to the end of the file, with or without a last
     * line end. */
    {"id,name,born\n"
     "1,Nguyen Van A,1990-01-01\n"
     "2,\"Tran Thi B,1991-02-02\n"
     "3,Le Van C,1992-03-03\n"
     "4,Pham D,1993-04-04\n",
     "2:1:Nguyen Van A|1990-01-01|0|0\n"
     "3: name: unterminated quoted field, open from line 3 to the end of the file on line 5 (a "
     "stray quote?); lines 4-5 are read again as rows of their own\n"
     "4:3:Le Van C|1992-03-03|0|0\n"
     "5:4:Pham D|1993-04-04|0|0\n",
     4, 3, 1},
    {"id,name,born\n"
     "1,Nguyen Van A,1990-01-01\n"
     "2,\"Tran Thi B,1991-02-02\n"
     "3,Le Van C,1992-03-03",
     "2:1:Nguyen Van A|1990-01-01|0|0\n"
     "3: name: unterminated quoted field, open from line 3 to the end of the file on line 4 (a "
     "stray quote?); line 4 is read again as a row of its own\n"
     "4:3:Le Van C|1992-03-03|0|0\n",
     3, 2, 1},
    /* A quote opened on the last line: nothing to read again. */
    {"id,name,born\n"
     "1,\"Nguyen Van A,1990-01-01\n",
     "2: name: unterminated quoted field (runs to the end of the file)\n", 1, 0, 1},
    /* Quoted fields that hold newlines, a quote and a blank line: one row
     * each, and the lines after them keep their numbers. */
    {"id,name,born\n"
     "1,\"Nguyen\nVan A\",1990-01-01\n"
     "2,\"Tran \"\"B\"\"\n\nThi\",1991-02-02\n"
     "3,Le Van C,1992-03-03\n"
     "4,\"Pham\nD\",\"1993-04-04\"",
     "2:1:Nguyen\nVan A|1990-01-01|0|0\n"
     "4:2:Tran \"B\"\n\nThi|1991-02-02|0|0\n"
     "7:3:Le Van C|1992-03-03|0|0\n"
     "8:4:Pham\nD|1993-04-04|0|0\n",
     4, 4, 0},
    /* The stray quote of line 2 closes at line 3, whose own quote, read
     * again, opens a quoted field to the end of the file. */
    {"id,name,born\n"
     "1,\"A,1990-01-01\n"
     "2,\"B,1991-02-02\n"
     "3,C,1992-03-03\n"
     "4,D,1993-04-04\n",
     "2: name: malformed quoting on line 3, in a row whose quoted fields run on from line 2 (a "
     "stray quote?); line 3 is read again as a row of its own\n"
     "3: name: unterminated quoted field, open from line 3 to the end of the file on line 5 (a "
     "stray quote?); lines 4-5 are read again as rows of their own\n"
     "4:3:C|1992-03-03|0|0\n"
     "5:4:D|1993-04-04|0|0\n",
     4, 2, 2},
    /* A row over lines with the wrong number of columns: its quote closed
     * before a delimiter on line 4, which, read again, breaks on its own. */
    {"id,name,born\n"
     "1,\"A,1990-01-01\n"
     "2,B,1991-02-02\n"
     "3,C\",1992-03-03,x\n"
     "4,D,1993-04-04\n",
     "2: 4: extra (the row has 4 columns, the header 3) in a row whose quoted fields run on from "
     "line 2 to line 4 (a stray quote?); lines 3-4 are read again as rows of their own\n"
     "3:2:B|1991-02-02|0|0\n"
     "4: name: malformed quoting on line 4 (a quote inside an unquoted field, or a character "
     "after a closing quote); the rest of that line is skipped\n"
     "5:4:D|1993-04-04|0|0\n",
     4, 2, 2},
    {"id,name,born\n"
     "1,\"A\n"
     "2,B,1991-02-02\"\n"
     "3,C,1992-03-03\n",
     "2: born: missing (the row has 2 of the header's 3 columns) in a row whose quoted fields run "
     "on from line 2 to line 3 (a stray quote?); line 3 is read again as a row of its own\n"
     "3: born: malformed quoting on line 3 (a quote inside an unquoted field, or a character "
     "after a closing quote); the rest of that line is skipped\n"
     "4:3:C|1992-03-03|0|0\n",
     3, 1, 2},
    /* A row over lines ended by a lone '\r', a line end: the line after
     * it, broken too, is read on its own, whatever the pieces. */
    {"id,name,born\n"
     "1,\"A\n"
     "B\"\r2,C\"x\n"
     "3,D,1993-04-04\n",
     "2: born: missing (the row has 2 of the header's 3 columns) in a row whose quoted fields run "
     "on from line 2 to line 3 (a stray quote?); line 3 is read again as a row of its own\n"
     "3: id: malformed quoting on line 3 (a quote inside an unquoted field, or a character after "
     "a closing quote); the rest of that line is skipped\n"
     "4: name: malformed quoting on line 4 (a quote inside an unquoted field, or a character "
     "after a closing quote); the rest of that line is skipped\n"
     "5:3:D|1993-04-04|0|0\n",
     4, 1, 3},
    /* Lone '\r' line ends throughout, mixed with CRLF and LF, also inside
     * quoted fields: each counts one line. */
    {"id,name,born\r"
     "1,A,1990-01-01\r"
     "2,\"B\rC\",1991-02-02\r"
     "3,D,1992-13-01\r\n"
     "4,\"E\r\nF\r\rG\",1993-04-04\n"
     "5,H,1994-05-05\r",
     "2:1:A|1990-01-01|0|0\n"
     "3:2:B\rC|1991-02-02|0|0\n"
     "5: born: not a date YYYY-MM-DD\n"
     "6:4:E\r\nF\r\rG|1993-04-04|0|0\n"
     "10:5:H|1994-05-05|0|0\n",
     5, 4, 1},
    /* A stray quote in a file of lone '\r': its row alone is rejected. */
    {"id,name,born\r"
     "1,\"A,1990-01-01\r"
     "2,B,1991-02-02\r"
     "3,\"C\",1992-03-03\r",
     "2: name: malformed quoting on line 4, in a row whose quoted fields run on from line 2 (a "
     "stray quote?); lines 3-4 are read again as rows of their own\n"
     "3:2:B|1991-02-02|0|0\n"
     "4:3:C|1992-03-03|0|0\n",
     3, 2, 1},
    /* A quote opened on a last line that ends with CRLF: nothing to read
     * again, the LF held alone is no line. */
    {"id,name,born\r\n"
     "1,\"A,1990-01-01\r\n",
     "2: name: unterminated quoted field (runs to the end of the file)\n", 1, 0, 1},
    /* A byte order mark and CRLF line ends. */
    {"\xEF\xBB\xBFid,name,born\r\n"
     "1,\"A,1990-01-01\r\n"
     "2,B,1991-02-02\r\n"
     "3,\"C\",1992-03-03\r\n",
     "2: name: malformed quoting on line 4, in a row whose quoted fields run on from line 2 (a "
     "stray quote?); lines 3-4 are read again as rows of their own\n"
     "3:2:B|1991-02-02|0|0\n"
     "4:3:C|1992-03-03|0|0\n",
     3, 2, 1},
};

/* Every case whole, then in pieces of 1 to 7 bytes: the same rows, rejects
 * and counts. */
static void test_stray_quote(void)
{
    for (size_t i = 0; i < sizeof STRAY / sizeof STRAY[0]; i++)
        for (size_t piece = 0; piece <= 7; piece++) {
            char err[1024] = "";
            lt_csv_t *c = load(CONF_SHORT, err, sizeof err);
            CU_ASSERT_FATAL(c != NULL);
            seen_t s;
            CU_ASSERT(run(c, STRAY[i].text, piece, &s, err, sizeof err) == 0);
            if (strcmp(s.out, STRAY[i].seen) != 0)
                fprintf(stderr, "case %zu, pieces of %zu, seen:\n%s", i, piece, s.out);
            CU_ASSERT_STRING_EQUAL(s.out, STRAY[i].seen);
            uint64_t rows, good, bad;
            lt_csv_counts(c, &rows, &good, &bad);
            CU_ASSERT(rows == STRAY[i].rows && good == STRAY[i].good && bad == STRAY[i].bad);
            lt_csv_destroy(&c);
        }
}

/* A stray quote never closed holds at most 16 MiB of the lines after it:
 * past that the file stops, naming the line. */
static void test_stray_quote_limit(void)
{
    char err[1024] = "";
    lt_csv_t *c = load(CONF_SHORT, err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    static const char line[] = "2,B,1991-02-02\n";
    size_t n = (17u << 20) / (sizeof line - 1), len = 0;
    char *text = malloc(64 + n * (sizeof line - 1) + 1);
    CU_ASSERT_FATAL(text != NULL);
    len += (size_t)sprintf(text, "id,name,born\n1,\"A\n");
    for (size_t i = 0; i < n; i++, len += sizeof line - 1)
        memcpy(text + len, line, sizeof line - 1);
    text[len] = 0;
    seen_t s;
    CU_ASSERT(run(c, text, 1u << 20, &s, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "a.csv:") == err);
    CU_ASSERT(strstr(err, "over 16 MiB") != NULL);
    CU_ASSERT(strstr(err, "from line 2") != NULL);
    /* A row within the limit is read as before. */
    CU_ASSERT(run(c, "id,name,born\n7,\"A\nB\",1990-01-01\n", 0, &s, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(s.out, "2:7:A\nB|1990-01-01|0|0\n");
    free(text);
    lt_csv_destroy(&c);
}

/* One line without a line end is capped as the lines of a row are: a
 * file of 17 MiB on one line stops the import at line 2 once 16 MiB of it
 * are fed, rather than being held whole. */
static void test_long_line_limit(void)
{
    char err[1024] = "", path[600];
    lt_csv_t *c = load(CONF_SHORT, err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    snprintf(path, sizeof path, "%s/long.csv", g_dir);
    size_t chunk = 1u << 20, chunks = 17;
    char *buf = malloc(chunk);
    CU_ASSERT_FATAL(buf != NULL);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    memset(buf, 'x', chunk);
    CU_ASSERT(fputs("id,name,born\n1,", f) >= 0);
    for (size_t i = 0; i < chunks; i++)
        CU_ASSERT(fwrite(buf, 1, chunk, f) == chunk);
    CU_ASSERT_FATAL(fclose(f) == 0);
    seen_t s;
    memset(&s, 0, sizeof s);
    CU_ASSERT_FATAL(lt_csv_begin(c, "a.csv", on_record, on_reject, &s, err, sizeof err) == 0);
    f = fopen(path, "rb");
    CU_ASSERT_FATAL(f != NULL);
    size_t fed = 0, n;
    int rc = 0;
    while (rc == 0 && (n = fread(buf, 1, chunk, f)) > 0) {
        rc = lt_csv_feed(c, buf, n, err, sizeof err);
        fed += n;
    }
    if (rc == 0)
        rc = lt_csv_end(c, err, sizeof err);
    fclose(f);
    CU_ASSERT(rc == -1);
    CU_ASSERT(fed <= (17u << 20)); /* stopped before the end of the file */
    CU_ASSERT_STRING_EQUAL(err, "a.csv:2: a line over 16 MiB without a line end (LF, CRLF or CR)");
    /* A line within the limit is read as before. */
    CU_ASSERT(run(c, "id,name,born\n7,A,1990-01-01", 0, &s, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(s.out, "2:7:A|1990-01-01|0|0\n");
    free(buf);
    lt_csv_destroy(&c);
}

/* Rows the owner's gateway would refuse, with the whole Publish, are
 * rejected here: a key over 256 bytes (naming its length, not its value),
 * a record over the 1 MiB a Publish may carry (naming the largest column),
 * an enum number the type does not define. A key of 256 bytes is good. */
static void test_unpublishable(void)
{
    char err[1024] = "";
    lt_csv_t *c = load(CONF_HEAD "columns = { personal_id = \"id\"; full_name = \"name\";"
                                 " sex = \"sex\"; };\n",
                       err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    size_t big = (1u << 20) + 1;
    char *text = malloc(big + 2048), *want = NULL;
    CU_ASSERT_FATAL(text != NULL);
    int n = sprintf(text, "id,name,sex\n%0256d,A,1\n%0257d,B,1\n3,", 1, 2);
    memset(text + n, 'x', big);
    n += (int)big;
    n += sprintf(text + n, ",2\n4,D,99\n5,E,-1\n6,F,SEX_FEMALE\n");
    static const size_t pieces[] = {0, 1000}; /* whole, and in pieces */
    for (size_t i = 0; i < 2; i++) {
        seen_t s;
        CU_ASSERT_FATAL(run(c, text, pieces[i], &s, err, sizeof err) == 0);
        CU_ASSERT_FATAL(asprintf(&want,
                                 "2:%0256d:A||1|0\n"
                                 "3: id: the key is 257 bytes, over the 256 bytes a record key may "
                                 "have\n"
                                 "4: name: the row is 1048586 bytes as a record (1048577 of them "
                                 "in this column), over the 1048576 bytes a record may have in a "
                                 "Publish\n"
                                 "5: sex: " SEX_WANT "\n"
                                 "6: sex: " SEX_WANT "\n"
                                 "7:6:F||2|0\n",
                                 1) > 0);
        if (strcmp(s.out, want) != 0)
            fprintf(stderr, "seen:\n%.2000s", s.out);
        CU_ASSERT_STRING_EQUAL(s.out, want);
        free(want);
        lt_csv_destroy(&c);
        c = load(CONF_HEAD "columns = { personal_id = \"id\"; full_name = \"name\";"
                           " sex = \"sex\"; };\n",
                 err, sizeof err);
        CU_ASSERT_FATAL(c != NULL);
    }
    free(text);
    lt_csv_destroy(&c);
}

static void test_config_refused(void)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {CONF_HEAD CONF_COLUMNS "checks2 = 1;\n", ":7: unknown setting 'checks2'"},
        {CONF_HEAD "columns = { full_name = \"ho_ten\"; };\n",
         "the key field is not mapped: add personal_id"},
        {CONF_HEAD CONF_COLUMNS "delimiter = \";;\";\n", "'delimiter' must be one character"},
        {CONF_HEAD CONF_COLUMNS "empty = \"none\";\n", "'empty' must be \"null\" or \"text\""},
        {CONF_HEAD "columns = { personal_id = \"a\"; };\nchecks = { full_name = \"date\"; };\n",
         "check of field 'full_name', which 'columns' does not map"},
        {CONF_HEAD "columns = { personal_id = \"a\"; };\nchecks = { personal_id = \"dgits\"; };\n",
         "unknown check 'dgits'"},
        /* N as written: (int) of 4294967308 was 12, of 99999999999 1215752191. */
        {CONF_HEAD "columns = { personal_id = \"a\"; };\n"
                   "checks = { personal_id = \"digits:4294967308\"; };\n",
         ":6: check 'digits:4294967308': N of digits:N must be a whole number from 1 to 256"},
        {CONF_HEAD "columns = { personal_id = \"a\"; };\n"
                   "checks = { personal_id = \"required, digits:99999999999\"; };\n",
         "check 'digits:99999999999': N of digits:N"},
        {CONF_HEAD "columns = { personal_id = \"a\"; };\n"
                   "checks = { personal_id = \"digits:257\"; };\n",
         "check 'digits:257': N of digits:N must be a whole number from 1 to 256"},
        {CONF_HEAD "columns = { personal_id = \"a\"; };\n"
                   "checks = { personal_id = \"digits:+12\"; };\n",
         "check 'digits:+12'"},
        {CONF_HEAD "columns = { personal_id = \"a\"; };\n"
                   "checks = { personal_id = \"digits:0\"; };\n",
         "check 'digits:0'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[1024] = "";
        lt_csv_t *c = load(bad[i].text, err, sizeof err);
        CU_ASSERT(c == NULL);
        if (!strstr(err, bad[i].want))
            fprintf(stderr, "case %zu: %s\n", i, err);
        CU_ASSERT(strstr(err, bad[i].want) != NULL);
        lt_csv_destroy(&c);
    }
}

/* The packaged example (dist/examples/import.conf) loads as it is, and its
 * columns and checks read a file of its header. */
static void test_packaged_example(void)
{
    char err[1024] = "";
    lt_csv_t *c = lt_csv_new(LT_SRC_DIR "/dist/examples/import.conf", err, sizeof err);
    if (!c)
        fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(lt_csv_dataset(c), "VN/GOV/BCA/population");
    CU_ASSERT(lt_csv_batch(c) == 1000);
    seen_t s;
    CU_ASSERT(run(c,
                  "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,dia_chi,trang_thai\n"
                  "038084915725,Nguyễn Văn An,1984-05-02,1,Hà Nội,1\n"
                  "03808491572,,1984-05-02,1,,1\n",
                  0, &s, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(s.out, "2:038084915725:Nguyễn Văn An|1984-05-02|1|1\n"
                                  "3: so_dinh_danh: must be 12 digits 0-9\n"
                                  "3: ho_ten: required\n");
    lt_csv_destroy(&c);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"rows: quoting, UTF-8, each kind of bad row, any pieces", test_rows},
        {"empty as text, BOM, CRLF, other delimiters", test_empty_text_bom_crlf},
        {"bad header, empty file, unterminated quote", test_file_errors},
        {"broken quoting rejects its own row only; numbers are digits", test_broken_quoting},
        {"a stray quote: its row is rejected, the lines after it read again", test_stray_quote},
        {"a stray quote holds at most 16 MiB of lines", test_stray_quote_limit},
        {"one line without a line end holds at most 16 MiB", test_long_line_limit},
        {"a key, a record or an enum value the gateway would refuse", test_unpublishable},
        {"the configuration is strict", test_config_refused},
        {"the packaged example loads", test_packaged_example},
        {NULL, NULL},
    };
    return ut_main("csv", suite_init, suite_clean, tests);
}
