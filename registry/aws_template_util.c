/* Small pieces the provisioning template files share: error messages
 * (formatted into the caller's buffer, cut to valid UTF-8, names quoted
 * short and free of control bytes), UTF-8 validation, the shape of an
 * intrinsic function call, a lookup by counted name, the
 * AWS::IoT::Certificate::* names and the Fn::Sub scanner. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "registry/aws_template_int.h"

/* ---- messages ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool tpl_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

const char *tpl_quote(const char *s, size_t n, char *buf, size_t cap)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t o = 0, i = 0;

    if (!s)
        n = 0;
    /* 'text' or 'text...': room for the quotes, "..." and the NUL. */
    if (cap < 8) {
        if (cap)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '\'';
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        size_t w = k ? k : 1;
        if (o - 1 + w > TPL_QUOTE_MAX || o + w + 5 > cap)
            break;
        if (!k || p[i] < 0x20 || p[i] == 0x7f) {
            buf[o++] = '?';
        } else {
            memcpy(buf + o, p + i, k);
            o += k;
        }
        i += w;
    }
    if (i < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* Cuts a trailing incomplete UTF-8 sequence (left by a truncating
 * vsnprintf) off s. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;

    /* Back over at most three continuation bytes to the lead byte. */
    while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i > 0 && (unsigned char)s[i - 1] >= 0x80) {
        i--;
        if (utf8_seq((const unsigned char *)s + i, n - i) != n - i)
            s[i] = '\0';
    }
}

int tpl_fail(struct tpl *t, int rc, const char *fmt, ...)
{
    va_list ap;

    if (!t->cap)
        return rc;
    va_start(ap, fmt);
    vsnprintf(t->err, t->cap, fmt, ap);
    va_end(ap);
    utf8_trim(t->err);
    return rc;
}

int tpl_nomem(struct tpl *t)
{
    return tpl_fail(t, -ENOMEM, "Out of memory");
}

/* ---- shapes ------------------------------------------------------------ */

static bool fn_key(const char *k)
{
    return strcmp(k, "Ref") == 0 || strncmp(k, "Fn::", 4) == 0;
}

bool tpl_fn(const json_t *v, const char **name, json_t **arg)
{
    void *it;

    if (!json_is_object(v) || json_object_size(v) != 1)
        return false;
    it = json_object_iter((json_t *)v);
    if (!fn_key(json_object_iter_key(it)))
        return false;
    *name = json_object_iter_key(it);
    *arg = json_object_iter_value(it);
    return true;
}

bool tpl_fn_mixed(const json_t *v)
{
    const char *k;
    json_t *x;

    if (!json_is_object(v) || json_object_size(v) < 2)
        return false;
    json_object_foreach((json_t *)v, k, x) {
        if (fn_key(k))
            return true;
    }
    return false;
}

json_t *tpl_getn(const json_t *o, const char *k, size_t n)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)o, key, v) {
        if (strlen(key) == n && memcmp(key, k, n) == 0)
            return v;
    }
    return NULL;
}

/* The certificate fields JITP fills [jit-provisioning.md]. */
static const char *const cert_params[] = {
    "AWS::IoT::Certificate::Country", "AWS::IoT::Certificate::Organization",
    "AWS::IoT::Certificate::OrganizationalUnit",
    "AWS::IoT::Certificate::DistinguishedNameQualifier", "AWS::IoT::Certificate::StateName",
    "AWS::IoT::Certificate::CommonName", "AWS::IoT::Certificate::SerialNumber",
    AWS_TEMPLATE_CERT_ID_PARAM,
};

bool tpl_cert_param(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(cert_params) / sizeof(cert_params[0]); i++) {
        if (strlen(cert_params[i]) == n && memcmp(cert_params[i], name, n) == 0)
            return true;
    }
    return false;
}

bool tpl_sub_next(const char **cur, const char *end, struct tpl_sub_piece *pc)
{
    const char *s = *cur, *q;

    if (s >= end)
        return false;
    if (end - s >= 2 && s[0] == '$' && s[1] == '{') {
        if (end - s >= 3 && s[2] == '!') {
            /* ${!x} is the literal "${x}": emit "${", go on after the '!'. */
            pc->p = s;
            pc->n = 2;
            pc->var = false;
            *cur = s + 3;
            return true;
        }
        q = memchr(s + 2, '}', (size_t)(end - s - 2));
        if (q) {
            pc->p = s + 2;
            pc->n = (size_t)(q - s - 2);
            pc->var = true;
            *cur = q + 1;
            return true;
        }
        pc->p = s;
        pc->n = (size_t)(end - s);
        pc->var = false;
        *cur = end;
        return true;
    }
    for (q = s + 1; q < end && !(q[0] == '$' && q + 1 < end && q[1] == '{'); q++)
        ;
    pc->p = s;
    pc->n = (size_t)(q - s);
    pc->var = false;
    *cur = q;
    return true;
}
