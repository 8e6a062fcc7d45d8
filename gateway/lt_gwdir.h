/* lt_gwdir: the directory over the gateway's life (PROTOCOL.md 5.3, 5.5,
 * 5.6): which directory to start from, how one adopted is written with the
 * authority keys it needs, and what its expiry means.
 *
 * At start the gateway takes the newest directory that opens (signature,
 * federation, format, contents) among its configured file and the copy it
 * adopted from peers, expired or not, and logs which and why: an expired
 * directory still lets the gateway start, greet its peers and adopt a newer
 * one from them or by SIGHUP, so the federation heals without a visit to
 * every host. A configured one taken replaces that copy, so that the next
 * start keeps it even if the configured file goes back to an older one.
 *
 * The watch turns the clock into log lines, gauges and one bit the gateway
 * acts on: a warning 7 days and again 1 day before the expiry, and once
 * expired an error every minute while the gateway serves no data to peers. */
#ifndef LT_GWDIR_H
#define LT_GWDIR_H

#include <stdint.h>

#include "lt_dir.h"
#include "lt_err.h"
#include "lt_gwcfg.h"
#include "lt_stats.h"

/* Writes d to adopted_path atomically (PROTOCOL.md 5.3), and the authority
 * keys it is signed by under trust to learned_path around it
 * (lt_dir_learned_prepare before, lt_dir_learned_settle after, 5.5), so
 * that whatever stops it part way leaves a directory on disk that verifies
 * with the keys on disk: kept (the directory adopted_path holds, NULL for
 * none) or d. kept, when d drops a member's signing key, is kept as
 * retired in cfg->data_dir first (PROTOCOL.md 6.10), where the gateway
 * keeps adopted_path. Returns 0, or -1 with "cannot persist PATH: why" in
 * err; a failure to settle the keys once d is written is only warned
 * about. */
int lt_gwdir_persist(const lt_gwcfg_t *cfg, const char *adopted_path, const char *learned_path,
                     const lt_dir_t *kept, const lt_dir_t *d, const lt_dir_pins_t *trust, char *err,
                     size_t errlen) LT_NODISCARD;

/* The newest usable directory among cfg->directory_file and adopted_path
 * (which may not exist), verified under base (the pinned keys and those
 * learned, lt_gwdir_base) and the next keys each announces: the choice of
 * lt_dirpick, which the commands acting on the gateway's data share. Logs
 * the choice. The configured one, when taken, is written to adopted_path
 * first with the keys it needs in learned_path (lt_gwdir_persist), unless
 * adopted_path holds the same bytes or a copy that does not open. NULL with
 * the reasons in err when neither opens, or when the configured one taken
 * cannot be written (as SIGHUP refuses it, PROTOCOL.md 5.3). */
lt_dir_t *lt_gwdir_load(const lt_gwcfg_t *cfg, const char *adopted_path, const char *learned_path,
                        const lt_dir_pins_t *base, char *err, size_t errlen);
/* base = the pinned authority keys and the keys learned through an
 * announcement (lt_dir_learned_add of learned_path). A learned file that
 * is not keys is warned about while *warned is 0, which then becomes 1
 * (warned NULL: every time), so that offers do not repeat the warning. */
void lt_gwdir_base(const lt_gwcfg_t *cfg, const char *learned_path, lt_dir_pins_t *base,
                   int *warned);

typedef struct {
    uint64_t version;              /* the directory last looked at */
    int warned;                    /* 0, or LT_DIR_WARN_DAYS_FAR / _NEAR once warned */
    int expired;                   /* 1 once now >= expires_at */
    int64_t said_expired_at;       /* unix seconds of the last "expired" error */
    lt_stats_series_t *st_expired; /* lienthong_directory_expired: 0 or 1 */
} lt_gwdir_watch_t;

/* Registers the gauge. Returns 0, or -1 out of memory. */
int lt_gwdir_watch_init(lt_gwdir_watch_t *w, lt_stats_t *stats);

/* Looks at dir at unix time now (call about once a second, and after an
 * adoption): logs the warnings and errors due and sets the gauge. Returns
 * 1 when dir has expired, 0 otherwise. */
int lt_gwdir_watch(lt_gwdir_watch_t *w, const lt_dir_t *dir, int64_t now);

#endif
