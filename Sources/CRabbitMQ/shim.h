#ifndef DMS_CRABBITMQ_SHIM_H
#define DMS_CRABBITMQ_SHIM_H

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>

#endif

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// amqp_login_with_properties is C-variadic, which Swift cannot call.
static inline amqp_rpc_reply_t crmq_login_plain(amqp_connection_state_t state, const char *vhost,
                                                int channel_max, int frame_max, int heartbeat,
                                                const amqp_table_t *client_properties,
                                                const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

// SASL EXTERNAL: the broker takes the identity from the client certificate (rabbitmq_auth_mechanism_ssl).
static inline amqp_rpc_reply_t crmq_login_external(amqp_connection_state_t state, const char *vhost,
                                                   int channel_max, int frame_max, int heartbeat,
                                                   const amqp_table_t *client_properties, const char *identity) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_EXTERNAL, identity);
}

/// The I/O thread's wake-up descriptor: close-on-exec, non-blocking.
static inline int crmq_wake_fd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }


/// Keep-alive probes and TCP_USER_TIMEOUT: a dead peer is noticed even while a send is blocked in the
/// kernel (rabbitmq-c 0.11 has no send deadline, #519).
static inline int crmq_tune_socket(int fd, int user_timeout_ms) {
    int on = 1, idle = user_timeout_ms / 2000 > 0 ? user_timeout_ms / 2000 : 1, interval = idle, count = 2;
    unsigned int timeout = (unsigned int)user_timeout_ms;
    int rc = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    rc |= setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    rc |= setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    rc |= setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    if (user_timeout_ms > 0) rc |= setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout);
    return rc;
}

/// 1 when `host` is an IPv4 or IPv6 literal.
static inline int crmq_is_ip_literal(const char *host) {
    unsigned char buffer[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buffer) == 1 || inet_pton(AF_INET6, host, buffer) == 1;
}

/// rabbitmq-c 0.11 matches the broker's certificate against DNS names only; Kolla issues certificates for IP
/// addresses. OpenSSL checks an expected IP address (iPAddress SAN) during chain verification when told to:
/// the SSL object rabbitmq-c creates at open inherits the context's parameters.
static inline int crmq_ssl_expect_ip(amqp_socket_t *socket, const char *ip) {
    SSL_CTX *ctx = (SSL_CTX *)amqp_ssl_socket_get_context(socket);
    if (!ctx) return -1;
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), ip) == 1 ? 0 : -1;
}

/// The system CA store (rabbitmq-c loads a CA only when given a file).
static inline int crmq_ssl_use_system_cas(amqp_socket_t *socket) {
    SSL_CTX *ctx = (SSL_CTX *)amqp_ssl_socket_get_context(socket);
    if (!ctx) return -1;
    return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -1;
}

#endif
