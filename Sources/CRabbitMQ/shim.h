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

// amqp_login_with_properties is C-variadic, which Swift cannot call.
static inline amqp_rpc_reply_t crmq_login_plain(amqp_connection_state_t state, const char *vhost,
                                                int channel_max, int frame_max, int heartbeat,
                                                const amqp_table_t *client_properties,
                                                const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

/// The I/O thread's wake-up descriptor: close-on-exec, non-blocking.
static inline int crmq_wake_fd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

#endif
