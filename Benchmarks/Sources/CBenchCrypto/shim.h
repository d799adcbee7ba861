// libcrypto's one-shot SHA-256, for the config-hashing benchmark (Ampora has no public
// hashing API yet; the Fleet issue adds one, and this benchmark should then call it).
#include <openssl/sha.h>
