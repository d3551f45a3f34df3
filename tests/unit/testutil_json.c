/* JSON helpers for the unit tests; see testutil_json.h. */
#include "testutil_json.h"

#include <jansson.h>
#include <string.h>

#include "testutil.h"

static char jbuf[8][16384];
static int jnext;

const char *tu_json_sq(const char *sq)
{
    char *b = jbuf[jnext++ % 8];
    size_t n = strlen(sq);

    if (n >= sizeof(jbuf[0])) {
        FAIL("test document too long");
        n = sizeof(jbuf[0]) - 1;
    }
    for (size_t i = 0; i < n; i++)
        b[i] = sq[i] == '\'' ? '"' : sq[i];
    b[n] = '\0';
    return b;
}

bool tu_json_doc_is(const char *got, const char *want, const char *file, int line)
{
    json_t *g = got ? json_loads(got, 0, NULL) : NULL;
    json_t *w = json_loads(tu_json_sq(want), 0, NULL);
    bool ok = g && w && json_equal(g, w);

    if (!w)
        tu_checkf(false, file, line, "expected document does not parse: %s", want);
    else
        tu_checkf(ok, file, line, "document\n  got  %s\n  want %s", got ? got : "(null)",
                  tu_json_sq(want));
    json_decref(g);
    json_decref(w);
    return ok;
}
