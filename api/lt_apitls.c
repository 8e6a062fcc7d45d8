/* lt_apitls: the API's TLS certificate and key, checked with GnuTLS (see the
 * header). */
#include "lt_apitls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>

static const char *FIX_PEM = "tls_cert must hold the PEM certificate (BEGIN CERTIFICATE, then its "
                             "chain), tls_key its PEM private key without a password";
static const char *FIX_PAIR = "tls_key must hold the private key the certificate was issued for: "
                              "install a renewed certificate together with the key of its request";

static gnutls_datum_t s_datum(const lt_apitls_file_t *f)
{
    /* GnuTLS only reads a datum it is given to import. */
    return (gnutls_datum_t){(unsigned char *)f->pem, (unsigned int)f->len};
}

/* The first certificate of the file: its expiry. A GnuTLS error code. */
static int s_cert(const gnutls_datum_t *d, time_t *not_after)
{
    gnutls_x509_crt_t crt;
    int rc = gnutls_x509_crt_init(&crt);
    if (rc < 0)
        return rc;
    rc = gnutls_x509_crt_import(crt, d, GNUTLS_X509_FMT_PEM);
    if (rc >= 0 && (*not_after = gnutls_x509_crt_get_expiration_time(crt)) == (time_t)-1)
        rc = GNUTLS_E_CERTIFICATE_ERROR;
    gnutls_x509_crt_deinit(crt);
    return rc;
}

/* Any PEM private key GnuTLS reads (PKCS #8, RSA, EC), without a password:
 * the API's configuration has none. A GnuTLS error code. */
static int s_key(const gnutls_datum_t *d)
{
    gnutls_x509_privkey_t key;
    int rc = gnutls_x509_privkey_init(&key);
    if (rc < 0)
        return rc;
    rc = gnutls_x509_privkey_import2(key, d, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* The pair into credentials, as libmicrohttpd does at start: GnuTLS
 * refuses a key that is not the certificate's. A GnuTLS error code. */
static int s_credentials(const gnutls_datum_t *cert, const gnutls_datum_t *key)
{
    gnutls_certificate_credentials_t cred;
    int rc = gnutls_certificate_allocate_credentials(&cred);
    if (rc < 0)
        return rc;
    rc = gnutls_certificate_set_x509_key_mem(cred, cert, key, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    return rc;
}

int lt_apitls_pair(const lt_apitls_file_t *cert, const lt_apitls_file_t *key, time_t *not_after,
                   char *why, size_t len, const char **fix)
{
    gnutls_datum_t c = s_datum(cert), k = s_datum(key);
    int rc;
    *fix = FIX_PEM;
    if ((rc = s_cert(&c, not_after)) < 0) {
        snprintf(why, len,
                 "tls_cert %s holds no certificate GnuTLS can read (%s), so tls_key %s "
                 "cannot be matched with it",
                 cert->path, gnutls_strerror(rc), key->path);
    } else if ((rc = s_key(&k)) < 0) {
        snprintf(why, len,
                 "tls_key %s holds no private key GnuTLS can read without a password "
                 "(%s), so it cannot be matched with tls_cert %s",
                 key->path, gnutls_strerror(rc), cert->path);
    } else if ((rc = s_credentials(&c, &k)) == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
        snprintf(why, len, "tls_key %s is not the private key of the certificate in tls_cert %s",
                 key->path, cert->path);
        *fix = FIX_PAIR;
    } else if (rc < 0) {
        snprintf(why, len, "GnuTLS refuses tls_cert %s with tls_key %s: %s", cert->path, key->path,
                 gnutls_strerror(rc));
    }
    return rc < 0 ? -1 : 0;
}
