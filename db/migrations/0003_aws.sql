-- 0003: the AWS IoT Core tables: thing types and things, device and CA
-- certificates, policies with their versions and targets, thing principals
-- and a few account settings. Same conventions as 0001: "pk" is the rowid
-- the db_aws_* API calls rowid, timestamps are microseconds (0 = never).
-- AUTOINCREMENT wherever a rowid is a page token the API hands out, so a
-- token naming a deleted row never lands on a newer one.
-- Names and ARNs are checked by the API (and their length by db/); the
-- enumerations (certificate status, mode, auto-registration) are checked
-- in C too, so AWS adding a value needs no table rebuild.

CREATE TABLE aws_thing_types (
    pk               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    type_id          TEXT NOT NULL,
    properties_json  TEXT,          -- thingTypeProperties as the API got it
    deprecated       INTEGER NOT NULL DEFAULT 0 CHECK (deprecated IN (0, 1)),
    deprecated_us    INTEGER NOT NULL DEFAULT 0,
    created_us       INTEGER NOT NULL
);

CREATE TABLE aws_things (
    pk               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    thing_id         TEXT NOT NULL,
    -- No ON DELETE CASCADE: AWS refuses to delete a thing type that things
    -- still use, and db_aws_thing_type_delete checks first; the key is the
    -- last line of defence (and turns a vanished type into -ENOENT).
    type_pk          INTEGER REFERENCES aws_thing_types (pk),
    attributes_json  TEXT,          -- a JSON object of string values; NULL reads as {}
    version          INTEGER NOT NULL CHECK (version > 0),
    created_us       INTEGER NOT NULL
);
-- ListThings by thingTypeName pages in pk order (the index carries the
-- rowid, so no sort), and the in-use check of a thing type delete.
CREATE INDEX aws_things_type ON aws_things (type_pk);

CREATE TABLE aws_certs (
    pk               INTEGER PRIMARY KEY AUTOINCREMENT,
    cert_id          TEXT NOT NULL UNIQUE,   -- lowercase hex SHA-256 of the DER
    pem              TEXT NOT NULL,
    status           TEXT NOT NULL,
    -- The CA's cert_id, '' = none. Not a foreign key: the API decides what
    -- a CA delete does to the certificates it issued, and a device
    -- certificate keeps naming its issuer either way.
    ca_cert_id       TEXT NOT NULL DEFAULT '',
    mode             TEXT NOT NULL,
    not_before_us    INTEGER NOT NULL DEFAULT 0,
    not_after_us     INTEGER NOT NULL DEFAULT 0,
    created_us       INTEGER NOT NULL,
    modified_us      INTEGER NOT NULL,
    generation       INTEGER NOT NULL
);
-- ListCertificatesByCA (in pk order either way) and the per-CA count.
CREATE INDEX aws_certs_ca ON aws_certs (ca_cert_id);

CREATE TABLE aws_ca_certs (
    pk                        INTEGER PRIMARY KEY AUTOINCREMENT,
    cert_id                   TEXT NOT NULL UNIQUE,
    pem                       TEXT NOT NULL,
    status                    TEXT NOT NULL,
    mode                      TEXT NOT NULL,
    auto_registration         TEXT NOT NULL,
    registration_config_json  TEXT,
    not_before_us             INTEGER NOT NULL DEFAULT 0,
    not_after_us              INTEGER NOT NULL DEFAULT 0,
    created_us                INTEGER NOT NULL,
    modified_us               INTEGER NOT NULL,
    generation                INTEGER NOT NULL
);

CREATE TABLE aws_policies (
    pk               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    default_version  INTEGER NOT NULL CHECK (default_version > 0),
    -- The id the next CreatePolicyVersion gets: AWS never reuses a version
    -- id, even after the highest one was deleted, so max(version) + 1 will
    -- not do.
    next_version     INTEGER NOT NULL CHECK (next_version > default_version),
    created_us       INTEGER NOT NULL,
    modified_us      INTEGER NOT NULL,
    generation       INTEGER NOT NULL
);

CREATE TABLE aws_policy_versions (
    policy_pk   INTEGER NOT NULL REFERENCES aws_policies (pk) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version > 0),
    document    TEXT NOT NULL,
    created_us  INTEGER NOT NULL,
    PRIMARY KEY (policy_pk, version)
);

CREATE TABLE aws_policy_targets (
    -- pk is the attach order and the page token of both listings.
    pk          INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_pk   INTEGER NOT NULL REFERENCES aws_policies (pk) ON DELETE CASCADE,
    target      TEXT NOT NULL,      -- certificate or thing group ARN
    created_us  INTEGER NOT NULL,
    UNIQUE (policy_pk, target)
);
-- ListTargetsForPolicy in attach order (one policy may be attached to a
-- whole fleet's certificates, so the paging must not sort).
CREATE INDEX aws_policy_targets_policy ON aws_policy_targets (policy_pk);
-- The policies of a certificate: every AWS CONNECT and publish evaluates
-- them; ListAttachedPolicies; forgetting a deleted certificate.
CREATE INDEX aws_policy_targets_target ON aws_policy_targets (target);

CREATE TABLE aws_thing_principals (
    pk          INTEGER PRIMARY KEY AUTOINCREMENT,
    thing_pk    INTEGER NOT NULL REFERENCES aws_things (pk) ON DELETE CASCADE,
    principal   TEXT NOT NULL,      -- certificate ARN
    exclusive   INTEGER NOT NULL DEFAULT 0 CHECK (exclusive IN (0, 1)),   -- EXCLUSIVE_THING
    created_us  INTEGER NOT NULL,
    -- Also the index of the CONNECT check (thing name -> pk, then this).
    UNIQUE (thing_pk, principal)
);
-- ListThingPrincipals in attach order.
CREATE INDEX aws_thing_principals_thing ON aws_thing_principals (thing_pk);
-- ListPrincipalThings and the count the API checks before a certificate
-- delete.
CREATE INDEX aws_thing_principals_principal ON aws_thing_principals (principal);

-- A handful of account-wide values (registration code, endpoint prefix).
CREATE TABLE aws_settings (
    name   TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
) WITHOUT ROWID;
