/* lt_apitls: the API's TLS certificate and private key (tls_cert, tls_key),
 * loaded with GnuTLS as libmicrohttpd loads them, so that `lienthong api
 * --check` and the start refuse a pair the API could not serve with: a
 * certificate or a key that does not parse, or a key that is not the
 * certificate's (docs/operations.md, "HTTP API"). */
#ifndef LT_APITLS_H
#define LT_APITLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One of the two files: its configured path and its PEM text. */
typedef struct {
    const char *path;
    const uint8_t *pem;
    size_t len;
} lt_apitls_file_t;

/* 0 when cert holds a certificate (the first is the server's, the rest its
 * chain), key a private key without a password, and the key is the
 * certificate's; *not_after then gets the certificate's expiry. -1
 * otherwise: why names both files and says what is wrong, fix what to do. */
int lt_apitls_pair(const lt_apitls_file_t *cert, const lt_apitls_file_t *key, time_t *not_after,
                   char *why, size_t len, const char **fix);

#endif
