/* A raw-ABI probe that reports, through proxy_log, which callbacks Envoy makes and what they
 * see, so tests can pin down Envoy's behaviour around proxy_send_local_response.
 *
 *   path "/deny"        -> local reply 403 "denied" with header "x-probe-local: yes"
 *                          from proxy_on_request_headers, then returns Pause
 *   path "/deny-twice"  -> like /deny, and calls proxy_send_local_response again (500
 *                          "second") from proxy_on_response_headers
 *   path "/late-deny"   -> lets the request through, then calls proxy_send_local_response
 *                          (500 "second") from proxy_on_response_headers
 *   path "/trap"        -> traps (unreachable) in proxy_on_request_headers
 *   request headers     -> info log "req-header <name>: <value>" for each, in order
 *   every callback      -> info log "cb <name> eos=<end_of_stream> n=<count>"
 *   response headers    -> info log "resp-header <name>: <value>" for each, in order
 *   response body       -> info log "resp-body <bytes>" when the body is readable
 *   everywhere          -> response header "x-probe: on" added in proxy_on_response_headers
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_log) uint32_t proxy_log(uint32_t level, const char *msg, size_t size);
IMPORT(proxy_get_header_map_value)
uint32_t proxy_get_header_map_value(uint32_t map, const char *key, size_t key_size,
                                    const char **value, size_t *value_size);
IMPORT(proxy_get_header_map_pairs)
uint32_t proxy_get_header_map_pairs(uint32_t map, const char **data, size_t *size);
IMPORT(proxy_add_header_map_value)
uint32_t proxy_add_header_map_value(uint32_t map, const char *key, size_t key_size,
                                    const char *value, size_t value_size);
IMPORT(proxy_get_buffer_bytes)
uint32_t proxy_get_buffer_bytes(uint32_t type, uint32_t start, uint32_t length,
                                const char **data, size_t *size);
IMPORT(proxy_send_local_response)
uint32_t proxy_send_local_response(uint32_t status, const char *details, size_t details_size,
                                   const char *body, size_t body_size, const char *headers,
                                   size_t headers_size, int32_t grpc_status);

enum { REQUEST_HEADERS = 0, RESPONSE_HEADERS = 2, RESPONSE_BODY = 1 };
enum { ACTION_CONTINUE = 0, ACTION_PAUSE = 1 };

static int deny_in_response = 0;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void logf_(const char *fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  if (n < 0) return;
  proxy_log(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}
EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) { return malloc(size); }
EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent) {}
EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root, uint32_t size) { return 1; }
EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root, uint32_t size) { return 1; }

/* Serialized header map: count, then (name len, value len) pairs, then NUL-terminated strings. */
static void log_header_pairs(uint32_t map, const char *prefix) {
  const char *data = NULL;
  size_t size = 0;
  if (proxy_get_header_map_pairs(map, &data, &size) != 0 || data == NULL) return;
  uint32_t count;
  memcpy(&count, data, 4);
  const char *strings = data + 4 + 8 * count;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t name_len, value_len;
    memcpy(&name_len, data + 4 + 8 * i, 4);
    memcpy(&value_len, data + 8 + 8 * i, 4);
    logf_("%s %.*s: %.*s", prefix, (int)name_len, strings, (int)value_len, strings + name_len + 1);
    strings += name_len + 1 + value_len + 1;
  }
  free((void *)data);
}

static void deny_again(void) {
  const char body[] = "second";
  uint32_t rc = proxy_send_local_response(500, "probe_second", 12, body, sizeof(body) - 1,
                                          NULL, 0, -1);
  logf_("second send_local_response returned %u", rc);
}

static void deny(void) {
  const char body[] = "denied";
  /* one header x-probe-local: yes, serialized as the ABI wants */
  char headers[4 + 8 + sizeof("x-probe-local") + sizeof("yes")];
  uint32_t count = 1, name_len = 13, value_len = 3;
  memcpy(headers, &count, 4);
  memcpy(headers + 4, &name_len, 4);
  memcpy(headers + 8, &value_len, 4);
  memcpy(headers + 12, "x-probe-local", 14);
  memcpy(headers + 26, "yes", 4);
  uint32_t rc = proxy_send_local_response(403, "probe_denied", 12, body, sizeof(body) - 1,
                                          headers, sizeof(headers), -1);
  logf_("send_local_response returned %u", rc);
}

EXPORT(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
  logf_("cb request_headers eos=%u n=%u", eos, n);
  log_header_pairs(REQUEST_HEADERS, "req-header");
  const char *path = NULL;
  size_t path_size = 0;
  proxy_get_header_map_value(REQUEST_HEADERS, ":path", 5, &path, &path_size);
  int is_deny = path_size == 5 && memcmp(path, "/deny", 5) == 0;
  int twice = path_size == 11 && memcmp(path, "/deny-twice", 11) == 0;
  int late = path_size == 10 && memcmp(path, "/late-deny", 10) == 0;
  if (path_size == 5 && memcmp(path, "/trap", 5) == 0) __builtin_trap();
  free((void *)path);
  deny_in_response = twice || late;
  if (is_deny || twice) {
    deny();
    return ACTION_PAUSE;
  }
  return ACTION_CONTINUE;
}

EXPORT(proxy_on_request_body)
uint32_t proxy_on_request_body(uint32_t ctx, uint32_t size, uint32_t eos) {
  logf_("cb request_body eos=%u n=%u", eos, size);
  return ACTION_CONTINUE;
}

EXPORT(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
  logf_("cb response_headers eos=%u n=%u", eos, n);
  log_header_pairs(RESPONSE_HEADERS, "resp-header");
  proxy_add_header_map_value(RESPONSE_HEADERS, "x-probe", 7, "on", 2);
  if (deny_in_response) {
    deny_in_response = 0;
    deny_again();
  }
  return ACTION_CONTINUE;
}

EXPORT(proxy_on_response_body)
uint32_t proxy_on_response_body(uint32_t ctx, uint32_t size, uint32_t eos) {
  logf_("cb response_body eos=%u n=%u", eos, size);
  const char *data = NULL;
  size_t data_size = 0;
  if (size > 0 && proxy_get_buffer_bytes(RESPONSE_BODY, 0, size, &data, &data_size) == 0) {
    logf_("resp-body %.*s", (int)data_size, data);
    free((void *)data);
  }
  return ACTION_CONTINUE;
}

EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t ctx) {
  if (ctx != 1) logf_("cb done");
  return 1;
}
EXPORT(proxy_on_log) void proxy_on_log(uint32_t ctx) { logf_("cb log"); }
EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t ctx) {
  if (ctx != 1) logf_("cb delete");
}
