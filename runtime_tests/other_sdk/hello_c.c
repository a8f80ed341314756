/* A proxy-wasm 0.2.1 filter written in C against the raw ABI, without any SDK.
 *
 * It stands for "a module another SDK built": the harness must run it exactly
 * as Envoy does.  Behaviour (mirrors examples/hello so the same traffic shape
 * applies):
 *   - request path "/deny"  -> local reply 403 "denied by c filter"
 *   - every response        -> header "x-c-filter: on"
 *   - plugin configuration  -> echoed in response header "x-c-config"
 *   - each request          -> info log "c filter saw <path>"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_log) uint32_t proxy_log(uint32_t level, const char *msg, size_t size);
IMPORT(proxy_get_header_map_value)
uint32_t proxy_get_header_map_value(uint32_t map, const char *key, size_t key_size,
                                    const char **value, size_t *value_size);
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

enum { REQUEST_HEADERS = 0, RESPONSE_HEADERS = 2 };
enum { PLUGIN_CONFIGURATION = 7 };
enum { LOG_INFO = 2 };
enum { ACTION_CONTINUE = 0, ACTION_PAUSE = 1 };

static char *plugin_config = NULL;
static size_t plugin_config_size = 0;

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}

EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) {
  return malloc(size);
}

EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent) {}

EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root, uint32_t size) { return 1; }

EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root, uint32_t size) {
  const char *data = NULL;
  size_t data_size = 0;
  if (size > 0 &&
      proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, size, &data, &data_size) == 0) {
    free(plugin_config);
    plugin_config = (char *)data; /* host allocated it through proxy_on_memory_allocate */
    plugin_config_size = data_size;
  }
  return 1;
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

EXPORT(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t headers, uint32_t end_of_stream) {
  const char *path = NULL;
  size_t path_size = 0;
  proxy_get_header_map_value(REQUEST_HEADERS, ":path", 5, &path, &path_size);
  char message[256];
  const char prefix[] = "c filter saw ";
  size_t n = path_size < sizeof(message) - sizeof(prefix) ? path_size : sizeof(message) - sizeof(prefix);
  memcpy(message, prefix, sizeof(prefix) - 1);
  memcpy(message + sizeof(prefix) - 1, str_or_empty(path), n);
  proxy_log(LOG_INFO, message, sizeof(prefix) - 1 + n);
  int deny = path_size == 5 && memcmp(path, "/deny", 5) == 0;
  free((void *)path);
  if (deny) {
    const char body[] = "denied by c filter";
    proxy_send_local_response(403, "", 0, body, sizeof(body) - 1, NULL, 0, -1);
    return ACTION_PAUSE;
  }
  return ACTION_CONTINUE;
}

EXPORT(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t headers, uint32_t end_of_stream) {
  proxy_add_header_map_value(RESPONSE_HEADERS, "x-c-filter", 10, "on", 2);
  if (plugin_config_size > 0)
    proxy_add_header_map_value(RESPONSE_HEADERS, "x-c-config", 10, plugin_config,
                               plugin_config_size);
  return ACTION_CONTINUE;
}

EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t ctx) { return 1; }
EXPORT(proxy_on_log) void proxy_on_log(uint32_t ctx) {}
EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t ctx) {}
