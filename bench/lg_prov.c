/* Provisioning over the admin REST API (see lg_prov.h). A minimal HTTP/1.1
 * client: blocking socket with timeouts, Content-Length or chunked
 * replies, every buffer bounded. */
#include "bench/lg_prov.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"

#define PROV_MAX_REPLY (256 * 1024)
#define PROV_MAX_BODY (16 * 1024)

struct http {
    int fd;
    char host[64];
    int port;
    struct buf in;
};

static int parse_url(const char *url, char *host, size_t hcap, int *port)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        return -EINVAL;
    p += 7;
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    size_t hl = colon ? (size_t)(colon - p) : (slash ? (size_t)(slash - p) : strlen(p));
    if (hl == 0 || hl >= hcap)
        return -EINVAL;
    memcpy(host, p, hl);
    host[hl] = '\0';
    *port = 80;
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || v <= 0 || v > 65535)
            return -EINVAL;
        *port = (int)v;
    }
    return 0;
}

static int http_connect(struct http *h)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)h->port) };
    if (inet_pton(AF_INET, h->host, &sa.sin_addr) != 1)
        return -EINVAL;
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->fd < 0)
        return -errno;
    struct timeval tv = { .tv_sec = 15 };
    int one = 1;
    setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(h->fd);
        h->fd = -1;
        return e;
    }
    buf_reset(&h->in);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more bytes into h->in; -ECONNRESET on EOF. */
static int fill(struct http *h)
{
    uint8_t *dst;
    int r = buf_reserve(&h->in, 8192, &dst);
    if (r < 0)
        return r;
    ssize_t n;
    do {
        n = recv(h->fd, dst, 8192, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ECONNRESET;
    buf_commit(&h->in, (size_t)n);
    return 0;
}

static const char *find(const struct buf *b, size_t from, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = from; i + nl <= b->len; i++)
        if (memcmp(b->data + i, needle, nl) == 0)
            return (const char *)b->data + i;
    return NULL;
}

/* Case-insensitive header lookup inside [head, head_end). */
static const char *header(const char *head, const char *head_end, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = head; p && p + nl < head_end;) {
        const char *eol = memchr(p, '\n', (size_t)(head_end - p));
        if (!eol)
            break;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* One request, one reply. *status gets the HTTP status; body (up to bcap-1
 * bytes, NUL-terminated, truncated) is copied for error messages. */
static int http_request(struct http *h, const char *method, const char *path, const char *token,
                        const char *body, int *status, char *rbody, size_t bcap)
{
    char head[1024];
    size_t blen = body ? strlen(body) : 0;
    int hl = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, h->host, h->port, token, blen);
    if (hl < 0 || (size_t)hl >= sizeof(head))
        return -EMSGSIZE;
    int r;
    if (h->fd < 0 && (r = http_connect(h)) < 0)
        return r;
    if ((r = write_all(h->fd, head, (size_t)hl)) < 0 || (blen && (r = write_all(h->fd, body, blen)) < 0))
        return r;

    const char *eoh;
    while (!(eoh = find(&h->in, 0, "\r\n\r\n")))
        if ((r = fill(h)) < 0)
            return r;
    const char *start = (const char *)h->in.data;
    if (sscanf(start, "HTTP/1.%*d %d", status) != 1)
        return -EBADMSG;
    size_t hdr_len = (size_t)(eoh - start) + 4;
    const char *cl = header(start, eoh + 2, "content-length");
    const char *te = header(start, eoh + 2, "transfer-encoding");
    const char *conn = header(start, eoh + 2, "connection");
    bool close_after = conn && strncasecmp(conn, "close", 5) == 0;
    size_t body_len = 0, consumed;
    char *copy = rbody;
    size_t ccap = bcap;
    if (ccap)
        copy[0] = '\0';
    if (te && strncasecmp(te, "chunked", 7) == 0) {
        size_t off = hdr_len;
        for (;;) {
            const char *eol;
            while (!(eol = find(&h->in, off, "\r\n")))
                if ((r = fill(h)) < 0)
                    return r;
            unsigned long n = strtoul((const char *)h->in.data + off, NULL, 16);
            if (n > PROV_MAX_BODY)
                return -EMSGSIZE;
            size_t data_off = (size_t)(eol - (const char *)h->in.data) + 2;
            while (h->in.len < data_off + n + 2)
                if ((r = fill(h)) < 0)
                    return r;
            size_t room = ccap > body_len + 1 ? ccap - body_len - 1 : 0;
            size_t take = n < room ? n : room;
            memcpy(copy + body_len, h->in.data + data_off, take);
            body_len += take;
            if (ccap)
                copy[body_len] = '\0';
            off = data_off + n + 2;
            if (n == 0)
                break;
        }
        consumed = off;
    } else {
        size_t n = cl ? strtoul(cl, NULL, 10) : 0;
        if (n > PROV_MAX_BODY)
            return -EMSGSIZE;
        while (h->in.len < hdr_len + n)
            if ((r = fill(h)) < 0)
                return r;
        size_t take = ccap ? (n < ccap - 1 ? n : ccap - 1) : 0;
        memcpy(copy, h->in.data + hdr_len, take);
        if (ccap)
            copy[take] = '\0';
        consumed = hdr_len + n;
    }
    buf_consume(&h->in, consumed);
    if (close_after) {
        close(h->fd);
        h->fd = -1;
        buf_reset(&h->in);
    }
    return 0;
}

/* JSON string body: escapes quotes, backslashes and control bytes. */
static int json_escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (o + 7 >= cap)
            return -EMSGSIZE;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return (int)o;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int lg_prov_run(const struct lg_prov_req *rq, struct lg_prov_result *res)
{
    struct http h = { .fd = -1 };
    char path[512], body[8192], pem[6144], reply[512];
    int status = 0, r;

    memset(res, 0, sizeof(*res));
    buf_init(&h.in, PROV_MAX_REPLY);
    if (parse_url(rq->admin_url, h.host, sizeof(h.host), &h.port) < 0) {
        snprintf(res->error, sizeof(res->error), "admin url must be http://IPV4:PORT");
        return -EINVAL;
    }
    if (json_escape(rq->public_pem, pem, sizeof(pem)) < 0) {
        snprintf(res->error, sizeof(res->error), "public key too long");
        return -EMSGSIZE;
    }
    double t0 = now_s();

    snprintf(path, sizeof(path), "/v1/projects/%s/locations/%s/registries", rq->project, rq->location);
    snprintf(body, sizeof(body), "{\"id\":\"%s\"}", rq->registry);
    r = http_request(&h, "POST", path, rq->token, body, &status, reply, sizeof(reply));
    if (r < 0 || (status != 200 && status != 409)) {
        snprintf(res->error, sizeof(res->error), "create registry: %s status=%d %.180s",
                 r < 0 ? strerror(-r) : "", status, reply);
        if (r >= 0)
            r = -EIO;
        goto out;
    }

    snprintf(path, sizeof(path), "/v1/projects/%s/locations/%s/registries/%s/devices", rq->project,
             rq->location, rq->registry);
    for (unsigned i = 0; i < rq->count; i++) {
        int bl = snprintf(body, sizeof(body),
                          "{\"id\":\"%s%u\",\"credentials\":[{\"publicKey\":"
                          "{\"format\":\"%s\",\"key\":\"%s\"}}]}",
                          rq->device_prefix, rq->offset + i, rq->format, pem);
        if (bl < 0 || (size_t)bl >= sizeof(body)) {
            r = -EMSGSIZE;
            snprintf(res->error, sizeof(res->error), "device body too long");
            goto out;
        }
        r = http_request(&h, "POST", path, rq->token, body, &status, reply, sizeof(reply));
        if (r == -ECONNRESET || r == -EPIPE) {
            /* The server may close an idle keep-alive connection: one retry. */
            close(h.fd);
            h.fd = -1;
            r = http_request(&h, "POST", path, rq->token, body, &status, reply, sizeof(reply));
        }
        if (r < 0 || (status != 200 && status != 409)) {
            snprintf(res->error, sizeof(res->error), "create device %s%u: %s status=%d %.160s",
                     rq->device_prefix, rq->offset + i, r < 0 ? strerror(-r) : "", status, reply);
            if (r >= 0)
                r = -EIO;
            goto out;
        }
        if (status == 200)
            res->created++;
        else
            res->existed++;
    }
    r = 0;
out:
    res->seconds = now_s() - t0;
    if (h.fd >= 0)
        close(h.fd);
    buf_free(&h.in);
    return r < 0 ? r : 0;
}
