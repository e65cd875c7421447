#ifndef DMS_HTTP_H
#define DMS_HTTP_H

#include <stddef.h>

/// One GET through libcurl, loaded with dlopen on first use (an agent that never talks to Barbican never maps
/// libcurl and its two dozen dependencies). Verification is on unless `verify` is 0; `ca_file` replaces the
/// system bundle when set. Returns 0, a curl error code, or -1 when libcurl cannot be loaded. Fills the HTTP
/// status and the body (malloc'd; the caller frees it); `error_out` (256 bytes) gets a message on failure.
int dms_http_get(const char *url, const char *const *headers, int header_count, const char *ca_file, int verify,
                 long timeout_seconds, long *status_out, char **body_out, size_t *length_out, char *error_out);

#endif
