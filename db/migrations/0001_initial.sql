-- 0001: registries, devices and what hangs off a device (credentials, config
-- versions, states). db_open runs this in one transaction and sets
-- PRAGMA user_version itself. Certificates, things, policies and shadows come
-- in later migrations.
--
-- Keys are "pk" (INTEGER PRIMARY KEY, the rowid the db_* API calls rowid).
-- AUTOINCREMENT on registries and devices so a rowid is never reused: a
-- pending last-seen mark or a page token naming a deleted device must never
-- land on a newer one.
-- Timestamps are microseconds since the Unix epoch; 0 means never.

CREATE TABLE registries (
    pk          INTEGER PRIMARY KEY AUTOINCREMENT,
    project     TEXT NOT NULL,
    location    TEXT NOT NULL,
    id          TEXT NOT NULL,
    extra_json  TEXT,               -- API fields stored as-is; the webui owns their shape
    created_us  INTEGER NOT NULL
);
CREATE UNIQUE INDEX registries_name ON registries (project, location, id);

CREATE TABLE devices (
    -- No ON DELETE CASCADE: deleting a registry that still has devices is
    -- refused (Google did), so the foreign key is the last line of defence.
    pk                   INTEGER PRIMARY KEY AUTOINCREMENT,
    registry_pk          INTEGER NOT NULL REFERENCES registries (pk),
    id                   TEXT NOT NULL,
    -- The uint64 bit pattern in a signed column; the store draws values
    -- below 2^63, imports may carry any non-zero uint64.
    num_id               INTEGER NOT NULL CHECK (num_id <> 0),
    blocked              INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    extra_json           TEXT,
    created_us           INTEGER NOT NULL,
    last_heartbeat_us    INTEGER NOT NULL DEFAULT 0,
    last_event_us        INTEGER NOT NULL DEFAULT 0,
    last_state_us        INTEGER NOT NULL DEFAULT 0,
    last_config_ack_us   INTEGER NOT NULL DEFAULT 0,
    last_config_send_us  INTEGER NOT NULL DEFAULT 0,
    last_error_us        INTEGER NOT NULL DEFAULT 0,
    last_error_code      INTEGER NOT NULL DEFAULT 0,
    last_error_message   TEXT NOT NULL DEFAULT ''
);
-- Lookup by client id (registry + device id) and by numeric id.
CREATE UNIQUE INDEX devices_registry_id ON devices (registry_pk, id);
CREATE UNIQUE INDEX devices_num_id ON devices (num_id);
-- Listing pages through a registry in pk order (the index carries the rowid,
-- so no sort), counting, and the foreign-key check on registry delete.
CREATE INDEX devices_registry ON devices (registry_pk);

CREATE TABLE credentials (
    device_pk      INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
    position       INTEGER NOT NULL CHECK (position >= 0),
    format         INTEGER NOT NULL,   -- enum db_key_format; checked in C so new formats need no table rebuild
    key_pem        TEXT NOT NULL,
    expiration_us  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_pk, position)
);

CREATE TABLE device_configs (
    device_pk        INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
    version          INTEGER NOT NULL CHECK (version > 0),
    cloud_update_us  INTEGER NOT NULL,
    device_ack_us    INTEGER NOT NULL DEFAULT 0,
    data             BLOB NOT NULL,
    PRIMARY KEY (device_pk, version)
);

CREATE TABLE device_states (
    -- pk orders a device's states by arrival: a new row always gets a pk
    -- above every row of its device, even when the wall clock stepped back.
    pk          INTEGER PRIMARY KEY,
    device_pk   INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
    update_us   INTEGER NOT NULL,
    data        BLOB NOT NULL
);
CREATE INDEX device_states_device ON device_states (device_pk);
