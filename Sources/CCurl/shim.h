#ifndef DMS_CCURL_SHIM_H
#define DMS_CCURL_SHIM_H

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

// curl_easy_setopt and curl_easy_getinfo are C-variadic, which Swift cannot call.

typedef struct {
    char *data;
    size_t length;
    size_t limit;
} dms_curl_buffer;

static size_t dms_curl_collect(char *ptr, size_t size, size_t nmemb, void *userdata) {
    dms_curl_buffer *buffer = (dms_curl_buffer *)userdata;
    size_t n = size * nmemb;
    if (buffer->length + n > buffer->limit) return 0;  // refuse oversized bodies
    char *grown = (char *)realloc(buffer->data, buffer->length + n + 1);
    if (!grown) return 0;
    buffer->data = grown;
    memcpy(buffer->data + buffer->length, ptr, n);
    buffer->length += n;
    buffer->data[buffer->length] = 0;
    return n;
}

/// One GET with the given headers. Verification is on unless `verify` is 0; `ca_file` replaces the
/// system bundle when set. Returns the curl code; fills the HTTP status and the body (caller frees).
static inline int dms_http_get(const char *url, const char *const *headers, int header_count, const char *ca_file,
                               int verify, long timeout_seconds, long *status_out, char **body_out, size_t *length_out,
                               char *error_out /* CURL_ERROR_SIZE */) {
    CURL *curl = curl_easy_init();
    if (!curl) return CURLE_FAILED_INIT;
    struct curl_slist *list = NULL;
    for (int i = 0; i < header_count; i++) list = curl_slist_append(list, headers[i]);
    dms_curl_buffer buffer = {NULL, 0, 1 << 20};
    error_out[0] = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dms_curl_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buffer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_seconds < 10 ? timeout_seconds : 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_out);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    int rc = (int)curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status_out);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    *body_out = buffer.data;
    *length_out = buffer.length;
    return rc;
}

#endif
