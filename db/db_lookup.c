/* Looking a device up by the names a Google MQTT client id carries
 * (projects/P/locations/L/registries/R/devices/D), where D may be the
 * device's string id or its decimal num_id. Built on the registry and device
 * getters only. */
#include <errno.h>

#include "db/db.h"

/* All digits, no sign or space, fits in a uint64, non-zero (0 is never a
 * num_id). */
static bool parse_num_id(const char *s, uint64_t *ret) {
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return false;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v == 0)
        return false;
    *ret = v;
    return true;
}

int db_device_lookup(struct db *db, const char *project, const char *location,
                     const char *registry, const char *device, struct db_registry *ret_reg,
                     struct db_device *ret_dev) {
    struct db_registry reg;
    struct db_device dev;
    uint64_t num_id;
    int r;

    if (!db || !project || !location || !registry || !device)
        return -EINVAL;
    r = db_registry_get(db, project, location, registry, &reg);
    if (r < 0)
        return r;
    /* The string id first: Google device ids start with a letter, but ids
     * this store accepts may be all digits, and then the exact id wins. */
    r = db_device_get_by_id(db, reg.rowid, device, &dev);
    if (r == -ENOENT && parse_num_id(device, &num_id))
        r = db_device_get_by_num_id(db, reg.rowid, num_id, &dev);
    if (r < 0) {
        db_registry_clear(&reg);
        return r;
    }
    if (ret_reg)
        *ret_reg = reg;
    else
        db_registry_clear(&reg);
    if (ret_dev)
        *ret_dev = dev;
    else
        db_device_clear(&dev);
    return 0;
}
