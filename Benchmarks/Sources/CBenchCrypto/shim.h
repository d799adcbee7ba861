// libcrypto's one-shot SHA-256, for the config-hashing benchmark: the cost of hashing a config
// blob, which Fleet's ConfigHash pays through the same libcrypto.
#include <openssl/sha.h>
