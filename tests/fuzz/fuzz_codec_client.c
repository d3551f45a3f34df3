/* libFuzzer target for the MQTT codec in the client role (decoding what the
 * upstream broker sends). The harness is shared with the server target. */
#define FUZZ_ROLE MQTT_ROLE_CLIENT
#include "fuzz_codec_server.c"
