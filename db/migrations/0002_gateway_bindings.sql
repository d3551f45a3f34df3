-- 0002: gateway bindings (Google bindDeviceToGateway). A binding lets a
-- gateway attach the device over MQTT (ASSOCIATION_ONLY and
-- ASSOCIATION_AND_DEVICE_AUTH_TOKEN). Google refused to delete a device
-- that is still bound; the API checks that, the cascade only keeps the
-- table clean whatever path deletes a device.
CREATE TABLE gateway_bindings (
    gateway_pk  INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
    device_pk   INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
    created_us  INTEGER NOT NULL,
    PRIMARY KEY (gateway_pk, device_pk)
);
-- "gateways this device is bound to" (associationsDeviceId) and the cascade.
CREATE INDEX gateway_bindings_device ON gateway_bindings (device_pk);
