#include "dms_http.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLcode (*global_init)(long);
    int loaded;
} curl_api;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void load_curl(void) {
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    curl_api.easy_init = dlsym(h, "curl_easy_init");
    curl_api.easy_setopt = dlsym(h, "curl_easy_setopt");
    curl_api.easy_perform = dlsym(h, "curl_easy_perform");
    curl_api.easy_getinfo = dlsym(h, "curl_easy_getinfo");
    curl_api.easy_cleanup = dlsym(h, "curl_easy_cleanup");
    curl_api.easy_strerror = dlsym(h, "curl_easy_strerror");
    curl_api.slist_append = dlsym(h, "curl_slist_append");
    curl_api.slist_free_all = dlsym(h, "curl_slist_free_all");
    curl_api.global_init = dlsym(h, "curl_global_init");
    if (curl_api.easy_init && curl_api.easy_setopt && curl_api.easy_perform && curl_api.easy_getinfo &&
        curl_api.easy_cleanup && curl_api.easy_strerror && curl_api.slist_append && curl_api.slist_free_all &&
        curl_api.global_init && curl_api.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
        curl_api.loaded = 1;
}

typedef struct {
    char *data;
    size_t length;
    size_t limit;
} body_buffer;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata) {
    body_buffer *buffer = (body_buffer *)userdata;
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

int dms_http_get(const char *url, const char *const *headers, int header_count, const char *ca_file, int verify,
                 long timeout_seconds, long *status_out, char **body_out, size_t *length_out, char *error_out) {
    *body_out = NULL;
    *length_out = 0;
    *status_out = 0;
    error_out[0] = 0;
    pthread_once(&curl_once, load_curl);
    if (!curl_api.loaded) {
        snprintf(error_out, 256, "libcurl.so.4 could not be loaded");
        return -1;
    }
    CURL *curl = curl_api.easy_init();
    if (!curl) return CURLE_FAILED_INIT;
    struct curl_slist *list = NULL;
    for (int i = 0; i < header_count; i++) list = curl_api.slist_append(list, headers[i]);
    body_buffer buffer = {NULL, 0, 1 << 20};
    char curl_error[CURL_ERROR_SIZE];
    curl_error[0] = 0;
    curl_api.easy_setopt(curl, CURLOPT_URL, url);
    curl_api.easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_api.easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_api.easy_setopt(curl, CURLOPT_WRITEDATA, &buffer);
    curl_api.easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
    curl_api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_seconds < 10 ? timeout_seconds : 10L);
    curl_api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_api.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_api.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_api.easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_api.easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_api.easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (ca_file) curl_api.easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    CURLcode rc = curl_api.easy_perform(curl);
    curl_api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status_out);
    if (rc != CURLE_OK) snprintf(error_out, 256, "%s", curl_error[0] ? curl_error : curl_api.easy_strerror(rc));
    curl_api.slist_free_all(list);
    curl_api.easy_cleanup(curl);
    *body_out = buffer.data;
    *length_out = buffer.length;
    return (int)rc;
}
