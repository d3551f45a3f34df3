/* AWS IoT policies [aws-iot-core.md section 2]: validate a policy document
 * (the IAM grammar AWS IoT accepts), compile the documents that apply to one
 * connection with its policy variables substituted, and decide an action on
 * a resource ARN. Pure: no store, no sockets, no logging; fuzzed.
 *
 * Evaluation is IAM's: default deny; an applicable Allow grants; any
 * applicable explicit Deny wins. Resource patterns match the whole ARN with
 * `*` (any run of characters, '/' included) and `?` (one character); MQTT
 * `+` and `#` are literal there. A substituted variable is literal text: a
 * client id "a*" only ever matches "a*". A statement whose variables cannot
 * be resolved never matches; like AWS, a certificate attribute holding a
 * wildcard character or longer than 1024 characters is not substituted
 * (unresolvable). Conditions depend only on the connection, so they are
 * decided at compile time; an operator or key this emulator does not know
 * fails closed (an Allow with it never applies; a Deny with it applies
 * unless another part of its condition is known to be false). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* AWS: the document may have at most 2048 characters besides whitespace. */
#define AWS_POLICY_MAX_CHARS 2048

/* The data-plane actions the daemon checks. */
enum aws_action {
    AWS_ACT_CONNECT,            /* iot:Connect       on ...:client/CLIENTID */
    AWS_ACT_PUBLISH,            /* iot:Publish       on ...:topic/TOPIC */
    AWS_ACT_SUBSCRIBE,          /* iot:Subscribe     on ...:topicfilter/FILTER */
    AWS_ACT_RECEIVE,            /* iot:Receive       on ...:topic/TOPIC */
    AWS_ACT_RETAIN_PUBLISH,     /* iot:RetainPublish on ...:topic/TOPIC */
    AWS_ACT_GET_THING_SHADOW,   /* iot:GetThingShadow on ...:thing/NAME[/SHADOW] */
    AWS_ACT_UPDATE_THING_SHADOW,
    AWS_ACT_DELETE_THING_SHADOW,
    AWS_ACT_LIST_NAMED_SHADOWS, /* iot:ListNamedShadowsForThing */
    AWS_ACT_GET_RETAINED,       /* iot:GetRetainedMessage */
    AWS_ACT_LIST_RETAINED,      /* iot:ListRetainedMessages */
    AWS_ACT__COUNT,
};

/* "iot:Connect"... */
const char *aws_action_name(enum aws_action a);

/* Validates a policy document as CreatePolicy / CreatePolicyVersion do.
 * Returns 0, or -EINVAL with the reason in why (the message of AWS's
 * MalformedPolicyException, e.g. "Policy document is not valid JSON" or
 * "Policy document is longer than 2048 characters"), -ENOMEM. */
int aws_policy_validate(const char *doc, size_t len, char *why, size_t why_len);

/* One name/value pair: a certificate subject or issuer attribute (names as
 * AWS spells them: CommonName, Organization, OrganizationalUnit, Country,
 * State, SerialNumber, DistinguishedNameQualifier, Title, Surname,
 * GivenName, Initials, Pseudonym, GenerationQualifier), in certificate
 * order (a multi-valued attribute appears several times), or a thing
 * attribute. */
struct aws_kv {
    const char *name;
    const char *value;
};

/* Who the connection is: the sources of the policy variables and condition
 * keys. Strings are borrowed; NULL means absent (a variable naming it is
 * unresolvable). Only validated identities go here. */
struct aws_policy_ctx {
    const char *region;                 /* for ARNs: arn:aws:iot:REGION:ACCOUNT:... */
    const char *account;
    const char *client_id;              /* ${iot:ClientId} */
    /* ${iot:Connection.Thing.*}: set only when a thing named like the
     * client id is attached to the certificate (AWS's rule). */
    const char *thing_name;
    const char *thing_type_name;
    const struct aws_kv *thing_attrs;
    size_t n_thing_attrs;
    bool thing_is_attached;             /* iot:Connection.Thing.IsAttached */
    const struct aws_kv *subject;       /* ${iot:Certificate.Subject.*} */
    size_t n_subject;
    const struct aws_kv *issuer;        /* ${iot:Certificate.Issuer.*} */
    size_t n_issuer;
    const char *cert_serial;            /* ${iot:Certificate.SerialNumber} (hex) */
    const char *cert_id;                /* certificate id (principal) */
    const char *source_ip;              /* aws:SourceIp (condition key) */
    bool persistent_connect;            /* iot:ConnectAttributes PersistentConnect */
    bool last_will;                     /* iot:ConnectAttributes LastWill */
};

/* The policies of one connection, compiled. Immutable; checks are cheap. */
struct aws_policy_set;

/* Compiles n documents (docs[i] of lens[i] bytes, not NUL-terminated) for
 * ctx. A document that fails aws_policy_validate is skipped (stored
 * documents were validated at creation; skipping can only deny). Returns 0,
 * -ENOMEM. An empty set denies everything. */
int aws_policy_compile(const char *const *docs, const size_t *lens, size_t n,
                       const struct aws_policy_ctx *ctx, struct aws_policy_set **ret);
void aws_policy_set_free(struct aws_policy_set *s);     /* NULL-safe */

enum aws_decision {
    AWS_DENY_IMPLICIT = 0,      /* no statement allows it */
    AWS_ALLOW,
    AWS_DENY_EXPLICIT,          /* a Deny statement matches */
};

/* Decides action a on resource, the ARN tail after
 * "arn:aws:iot:REGION:ACCOUNT:" (e.g. "topic/a/b", "client/dev1"), len
 * bytes (no NUL needed). NULL s denies. A resource of exactly "*" (the
 * actions whose resource AWS gives as `*`, e.g. iot:ListRetainedMessages)
 * is matched as "*" itself, without the prefix, as IAM does: only a policy
 * Resource such as "*" covers it. */
enum aws_decision aws_policy_check(const struct aws_policy_set *s, enum aws_action a,
                                   const char *resource, size_t len);
static inline bool aws_policy_allows(const struct aws_policy_set *s, enum aws_action a,
                                     const char *resource, size_t len)
{
    return aws_policy_check(s, a, resource, len) == AWS_ALLOW;
}
