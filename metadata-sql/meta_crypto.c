/* meta_crypto.c - libcrypto outlives the host program's exit handlers in
 * a process that loads the metadata engine.
 *
 * libpq's SCRAM login is usually a process's first use of libcrypto, and
 * the first initialisation decides whether libcrypto registers its
 * exit-time cleanup (OPENSSL_cleanup, an atexit handler). Registered, it
 * frees libcrypto's locks while the engine's background threads (prefetch
 * and upload workers signing S3 requests, the session thread logging in
 * again) may still be inside libcrypto, and the host program dies of
 * SIGSEGV on its way out (pthread_rwlock_rdlock(NULL)). So, as in
 * core/objstore/s3/s3_store.c, the library asks for no exit-time cleanup when it is
 * loaded, before libpq can initialise libcrypto. A host that initialised
 * libcrypto itself first keeps its own choice.
 */
#include <openssl/crypto.h>

__attribute__((constructor)) static void meta_crypto_keep(void)
{
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}
