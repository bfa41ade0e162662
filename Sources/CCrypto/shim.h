// SHA-256 and HMAC-SHA256 from OpenSSL's libcrypto (already loaded by libcurl), through plain
// structs that Swift copies by value: a keyed HMAC state is prepared once per key and copied per
// message, with no allocation and no reference counting.
//
// The low-level SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP, whose per-call
// provider dispatch and heap contexts are what this avoids; they stay supported and use the same
// hardware-accelerated block functions.
#ifndef PARTNER_EXPORT_CCRYPTO_SHIM_H
#define PARTNER_EXPORT_CCRYPTO_SHIM_H

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/err.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    SHA256_CTX context;
} pe_sha256;

static inline void pe_sha256_init(pe_sha256 *state) { SHA256_Init(&state->context); }

static inline void pe_sha256_update(pe_sha256 *state, const void *bytes, size_t count) {
    if (count > 0) SHA256_Update(&state->context, bytes, count);
}

/// Writes the 32-byte digest to `out`; the state is spent.
static inline void pe_sha256_final(pe_sha256 *state, uint8_t *out) { SHA256_Final(out, &state->context); }

/// HMAC-SHA256 (RFC 2104) with the key schedule done once: the inner and outer states after the
/// padded key.
typedef struct {
    SHA256_CTX inner;
    SHA256_CTX outer;
} pe_hmac_sha256;

static inline void pe_hmac_sha256_init(pe_hmac_sha256 *state, const void *key, size_t count) {
    uint8_t block[SHA256_CBLOCK];
    memset(block, 0, sizeof block);
    if (count > SHA256_CBLOCK) {
        SHA256_CTX hashed;
        SHA256_Init(&hashed);
        SHA256_Update(&hashed, key, count);
        SHA256_Final(block, &hashed);
    } else if (count > 0) {
        memcpy(block, key, count);
    }
    uint8_t pad[SHA256_CBLOCK];
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&state->inner);
    SHA256_Update(&state->inner, pad, sizeof pad);
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&state->outer);
    SHA256_Update(&state->outer, pad, sizeof pad);
    memset(block, 0, sizeof block);
    memset(pad, 0, sizeof pad);
}

static inline void pe_hmac_sha256_update(pe_hmac_sha256 *state, const void *bytes, size_t count) {
    if (count > 0) SHA256_Update(&state->inner, bytes, count);
}

/// Writes the 32-byte MAC to `out`; the state is spent.
static inline void pe_hmac_sha256_final(pe_hmac_sha256 *state, uint8_t *out) {
    uint8_t inner[SHA256_DIGEST_LENGTH];
    SHA256_Final(inner, &state->inner);
    SHA256_Update(&state->outer, inner, sizeof inner);
    SHA256_Final(out, &state->outer);
}

/// The DER SubjectPublicKeyInfo of a DER certificate, hashed with SHA-256 into `out` (32 bytes): what
/// a `sha256//` public-key pin names. Returns 0 on success, -1 when the certificate cannot be read.
static inline int pe_certificate_spki_sha256(const uint8_t *der, size_t count, uint8_t *out) {
    const unsigned char *cursor = der;
    X509 *certificate = d2i_X509(NULL, &cursor, (long)count);
    if (certificate == NULL) return -1;
    unsigned char *spki = NULL;
    int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &spki);
    X509_free(certificate);
    if (length <= 0 || spki == NULL) return -1;
    SHA256(spki, (size_t)length, out);
    OPENSSL_free(spki);
    return 0;
}

/// Ed25519 (RFC 8032) through EVP: a 32-byte private key (the seed) and a 32-byte public key.
/// Each returns 0 on success, -1 on failure.
static inline int pe_ed25519_public_key(const uint8_t *seed, uint8_t *public_key) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    if (key == NULL) return -1;
    size_t length = 32;
    int ok = EVP_PKEY_get_raw_public_key(key, public_key, &length) == 1 && length == 32;
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

/// A new key: 32 random bytes from OpenSSL's CSPRNG as the private key, and its public key.
static inline int pe_ed25519_generate(uint8_t *seed, uint8_t *public_key) {
    if (RAND_bytes(seed, 32) != 1) return -1;
    return pe_ed25519_public_key(seed, public_key);
}

static inline int pe_ed25519_sign(const uint8_t *seed, const void *message, size_t count, uint8_t *signature) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    if (key == NULL) return -1;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    size_t length = 64;
    int ok = context != NULL && EVP_DigestSignInit(context, NULL, NULL, NULL, key) == 1
        && EVP_DigestSign(context, signature, &length, (const unsigned char *)message, count) == 1 && length == 64;
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

/// 0 when `signature` is a valid signature of the message under `public_key`, -1 otherwise.
static inline int pe_ed25519_verify(const uint8_t *public_key, const void *message, size_t count, const uint8_t *signature) {
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, 32);
    if (key == NULL) return -1;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int ok = context != NULL && EVP_DigestVerifyInit(context, NULL, NULL, NULL, key) == 1
        && EVP_DigestVerify(context, signature, 64, (const unsigned char *)message, count) == 1;
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

/// Whether the PEM private key at `key_path` (unencrypted) belongs to the PEM certificate at
/// `cert_path`: 1 yes, 0 no, -1 when either cannot be read as PEM.
static inline int pe_key_matches_certificate(const char *cert_path, const char *key_path) {
    int result = -1;
    BIO *cert_bio = BIO_new_file(cert_path, "r");
    BIO *key_bio = BIO_new_file(key_path, "r");
    X509 *cert = cert_bio ? PEM_read_bio_X509(cert_bio, NULL, NULL, NULL) : NULL;
    /* An empty passphrase callback: an encrypted key is not read (the caller skips those). */
    EVP_PKEY *key = key_bio ? PEM_read_bio_PrivateKey(key_bio, NULL, NULL, (void *)"") : NULL;
    if (cert && key) result = X509_check_private_key(cert, key) == 1 ? 1 : 0;
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(key_bio);
    BIO_free(cert_bio);
    ERR_clear_error();
    return result;
}

#endif
