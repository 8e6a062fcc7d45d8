/* fuzz_files: libFuzzer target for the line parser of the high-water file
 * (gateway/lt_history, PROTOCOL.md 6.9). Each input is read as one line:
 * what parses is written back by lt_history_format_line and must parse to
 * the same values; what does not parse must not claim a name it cannot
 * hold. The input's bytes are also taken as a name, history and seq that
 * must survive a write and a read unchanged. */
#include "lt_history.h"

#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 1024

static void s_reads_back(const char *name, const uint8_t h[LT_HISTORY_BYTES], uint64_t seq)
{
    char line[LINE_MAX_BYTES], name2[LT_STREAM_ID_MAX];
    uint8_t h2[LT_HISTORY_BYTES];
    uint64_t seq2 = 0;
    if (lt_history_format_line(line, sizeof line, name, h, seq) < 0)
        abort();
    if (lt_history_parse_line(line, name2, h2, &seq2) != 0 || strcmp(name, name2) != 0 ||
        memcmp(h, h2, LT_HISTORY_BYTES) != 0 || seq != seq2)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[LINE_MAX_BYTES], name[LT_STREAM_ID_MAX];
    uint8_t h[LT_HISTORY_BYTES];
    uint64_t seq = 0;
    if (size >= sizeof line)
        return 0;
    memcpy(line, data, size);
    line[size] = 0;
    int rc = lt_history_parse_line(line, name, h, &seq);
    if (rc > 1 || rc < -1 || (rc >= 0 && (!name[0] || strlen(name) >= LT_STREAM_ID_MAX)))
        abort();
    if (rc == 0)
        s_reads_back(name, h, seq);
    /* A name of the writer's alphabet (no space, no NUL), then bytes. */
    if (size > LT_HISTORY_BYTES + sizeof seq) {
        size_t nl = size - LT_HISTORY_BYTES - sizeof seq;
        if (nl >= LT_STREAM_ID_MAX)
            return 0;
        memcpy(name, data, nl);
        name[nl] = 0;
        if (strlen(name) != nl || strchr(name, ' '))
            return 0;
        memcpy(h, data + nl, LT_HISTORY_BYTES);
        memcpy(&seq, data + nl + LT_HISTORY_BYTES, sizeof seq);
        s_reads_back(name, h, seq);
    }
    return 0;
}
