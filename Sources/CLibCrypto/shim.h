// OpenSSL's SHA-1 block function (SHA1_Transform), which runs on the CPU's SHA instructions where
// they exist. OpenSSL 3 marks the low-level digest calls deprecated in favour of EVP, which has no
// way to start from a midstate; they remain exported, and the warning is silenced here alone.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
