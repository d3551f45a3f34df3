/* libcurl glue for iotcorectl (see http.h). The only file that includes
 * curl.h. */
#include "cli/http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* Connecting to a local admin port is instant; a bulk import of 100k
 * devices is the slowest request and should take seconds, not minutes. */
#define CONNECT_TIMEOUT_S 10L
#define REQUEST_TIMEOUT_S 600L
#define ENDPOINT_MAX 1024

struct ctl_http {
    CURL *curl;                     /* owned */
    char endpoint[ENDPOINT_MAX];
    char *auth_header;              /* owned, wiped on free; NULL without a token */
    char *ca_file;                  /* owned or NULL */
    char err[CURL_ERROR_SIZE];
    struct buf *resp;               /* borrowed during a request */
    bool overflow;
    FILE *upload;                   /* borrowed during a request */
    bool upload_failed;
};

static bool header_safe(const char *s)
{
    /* Printable ASCII without spaces: anything else could split or forge a
     * header line. */
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int ctl_http_new(const char *endpoint, const char *token, const char *ca_file,
                 struct ctl_http **ret)
{
    static const char bearer[] = "Authorization: Bearer ";
    struct ctl_http *h;
    size_t len = strlen(endpoint);

    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
        return -EINVAL;
    while (len > 0 && endpoint[len - 1] == '/')
        len--;
    if (len >= ENDPOINT_MAX || !header_safe(token))
        return -EINVAL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    memcpy(h->endpoint, endpoint, len);
    h->endpoint[len] = '\0';
    if (*token) {
        size_t tlen = strlen(token);

        h->auth_header = malloc(sizeof(bearer) + tlen);
        if (!h->auth_header)
            goto oom;
        memcpy(h->auth_header, bearer, sizeof(bearer) - 1);
        memcpy(h->auth_header + sizeof(bearer) - 1, token, tlen + 1);
    }
    if (ca_file) {
        h->ca_file = strdup(ca_file);
        if (!h->ca_file)
            goto oom;
    }
    h->curl = curl_easy_init();
    if (!h->curl)
        goto oom;
    *ret = h;
    return 0;
oom:
    ctl_http_free(h);
    return -ENOMEM;
}

void ctl_http_free(struct ctl_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    if (h->auth_header) {
        explicit_bzero(h->auth_header, strlen(h->auth_header));
        free(h->auth_header);
    }
    free(h->ca_file);
    free(h);
}

const char *ctl_http_endpoint(const struct ctl_http *h)
{
    return h->endpoint;
}

const char *ctl_http_error(const struct ctl_http *h)
{
    return h->err;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct ctl_http *h = ud;

    if (buf_append(h->resp, p, size * n) < 0) {
        /* Returning short makes libcurl stop with CURLE_WRITE_ERROR. */
        h->overflow = true;
        return 0;
    }
    return size * n;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    struct ctl_http *h = ud;
    size_t got = fread(p, size, n, h->upload);

    if (got < n && ferror(h->upload)) {
        h->upload_failed = true;
        return CURL_READFUNC_ABORT;
    }
    return got * size;
}

static int map_curl(const struct ctl_http *h, CURLcode cc)
{
    switch (cc) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EINVAL;
    case CURLE_WRITE_ERROR:
        return h->overflow ? -EMSGSIZE : -ECOMM;
    case CURLE_READ_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        return h->upload_failed ? -EIO : -ECOMM;
    default:
        return -ECOMM;
    }
}

static int setup(struct ctl_http *h, const char *method, const char *url,
                 const struct ctl_http_body *body, struct curl_slist *headers)
{
    CURL *c = h->curl;
    int bad = 0;

#define SET(opt, val) (bad |= curl_easy_setopt(c, opt, val) != CURLE_OK)

    curl_easy_reset(c);
    /* Only http(s), never a redirect: the admin API does not redirect, and
     * following one could carry the token elsewhere. */
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    SET(CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    SET(CURLOPT_ERRORBUFFER, h->err);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, h);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_USERAGENT, "iotcorectl");
    if (h->ca_file)
        SET(CURLOPT_CAINFO, h->ca_file);
    if (body && body->file) {
        h->upload = body->file;
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, h);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->file_len);
    } else if (body) {
        SET(CURLOPT_POSTFIELDS, body->data);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    }
    /* POSTFIELDS makes the request a POST; PATCH keeps the body. */
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        SET(CURLOPT_CUSTOMREQUEST, method);
    else if (strcmp(method, "POST") == 0 && !body)
        SET(CURLOPT_POSTFIELDS, "");
#undef SET
    return bad ? -EINVAL : 0;
}

int ctl_http_request(struct ctl_http *h, const char *method, const char *path,
                     const struct ctl_http_body *body, long *ret_status, struct buf *resp)
{
    struct curl_slist *headers = NULL, *tmp;
    char url[ENDPOINT_MAX + 4200], ctype[160];
    const char *lines[] = { "Accept: application/json", "Expect:", ctype, h->auth_header };
    CURLcode cc;
    long status = 0;
    int n, rc;

    h->err[0] = '\0';
    h->overflow = false;
    h->upload = NULL;
    h->upload_failed = false;
    h->resp = resp;
    buf_reset(resp);
    n = snprintf(url, sizeof(url), "%s%s", h->endpoint, path);
    if (n < 0 || (size_t)n >= sizeof(url))
        return -EINVAL;
    /* "Expect:" turns off libcurl's 100-continue wait on large bodies. */
    n = snprintf(ctype, sizeof(ctype), "Content-Type: %s",
                 body && body->content_type ? body->content_type : "application/json");
    if (n < 0 || (size_t)n >= sizeof(ctype))
        return -EINVAL;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!lines[i] || (i == 2 && !body))
            continue;
        tmp = curl_slist_append(headers, lines[i]);
        if (!tmp) {
            rc = -ENOMEM;
            goto out;
        }
        headers = tmp;
    }
    rc = setup(h, method, url, body, headers);
    if (rc < 0)
        goto out;
    cc = curl_easy_perform(h->curl);
    if (cc != CURLE_OK && !h->err[0])
        snprintf(h->err, sizeof(h->err), "%s", curl_easy_strerror(cc));
    rc = map_curl(h, cc);
    if (rc == 0 && curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        rc = -ECOMM;
    if (rc == 0)
        *ret_status = status;
out:
    /* libcurl copied the Authorization line into the list: wipe that copy. */
    for (tmp = headers; tmp; tmp = tmp->next)
        if (strncmp(tmp->data, "Authorization:", 14) == 0)
            explicit_bzero(tmp->data, strlen(tmp->data));
    curl_slist_free_all(headers);
    h->resp = NULL;
    h->upload = NULL;
    return rc;
}
