/* fuzz_backman: libFuzzer target for the manifest of a backup
 * (gateway/lt_backman, docs/operations.md "Backup and restore"), which a
 * restore reads from wherever the backup is kept, where anyone who could
 * write the backup may have written it. Each input is read as a
 * manifest's text: what parses must name a member that fits and holds no
 * space, and list the store copy; what does not must say why in err. */
#include "lt_backman.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[LT_BACKMAN_MAX + 1], err[1024] = "";
    lt_backman_t m;
    /* lt_backman_check reads at most LT_BACKMAN_MAX bytes, with no NUL. */
    if (size > LT_BACKMAN_MAX || memchr(data, 0, size))
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int rc = lt_backman_parse("manifest", text, &m, err, sizeof err);
    if (rc == 0) {
        size_t len = strnlen(m.member, sizeof m.member);
        if (len == 0 || len >= sizeof m.member || strchr(m.member, ' ') || strchr(m.member, '\n') ||
            !m.store.listed)
            abort();
    } else if (rc != -1 || !err[0]) {
        abort();
    }
    return 0;
}
