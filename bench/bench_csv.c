/* bench_csv: `lienthong import csv` end to end, beside parsing the same
 * file alone with libcsv.
 *
 * A CSV export of N citizens (16 columns, quoted addresses, about 250
 * bytes a row, lt_bench_citizen) is imported into a dataset of an owner
 * gateway on 127.0.0.1, with the checks an agency would set (digits, dates)
 * and every row valid: the figure is N divided by the time from starting
 * the command until it exits, which it does once every Publish is
 * acknowledged, i.e. durable in the owner's log. The raw figure is libcsv
 * alone reading the same file (rows/s), in this process:
 *
 *   bench: csv-import N rows/s | raw <parsing alone> rows/s | ratio R
 *
 * usage: bench_csv LIENTHONG_BINARY [ROWS] */
#include "lt_bench.h"
#include "lt_itest.h"
#include "lt_raw.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DATASET "VN/GOV/BCA/population"

static const char *s_dir_extra =
    "datasets = ( { id = \"" DATASET "\"; owner = \"VN/GOV/BCA\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n";

/* Writes the export: a header of the column names, then n rows; a field
 * with a comma or a quote is quoted (RFC 4180). */
static int s_write_csv(const char *path, long n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (int c = 0; c < LT_BENCH_COLUMNS; c++)
        fprintf(f, "%s%s", c ? "," : "", lt_bench_columns[c]);
    fputc('\n', f);
    char vals[LT_BENCH_COLUMNS][128];
    const char *v[LT_BENCH_COLUMNS];
    for (long i = 0; i < n; i++) {
        lt_bench_citizen(i, vals, v);
        for (int c = 0; c < LT_BENCH_COLUMNS; c++) {
            if (c)
                fputc(',', f);
            if (v[c] && strpbrk(v[c], ",\""))
                csv_fwrite(f, v[c], strlen(v[c]));
            else if (v[c])
                fputs(v[c], f);
        }
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static void s_count_field(void *s, size_t len, void *arg)
{
    (void)s;
    (void)len;
    (void)arg;
}

static void s_count_row(int c, void *arg)
{
    (void)c;
    (*(long *)arg)++;
}

/* libcsv alone over the file: rows/s (the header counts as a row). */
static double s_raw_parse(const char *path, long n)
{
    struct csv_parser p;
    FILE *f = fopen(path, "r");
    char *buf = malloc(1 << 20);
    long rows = 0;
    if (!f || !buf || csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0) {
        if (f)
            fclose(f);
        free(buf);
        return -1;
    }
    int64_t t0 = lt_it_ms();
    size_t got;
    while ((got = fread(buf, 1, 1 << 20, f)) > 0)
        if (csv_parse(&p, buf, got, s_count_field, s_count_row, &rows) != got)
            break;
    csv_fini(&p, s_count_field, s_count_row, &rows);
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    csv_free(&p);
    fclose(f);
    free(buf);
    return rows == n + 1 && secs > 0 ? (double)n / secs : -1;
}

static uint64_t s_last_seq(lt_it_gw_t *g)
{
    uint64_t last = 0;
    Lienthong__Envelope *env = lt_it_gw_status(g, 5000);
    for (size_t i = 0; env && i < env->status_reply->n_streams; i++)
        if (strcmp(env->status_reply->streams[i]->stream, DATASET) == 0)
            last = env->status_reply->streams[i]->last_seq;
    lt_wire_free(&env);
    return last;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_csv LIENTHONG_BINARY [ROWS]\n");
        return 2;
    }
    lt_it_set_binary(argv[1]);
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    lt_it_fed_t f;
    int rc = 1;
    if (lt_it_fed_init(&f, "VN") != 0)
        return 1;
    f.extra_source = s_dir_extra;
    lt_it_member_t *m = lt_it_member_add(&f, "VN/GOV/BCA", 1);
    lt_it_gw_t *g = m ? lt_it_gw_new(&f, m, 1, NULL, NULL) : NULL;
    char csv[PATH_MAX], conf[PATH_MAX], out[PATH_MAX];
    snprintf(csv, sizeof csv, "%.4000s/citizens.csv", f.dir);
    snprintf(conf, sizeof conf, "%.4000s/import.conf", f.dir);
    snprintf(out, sizeof out, "%.4000s/import.out", f.dir);
    if (!g || s_write_csv(csv, n) != 0 ||
        lt_it_write_fmt(conf,
                        "gateway_socket = \"%s\";\ndataset = \"" DATASET "\";\n"
                        "record_type = \"lienthong.records.Population\";\n"
                        "key_field = \"personal_id\";\n"
                        "columns = { personal_id = \"personal_id\"; full_name = \"full_name\";"
                        " date_of_birth = \"date_of_birth\"; sex = \"sex\";"
                        " place_of_birth = \"place_of_birth\"; home_town = \"home_town\";"
                        " ethnicity = \"ethnicity\"; nationality = \"nationality\";"
                        " permanent_province = \"permanent_province\";"
                        " permanent_address = \"permanent_address\";"
                        " current_province = \"current_province\";"
                        " current_address = \"current_address\";"
                        " id_card_number = \"id_card_number\";"
                        " id_card_issued = \"id_card_issued\"; status = \"status\";"
                        " date_of_death = \"date_of_death\"; };\n"
                        "checks = { personal_id = \"digits:12\"; date_of_birth = \"date\";"
                        " id_card_issued = \"date\"; };\n",
                        g->sock_path) != 0 ||
        lt_it_gw_run(g, 10000) != 0)
        goto out;
    double raw = s_raw_parse(csv, n);
    const char *args[] = {"import", "csv", "--config", conf, "--report", "/dev/null", csv, NULL};
    int64_t t0 = lt_it_ms();
    int st = lt_it_run_cli(f.dir, out, args, 600000);
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    uint64_t stored = s_last_seq(g);
    if (st != 0 || stored != (uint64_t)n || raw <= 0) {
        fprintf(stderr, "bench_csv: import exited %d, the owner stored %llu of %ld\n", st,
                (unsigned long long)stored, n);
        lt_it_file_dump(out);
        goto out;
    }
    lt_raw_report("csv-import", (double)n / secs, "rows/s", raw, "rows/s", 0);
    rc = 0;
out:
    if (rc && g)
        lt_it_log_dump(g);
    lt_it_fed_cleanup(&f);
    lt_it_shutdown();
    return rc;
}
