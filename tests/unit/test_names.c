/* Names and ids (registry/reg_names.c): Google's id rules, the topic-level
 * departure ('+', '#', '/'), and the exact shape of a Google client id. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reg_names.h"
#include "testutil.h"

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_ids(void) {
    const char *why = NULL;
    CHECK(reg_name_check_id("dev", &why) == 0);
    CHECK(reg_name_check_id("my-device_01.x~y%z", &why) == 0);
    CHECK(reg_name_check_id("Abc", NULL) == 0);
    CHECK(reg_name_check_id("abcgoog", NULL) == 0);   /* only a prefix is reserved */

    why = NULL;
    CHECK(reg_name_check_id("ab", &why) == -EINVAL && why && strstr(why, "at least 3"));
    CHECK(reg_name_check_id("", &why) == -EINVAL);
    CHECK(reg_name_check_id(NULL, &why) == -EINVAL);
    CHECK(reg_name_check_id("1dev", &why) == -EINVAL && strstr(why, "letter"));
    CHECK(reg_name_check_id("-dev", &why) == -EINVAL);
    CHECK(reg_name_check_id("goog-dev", &why) == -EINVAL && strstr(why, "goog"));
    CHECK(reg_name_check_id("GOOGdev", &why) == -EINVAL);
    CHECK(reg_name_check_id("GoOgle", &why) == -EINVAL);
    CHECK(reg_name_check_id("dev+1", &why) == -EINVAL && strchr(why, '+'));
    CHECK(reg_name_check_id("dev#1", &why) == -EINVAL && strchr(why, '#'));
    CHECK(reg_name_check_id("dev/1", &why) == -EINVAL && strchr(why, '/'));
    CHECK(reg_name_check_id("dev 1", &why) == -EINVAL);
    CHECK(reg_name_check_id("dev:1", &why) == -EINVAL);
    CHECK(reg_name_check_id("dév", &why) == -EINVAL);
    CHECK(reg_name_check_id("dev\n", &why) == -EINVAL);

    char *s = repeat('a', 255);
    CHECK(reg_name_check_id(s, &why) == 0);
    free(s);
    s = repeat('a', 256);
    CHECK(reg_name_check_id(s, &why) == -EINVAL && strstr(why, "255"));
    free(s);
    s = repeat('a', 100000);
    CHECK(reg_name_check_id(s, &why) == -EINVAL);
    free(s);
}

static void test_projects(void) {
    const char *why = NULL;
    CHECK(reg_name_check_project("my-project-123", &why) == 0);
    CHECK(reg_name_check_project("example.com:proj", &why) == 0);
    CHECK(reg_name_check_project("p", &why) == 0);
    CHECK(reg_name_check_project("1proj", &why) == 0);
    CHECK(reg_name_check_project("", &why) == -EINVAL);
    CHECK(reg_name_check_project(NULL, &why) == -EINVAL);
    CHECK(reg_name_check_project("-proj", &why) == -EINVAL);
    CHECK(reg_name_check_project("pro+j", &why) == -EINVAL && strchr(why, '+'));
    CHECK(reg_name_check_project("pro#j", &why) == -EINVAL);
    CHECK(reg_name_check_project("pro/j", &why) == -EINVAL);
    CHECK(reg_name_check_project("pro j", &why) == -EINVAL);
    CHECK(reg_name_check_location("us-central1", &why) == 0);
    CHECK(reg_name_check_location("europe-west1", &why) == 0);
    CHECK(reg_name_check_location("us+central1", &why) == -EINVAL);
    CHECK(reg_name_check_location("", &why) == -EINVAL);
    char *s = repeat('p', 255);
    CHECK(reg_name_check_project(s, &why) == 0);
    free(s);
    s = repeat('p', 256);
    CHECK(reg_name_check_project(s, &why) == -EINVAL);
    free(s);
}

static int parse(const char *cid, struct reg_google_path *p) {
    return reg_google_client_id_parse(cid, strlen(cid), p);
}

static void test_client_id(void) {
    struct reg_google_path p;
    CHECK(parse("projects/p1/locations/us-central1/registries/reg/devices/dev", &p) == 0);
    CHECK(strcmp(p.project, "p1") == 0);
    CHECK(strcmp(p.location, "us-central1") == 0);
    CHECK(strcmp(p.registry, "reg") == 0);
    CHECK(strcmp(p.device, "dev") == 0);
    CHECK(parse("projects/p/locations/l/registries/r/devices/2928540609735937", &p) == 0);
    CHECK(strcmp(p.device, "2928540609735937") == 0);

    /* ret untouched on failure */
    struct reg_google_path q;
    memset(&q, 'Z', sizeof(q));
    struct reg_google_path q0 = q;
    const char *bad[] = {
        "",
        "projects/",
        "projects/p",
        "projects/p/locations/l/registries/r/devices/",
        "projects/p/locations/l/registries/r/devices",
        "projects/p/locations/l/registries/r/devices/d/",
        "projects/p/locations/l/registries/r/devices/d/extra",
        "projects//locations/l/registries/r/devices/d",
        "projects/p/locations//registries/r/devices/d",
        "projects/p/locations/l/registries//devices/d",
        "projects/p/location/l/registries/r/devices/d",
        "projects/p/locations/l/registry/r/devices/d",
        "projects/p/locations/l/registries/r/device/d",
        "Projects/p/locations/l/registries/r/devices/d",
        "/projects/p/locations/l/registries/r/devices/d",
        "projects/p/locations/l/registries/r/devices/d/events",
        "projects/p/locations/l/registries/r//devices/d",
        "my-client",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse(bad[i], &q);
        if (r != -EINVAL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(r == -EINVAL);
    }
    CHECK(memcmp(&q, &q0, sizeof(q)) == 0);

    /* A NUL inside the given length. */
    static const char with_nul[] = "projects/p/locations/l/registries/r/devices/d\0x";
    CHECK(reg_google_client_id_parse(with_nul, sizeof(with_nul) - 1, &q) == -EINVAL);
    CHECK(reg_google_client_id_parse(with_nul, sizeof(with_nul) - 3, &q) == 0);
    /* The length bounds the parse, not the NUL. */
    CHECK(reg_google_client_id_parse("projects/p/locations/l/registries/r/devices/dXYZ", 45, &q) == 0 &&
          strcmp(q.device, "d") == 0);

    /* Parts of 255 bytes fit, 256 do not. */
    char buf[2048];
    char *d255 = repeat('d', 255), *d256 = repeat('d', 256);
    snprintf(buf, sizeof(buf), "projects/%s/locations/%s/registries/%s/devices/%s", d255, d255, d255,
             d255);
    CHECK(parse(buf, &p) == 0 && strlen(p.project) == 255 && strlen(p.device) == 255);
    snprintf(buf, sizeof(buf), "projects/p/locations/l/registries/r/devices/%s", d256);
    CHECK(parse(buf, &q) == -EINVAL);
    snprintf(buf, sizeof(buf), "projects/%s/locations/l/registries/r/devices/d", d256);
    CHECK(parse(buf, &q) == -EINVAL);
    free(d255);
    free(d256);

    CHECK(reg_google_client_id_is_google("projects/x", 10));
    CHECK(reg_google_client_id_is_google("projects/", 9));
    CHECK(!reg_google_client_id_is_google("projects", 8));
    CHECK(!reg_google_client_id_is_google("projects/x", 5));
    CHECK(!reg_google_client_id_is_google("thing-1", 7));
    CHECK(!reg_google_client_id_is_google(NULL, 0));
}

int main(void) {
    test_ids();
    test_projects();
    test_client_id();
    return tu_finish("test_names");
}
