/* libFuzzer target for the Google device JWT rules (registry/reg_jwt.c):
 * arbitrary bytes are a token presented for a device holding one EC P-256
 * and one RSA-2048 credential, judged at a fixed time so the corpus tokens
 * (signed by these keys' private halves, which were discarded) reach the
 * claim rules. Must never crash; abort() when an invariant of the verdict
 * fails: NOT_JWT exactly when reg_jwt_is_compact says no, and an accepted
 * token always within the rules it was accepted under. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reg_jwt.h"
#include "fuzz_target.h"

#define FUZZ_NOW 1700000000
#define SKEW 600
#define LIFETIME 86400
#define REFRESH 3600

static const char ec_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELFY2UV4L7tQ+K0GBFGXKI+YwtJ/b\n"
    "qKVh7egkWnVFlRgqnddBg8seUCuNGhGUas/1npcJKDZlRPEWcqzLUZEHrg==\n"
    "-----END PUBLIC KEY-----\n";
static const char rsa_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsi9b+AxKNgOeLed5wrl4\n"
    "axHN2Y7vqwKuFt7MwzmuKqbKX+ip2YdUrXEomTuZolx96sJLjrM+1k4cB8mUifmH\n"
    "LYZUunx8k2mOf8qW+LbYjZ7aWJj3oaUJKVixOtl010sZWC6TwTmC7wOuTxnp4a69\n"
    "8pPsRz0A+tgR2rF3GmM5pr4ZisF3QZkNXToTbEF8ScI9TamOuBJXsiNCdnTJz/rX\n"
    "6i5B1mqR3jDVVbjs+gqDMtevkoqNxqQ2Up/7xMBr3jnB6ATv4uoNugWYR1WREoT3\n"
    "LoZlUZgegAEdsk2TXKd8uJhwiNqF4EUl/IwSu2FS56seI7InpuaGPEVYUgOrPPd+\n"
    "VwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const struct reg_jwt_key keys[] = {
        { REG_KEY_EC_P256, ec_pem, NULL },
        { REG_KEY_RSA, rsa_pem, NULL },
    };
    const struct reg_jwt_rules rules = {
        .audience = "fuzz-project",
        .clock_skew = SKEW,
        .max_lifetime = LIFETIME,
        .refresh_interval = REFRESH,
    };
    const char *tok = (const char *)data;
    struct reg_jwt_result res;
    memset(&res, 0, sizeof(res));
    enum reg_auth_reason r = reg_jwt_verify(tok, size, keys, 2, &rules, FUZZ_NOW, &res);
#ifdef FUZZ_JWT_PRINT
    fprintf(stderr, "reason=%s\n", reg_auth_reason_word(r));
#endif
    REQUIRE(r < REG_AUTH__COUNT);
    REQUIRE(strcmp(reg_auth_reason_word(r), "unknown") != 0);
    REQUIRE((r == REG_AUTH_NOT_JWT) == !reg_jwt_is_compact(tok, size));
    /* Only the first rules can refuse a token; the rest are for the store. */
    REQUIRE(r <= REG_AUTH_EXPIRED);
    if (r == REG_AUTH_OK) {
        REQUIRE(res.key_index < 2);
        REQUIRE(res.iat <= FUZZ_NOW + SKEW);
        REQUIRE(res.exp >= res.iat && res.exp - res.iat <= LIFETIME);
        REQUIRE(res.deadline > FUZZ_NOW);
        REQUIRE(res.deadline <= res.exp + SKEW && res.deadline <= res.iat + REFRESH);
    }
    /* Without a key nothing verifies, whatever the token claims. */
    REQUIRE(reg_jwt_verify(tok, size, NULL, 0, &rules, FUZZ_NOW, &res) != REG_AUTH_OK);
    return 0;
}
