-- 0004: AWS Device Shadows and provisioning templates. Same conventions as
-- 0003 (timestamps in microseconds, "pk" the rowid the API calls rowid).

-- One row per shadow ever written, classic (shadow_name '') or named. doc
-- is registry/aws_shadow.h's stored form (state, metadata, version, whether
-- it exists): a deleted shadow keeps its row so that a shadow recreated
-- within AWS's 48 hours continues the version numbering; present mirrors
-- the form's "exists" so ListNamedShadowsForThing needs no JSON.
-- No foreign key to aws_things: AWS keeps shadows apart from the registry
-- (a shadow needs no registered thing, and DeleteThing leaves them).
CREATE TABLE aws_shadows (
    thing_name   TEXT NOT NULL,
    shadow_name  TEXT NOT NULL,
    doc          TEXT NOT NULL,
    present      INTEGER NOT NULL CHECK (present IN (0, 1)),
    modified_us  INTEGER NOT NULL,
    PRIMARY KEY (thing_name, shadow_name)
) WITHOUT ROWID;

-- Provisioning templates (fleet provisioning and JITP) and their versions.
-- Like policies: next_version because AWS never reuses a version id.
CREATE TABLE aws_prov_templates (
    pk               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    template_id      TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    role_arn         TEXT NOT NULL DEFAULT '',
    type             TEXT NOT NULL,          -- FLEET_PROVISIONING | JITP
    pre_hook_json    TEXT,                   -- preProvisioningHook as given
    default_version  INTEGER NOT NULL CHECK (default_version > 0),
    next_version     INTEGER NOT NULL CHECK (next_version > default_version),
    created_us       INTEGER NOT NULL,
    modified_us      INTEGER NOT NULL
);

CREATE TABLE aws_prov_template_versions (
    template_pk  INTEGER NOT NULL REFERENCES aws_prov_templates (pk) ON DELETE CASCADE,
    version      INTEGER NOT NULL CHECK (version > 0),
    body         TEXT NOT NULL,
    created_us   INTEGER NOT NULL,
    PRIMARY KEY (template_pk, version)
) WITHOUT ROWID;
