/* AWS IoT provisioning templates [aws-iot-core.md 1.9, 1.10]: the engine
 * JITP and fleet provisioning's RegisterThing share. It validates a template
 * body as CreateProvisioningTemplate would and runs it with parameter values
 * into a plan: the thing, the certificate and the policies to create or
 * attach, and the device configuration to answer with. Applying the plan to
 * the registry is the caller's job (names, attribute syntax, policy
 * documents and the OverrideSettings are checked there). Pure: no store, no
 * sockets, no clock, no logging; jansson only; fuzzed.
 *
 * The template language is the developer guide's (provision-template.md):
 * sections Parameters (Type "String", optional Default), Mappings (two
 * levels, literal values), Conditions, Resources (AWS::IoT::Thing,
 * AWS::IoT::Certificate, AWS::IoT::Policy, each with Properties, an
 * optional Condition and OverrideSettings) and DeviceConfiguration; the
 * intrinsic functions Ref, Fn::Join, Fn::Select, Fn::Split, Fn::Sub,
 * Fn::FindInMap, Fn::If, Fn::Base64 and, in Conditions, Fn::Equals,
 * Fn::Not, Fn::And, Fn::Or and {"Condition": name}, with CloudFormation's
 * meaning. Choices where AWS documents nothing are listed in
 * aws_template_int.h. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* AWS: templateBody is at most 10240 characters (counted here in bytes). */
#define AWS_TEMPLATE_MAX_BODY 10240
/* Nesting of the template's JSON (and of condition references). */
#define AWS_TEMPLATE_MAX_DEPTH 32
/* Bytes of text one run may produce in all (Ref copies, Fn::Join, Fn::Sub,
 * Fn::Split, Fn::Base64), so nested substitutions cannot grow without
 * bound; past it the run fails with -EINVAL. */
#define AWS_TEMPLATE_MAX_OUTPUT (1024 * 1024)

/* The certificate id JITP and fleet provisioning supply; a template may Ref
 * it (and the other AWS::IoT::Certificate::* names) without declaring it. */
#define AWS_TEMPLATE_CERT_ID_PARAM "AWS::IoT::Certificate::Id"

/* A template parameter value supplied by the caller: fleet provisioning's
 * "parameters" object (string values) or, for JITP, the certificate fields
 * AWS::IoT::Certificate::{Country,Organization,OrganizationalUnit,
 * DistinguishedNameQualifier,StateName,CommonName,SerialNumber,Id}. Both
 * strings borrowed, NUL-terminated, UTF-8. When a name appears twice the
 * first value counts. */
struct aws_template_param {
    const char *name;
    const char *value;
};

struct aws_template_policy {
    char *name;         /* owned: PolicyName of an existing policy, or NULL */
    char *document;     /* owned: inline PolicyDocument (JSON text as given, a string or an
                         * object serialised compactly), or NULL */
};

enum aws_template_override {
    AWS_TEMPLATE_OVERRIDE_NONE = 0,     /* no OverrideSettings entry */
    AWS_TEMPLATE_DO_NOTHING,
    AWS_TEMPLATE_MERGE,                 /* thing AttributePayload and ThingGroups only */
    AWS_TEMPLATE_REPLACE,
    AWS_TEMPLATE_FAIL,
};

/* What a run decided. Every pointer is owned by the plan. */
struct aws_template_plan {
    bool has_thing;
    char *thing_name;           /* resolved ThingName (set when has_thing) */
    char *thing_type;           /* ThingTypeName or NULL */
    char *attributes_json;      /* AttributePayload as a compact JSON object of string values
                                 * ("{}" when given empty), or NULL when absent */
    char **thing_groups;        /* ThingGroups in template order */
    size_t n_thing_groups;
    char *billing_group;        /* BillingGroup or NULL */
    enum aws_template_override override_attributes, override_thing_type, override_thing_groups;
    bool has_certificate;
    char *certificate_id;       /* resolved CertificateId (set when has_certificate) */
    char *certificate_status;   /* "ACTIVE" or "INACTIVE" (upper-cased), or NULL (caller's default) */
    enum aws_template_override override_certificate_status;
    struct aws_template_policy *policies;   /* every AWS::IoT::Policy resource, in document order */
    size_t n_policies;
    char *device_configuration; /* DeviceConfiguration as compact JSON object text; "{}" when absent */
};

/* Validates a template body (len bytes, no NUL needed) as
 * CreateProvisioningTemplate would: at most AWS_TEMPLATE_MAX_BODY bytes,
 * JSON, an object, at most AWS_TEMPLATE_MAX_DEPTH levels, Resources present,
 * resource types and properties known, at most one thing and one
 * certificate, intrinsic functions well-formed, Ref and Fn::Sub targets
 * declared parameters (or AWS::IoT::Certificate::*), conditions declared and
 * not circular, Fn::FindInMap naming a declared mapping. Returns 0 or
 * -EINVAL with an AWS-like message in err (always NUL-terminated, valid
 * UTF-8; cap > 0), -ENOMEM. */
int aws_template_check(const char *body, size_t len, char *err, size_t cap);

/* Runs the template with the given parameter values: checks it as
 * aws_template_check, resolves Parameters (a declared parameter without a
 * supplied value takes its Default; without either -> -ENOENT with a
 * message naming it), Conditions, every intrinsic function, resource
 * Conditions (a resource whose condition is false is skipped), and fills
 * *out (zeroed by the caller; every string owned, released by
 * aws_template_plan_clear). Returns 0, -EINVAL (invalid template or a
 * function that cannot be resolved, message in err), -ENOENT (missing
 * parameter), -ENOMEM. On failure *out is left cleared. err as above; ""
 * on success. */
int aws_template_run(const char *body, size_t len, const struct aws_template_param *params,
                     size_t n_params, struct aws_template_plan *out, char *err, size_t cap);

/* NULL-safe; leaves the plan zeroed. */
void aws_template_plan_clear(struct aws_template_plan *p);
