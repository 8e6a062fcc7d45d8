/* lt_cli: the subcommands of the multi-call `lienthong` program. Each takes
 * argc/argv starting at its own name and returns the process exit code:
 * 0 success, 1 failure, 2 usage error. */
#ifndef LT_CLI_H
#define LT_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_err.h"
#include "lt_gwcfg.h"

int lt_cmd_keygen(int argc, char **argv);
int lt_cmd_authority_keygen(int argc, char **argv);
int lt_cmd_pubkey(int argc, char **argv);
int lt_cmd_keys(int argc, char **argv);
int lt_cmd_directory(int argc, char **argv);
int lt_cmd_gateway(int argc, char **argv);
int lt_cmd_status(int argc, char **argv);
int lt_cmd_ping(int argc, char **argv);
int lt_cmd_lookup(int argc, char **argv);
int lt_cmd_verify(int argc, char **argv);
int lt_cmd_profile(int argc, char **argv);
int lt_cmd_audit(int argc, char **argv);
int lt_cmd_store(int argc, char **argv);
int lt_cmd_source(int argc, char **argv);
int lt_cmd_sink(int argc, char **argv);
int lt_cmd_api(int argc, char **argv);
int lt_cmd_import(int argc, char **argv);
int lt_cmd_backup(int argc, char **argv);
int lt_cmd_restore(int argc, char **argv);
int lt_cmd_resync(int argc, char **argv);
int lt_cmd_prefill(int argc, char **argv);

/* Prints "lienthong CMD: " and the message to stderr; returns code. */
int lt_cli_fail(int code, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* s (NULL as "") for a line of text output, as lt_log_escape writes it
 * (controls as \xNN, a backslash as \\, bytes that are not UTF-8 as '?'):
 * for text another agency chose, which could otherwise drive the terminal
 * or start a line of its own. malloc'd; NULL when out of memory. */
char *lt_cli_plain(const char *s);
/* printf to stdout, the whole line escaped as lt_cli_plain does, then a
 * newline: one line whatever its arguments hold. 0, or -1 when out of
 * memory or stdout fails (nothing printed). */
int lt_cli_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The text of member name of object o, or none when o lacks it or holds
 * something else there: for the text printers of JSON replies, which never
 * hand "%s" a NULL (undefined, whatever glibc prints for it). */
const char *lt_cli_jtext(const json_t *o, const char *name, const char *none);
/* A whole number in [min, max] written as plain decimal digits (no sign,
 * space or '+', which strtol would take; no wrap-around, which a cast of
 * its result would give): 0 with *out, -1 otherwise. */
int lt_cli_int(const char *s, long min, long max, long *out) LT_NODISCARD;
/* What lt_cli_getopt returns for an option given an empty value: above
 * any character or option val getopt_long returns. */
#define LT_CLI_OPT_EMPTY 0x100
/* getopt_long(argc, argv, optstring, opts, NULL) for the commands, except
 * that an option given an empty value ("--out ''", "-o ''", "--out=", as
 * an unset shell variable gives) returns LT_CLI_OPT_EMPTY with optopt set
 * to the option's val, for lt_cli_bad_opt to refuse naming it: no option of
 * lienthong means anything by "", and a path, id or purpose taken empty
 * would act on the current directory, on /, or be sent to a gateway. */
int lt_cli_getopt(int argc, char **argv, const char *optstring, const struct option *opts);
/* Reports a stray argument, quoting it. Returns 2. */
int lt_cli_bad_arg(const char *cmd, const char *arg, const char *usage);
/* Refuses an empty argument among argv[from..argc-1] (a file named "", as
 * an unset shell variable gives, would be read as the current directory):
 * 2 with a message naming what (e.g. "key file") and its place, 0 when
 * none is empty. */
int lt_cli_no_empty_args(const char *cmd, const char *what, int argc, char **argv, int from,
                         const char *usage);
/* Reports a sub-command word (what: "action", "format") that is missing
 * (word NULL) or unknown, quoting it: "unknown action 'rotate': expected
 * 'promote'". Returns 2. */
int lt_cli_bad_word(const char *cmd, const char *what, const char *word, const char *expected,
                    const char *usage);
/* The long name of the option of opts whose val is c, NULL when none. */
const char *lt_cli_opt_name(const struct option *opts, int c);
/* Reports what getopt_long returned c for when the command does not go on
 * with it: an unknown option ('?'), an option without its value (':', for
 * an optstring that starts with ':', as every command's does), an option
 * given an empty value (LT_CLI_OPT_EMPTY from lt_cli_getopt), or an option
 * of opts that this form of the command does not take. Returns 2. */
int lt_cli_bad_opt(const char *cmd, int c, const struct option *opts, char **argv,
                   const char *usage);
/* The value s of option opt as lt_cli_int reads it: 0 with *out, or 2
 * after saying "OPT: expected WHAT MIN..MAX, got 'S'" (what: e.g. "whole
 * milliseconds"). */
int lt_cli_int_opt(const char *cmd, const char *opt, const char *s, long min, long max,
                   const char *what, long *out) LT_NODISCARD;
/* lt_cli_int_opt for 64-bit values (sequence numbers, times, versions,
 * which the directory and the store keep as int64). */
int lt_cli_i64_opt(const char *cmd, const char *opt, const char *s, int64_t min, int64_t max,
                   const char *what, int64_t *out) LT_NODISCARD;
/* Pairs (const char *option, int given) ended by NULL: -1 (go on) when
 * each was given, or 2 after naming every missing one ("missing --config,
 * --dataset") and the usage. */
int lt_cli_need(const char *cmd, const char *usage, ...) __attribute__((sentinel));

/* One request, one reply: loads the gateway configuration `config` into
 * *cfg, sends body (of body_case) on a fresh local-API client and waits up
 * to timeout_ms for the envelope of reply_case. Returns -1 with *rep (free
 * with lt_wire_free) to go on, or else exit status 2 with the failure said
 * on stderr (configuration, gateway not answering, the gateway's Error). */
int lt_cli_ask(const char *cmd, const char *config, lt_gwcfg_t *cfg,
               Lienthong__Envelope__BodyCase body_case, void *body,
               Lienthong__Envelope__BodyCase reply_case, int timeout_ms, Lienthong__Envelope **rep);

#endif
