#ifndef PARTNER_EXPORT_CCURL_SHIM_H
#define PARTNER_EXPORT_CCURL_SHIM_H
#include <curl/curl.h>

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
