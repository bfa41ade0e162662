#ifndef PARTNER_EXPORT_CCURL_SHIM_H
#define PARTNER_EXPORT_CCURL_SHIM_H
#include <curl/curl.h>
#include <openssl/ssl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift refuses: one typed wrapper per
   argument type. */
static inline CURLcode pe_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode pe_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode pe_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode pe_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*pe_curl_data_callback)(char *buffer, size_t size, size_t count, void *userdata);
static inline CURLcode pe_curl_setopt_data_callback(CURL *handle, CURLoption option, pe_curl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}
typedef int (*pe_curl_seek_callback)(void *userdata, curl_off_t offset, int origin);
static inline CURLcode pe_curl_setopt_seek_callback(CURL *handle, pe_curl_seek_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, callback);
}
static inline CURLcode pe_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode pe_curl_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}
/* The server's certificate chain as libcurl's certinfo holds it (CURLOPT_CERTINFO): for the first
   certificate, its "Name:value" lines. NULL when there is none. */
static inline struct curl_slist *pe_curl_first_certificate(CURL *handle) {
    struct curl_certinfo *info = NULL;
    if (curl_easy_getinfo(handle, CURLINFO_CERTINFO, &info) != CURLE_OK || info == NULL || info->num_of_certs < 1) return NULL;
    return info->certinfo[0];
}
/* Whether the server asked for a TLS client certificate while the handle had none to give: libcurl
   builds an SSL_CTX per connection and hands it to CURLOPT_SSL_CTX_FUNCTION, where a client
   certificate callback is installed. OpenSSL calls it only when a certificate is requested and none
   is set; it records that in the handle's flag (an int the caller owns) and sends none. The ex_data
   index must be taken once, before threads use it: pe_curl_certificate_request_index(). */
static inline int pe_curl_certificate_request_index(void) {
    static int index = -1;
    if (index < 0) index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return index;
}
static inline int pe_curl_client_certificate_requested(SSL *ssl, X509 **certificate, EVP_PKEY **key) {
    (void)certificate;
    (void)key;
    int *flag = (int *)SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pe_curl_certificate_request_index());
    if (flag != NULL) *flag = 1;
    return 0;
}
static inline CURLcode pe_curl_ssl_context(CURL *handle, void *context, void *flag) {
    (void)handle;
    SSL_CTX_set_ex_data((SSL_CTX *)context, pe_curl_certificate_request_index(), flag);
    SSL_CTX_set_client_cert_cb((SSL_CTX *)context, pe_curl_client_certificate_requested);
    return CURLE_OK;
}
static inline CURLcode pe_curl_watch_certificate_request(CURL *handle, int *flag) {
    CURLcode rc = curl_easy_setopt(handle, CURLOPT_SSL_CTX_FUNCTION, pe_curl_ssl_context);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(handle, CURLOPT_SSL_CTX_DATA, (void *)flag);
}
/* Macros Swift does not import. */
static inline long pe_curlauth_basic(void) { return (long)CURLAUTH_BASIC; }
static inline size_t pe_curl_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
enum { PE_CURL_ERROR_SIZE = CURL_ERROR_SIZE };

static inline const char *pe_curl_version(void) {
    curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    return info ? info->version : "unknown";
}
static inline const char *pe_curl_ssl_version(void) {
    curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    return (info && info->ssl_version) ? info->ssl_version : "none";
}
#endif
