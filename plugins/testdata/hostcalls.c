/*
 * hostcalls: exercises every weir_v1 import, driven by text commands. The
 * answer replaces the message unless said otherwise. Commands:
 *   prop KEY             the property KEY of this session, or "ERR n"
 *   prop0 KEY            the property KEY with sid 0
 *   config               the plugin configuration
 *   inject TEXT          forward the message, and send TEXT to the client
 *   injectbin            send 3 binary bytes to the backend, drop the message
 *   close CODE REASON    close_session(this session), answer its status
 *   closeaction          return the CLOSE action
 *   drop                 return the DROP action
 *   kvset KEY VAL        kv_set unconditionally, answer the status
 *   kvcas KEY CAS VAL    kv_set with CAS, answer the status
 *   kvget KEY            "CAS LEN VALUE" or "ERR n"
 *   incr KEY DELTA       kv_incr, answer the new value
 *   count N              add N to the counter "hostcalls_count"
 *   gauge N              add N (may be "-3") to the gauge "hostcalls_gauge"
 *   log TEXT             log TEXT at info level, answer log_enabled(debug)
 *   features             enable_features(1) outside init, answer the result
 *   reject               reject() outside the handshake, answer the status
 *   badmem               imports with (ptr, len) outside memory: statuses
 *   grow N               answer N+1 bytes of 'x' (output over a small cap)
 *   huge                 return new_len 0xFFFFFFFF
 *   badaction            return action 7
 *   sessions             the number of live sessions this instance knows
 * With the configuration "frames", weir_init asks for single frames and
 * every message is answered with its meta: "dir op fin first seq".
 * weir_on_close stores "CODE BY_PEER" under the key "closed".
 * weir_on_drain asks to close sessions with odd ids now.
 * The handshake is rejected with 451 when the request has header
 * x-reject, and with a bare 1 when it has x-reject-bare. weir_init enables
 * ticks when the configuration starts with "tick"; each tick increments the
 * key "ticks".
 */
#include "weir.h"

static int32_t counter = -1, gauge = -1;
static uint32_t live = 0;
static int frames = 0;

static int starts(const uint8_t *p, uint32_t len, const char *w) {
  uint32_t n = weir_strlen(w);
  if (len < n) return 0;
  for (uint32_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)w[i]) return 0;
  return len == n || p[n] == ' ';
}

static uint32_t put_int(uint8_t *p, int64_t v) {
  uint8_t tmp[24];
  uint32_t n = 0, o = 0;
  uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
  if (v < 0) p[o++] = '-';
  do {
    tmp[n++] = (uint8_t)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  for (uint32_t i = 0; i < n; i++) p[o + i] = tmp[n - 1 - i];
  return o + n;
}

static int64_t parse_int(const uint8_t *p, uint32_t len, uint32_t *pos) {
  int64_t v = 0;
  int neg = 0;
  while (*pos < len && p[*pos] == ' ') (*pos)++;
  if (*pos < len && p[*pos] == '-') {
    neg = 1;
    (*pos)++;
  }
  while (*pos < len && p[*pos] >= '0' && p[*pos] <= '9') v = v * 10 + (p[(*pos)++] - '0');
  return neg ? -v : v;
}

/* word returns the next space-separated word after *pos. */
static uint32_t word(const uint8_t *p, uint32_t len, uint32_t *pos, const uint8_t **w) {
  while (*pos < len && p[*pos] == ' ') (*pos)++;
  *w = p + *pos;
  uint32_t start = *pos;
  while (*pos < len && p[*pos] != ' ') (*pos)++;
  return *pos - start;
}

static uint8_t scratch[4096];

static uint32_t copy_out(uint8_t *dst, const uint8_t *src, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) dst[i] = src[i];
  return n;
}

static uint32_t answer_status(uint8_t *p, int64_t s) { return put_int(p, s); }

WEIR_EXPORT(weir_init)
int32_t init(uint32_t config_len) {
  counter = weir_metric_define(WEIR_COUNTER, "hostcalls_count", 15);
  gauge = weir_metric_define(WEIR_GAUGE, "hostcalls_gauge", 15);
  if (counter < 0 || gauge < 0) return 1;
  if (config_len >= 4 && config_len <= sizeof scratch) {
    weir_get_config(scratch, sizeof scratch);
    if (starts(scratch, 4, "tick")) weir_set_tick(10);
    if (config_len == 6 && starts(scratch, 6, "frames")) frames = weir_enable_features(WEIR_FEATURE_FRAMES) == WEIR_FEATURE_FRAMES;
  }
  return 0;
}

WEIR_EXPORT(weir_on_tick)
void on_tick(void) { weir_kv_incr("ticks", 5, 1); }

WEIR_EXPORT(weir_on_handshake)
int32_t on_handshake(uint32_t sid, uint32_t props_len) {
  (void)props_len;
  live++;
  if (weir_get_property_str(sid, "request.header.x-reject", 0, 0) >= 0) {
    weir_reject(451, "go away", 7);
    return WEIR_HANDSHAKE_REJECT;
  }
  if (weir_get_property_str(sid, "request.header.x-reject-bare", 0, 0) >= 0) {
    return WEIR_HANDSHAKE_REJECT;
  }
  return WEIR_HANDSHAKE_CONTINUE;
}

WEIR_EXPORT(weir_on_close)
void on_close(uint32_t sid, uint32_t code, uint32_t by_peer) {
  (void)sid;
  uint8_t v[16];
  uint32_t o = put_int(v, code);
  v[o++] = ' ';
  o += put_int(v + o, by_peer);
  weir_kv_set("closed", 6, v, o, 0);
}

WEIR_EXPORT(weir_on_drain)
int32_t on_drain(uint32_t sid, uint32_t deadline_ms) {
  (void)deadline_ms;
  return (int32_t)(sid % 2);
}

WEIR_EXPORT(weir_on_session_end)
void on_session_end(uint32_t sid) {
  (void)sid;
  live--;
}

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  uint8_t *p = weir_buf();
  const uint8_t *w;
  uint32_t pos = 0, n, k;
  if (frames) {
    uint32_t o = put_int(p, weir_meta_dir(meta));
    p[o++] = ' ';
    o += put_int(p + o, weir_meta_opcode(meta));
    p[o++] = ' ';
    o += put_int(p + o, weir_meta_fin(meta));
    p[o++] = ' ';
    o += put_int(p + o, weir_meta_first(meta));
    p[o++] = ' ';
    o += put_int(p + o, weir_meta_seq(meta));
    return weir_result(WEIR_CONTINUE, o);
  }
  if (weir_meta_opcode(meta) != WEIR_OP_TEXT) return weir_result(WEIR_CONTINUE, len);
  word(p, len, &pos, &w);

  if (starts(p, len, "prop") || starts(p, len, "prop0")) {
    uint32_t s = starts(p, len, "prop0") ? 0 : sid;
    n = word(p, len, &pos, &w);
    copy_out(scratch, w, n);
    int32_t r = weir_get_property(s, scratch, n, p, weir_buffer_cap);
    if (r < 0) {
      copy_out(p, (const uint8_t *)"ERR ", 4);
      return weir_result(WEIR_CONTINUE, 4 + put_int(p + 4, -r));
    }
    return weir_result(WEIR_CONTINUE, (uint32_t)r);
  }
  if (starts(p, len, "config")) {
    int32_t r = weir_get_config(p, weir_buffer_cap);
    return weir_result(WEIR_CONTINUE, (uint32_t)r);
  }
  if (starts(p, len, "inject")) {
    while (pos < len && p[pos] == ' ') pos++;
    weir_send_message(sid, weir_meta(WEIR_BACKEND_TO_CLIENT, WEIR_OP_TEXT), p + pos, len - pos);
    return weir_result(WEIR_CONTINUE, len);
  }
  if (starts(p, len, "injectbin")) {
    weir_send_message(sid, weir_meta(WEIR_CLIENT_TO_BACKEND, WEIR_OP_BINARY), "\x01\x02\x03", 3);
    return weir_result(WEIR_DROP, 0);
  }
  if (starts(p, len, "closeaction")) return weir_result(WEIR_CLOSE, 0);
  if (starts(p, len, "close")) {
    int64_t code = parse_int(p, len, &pos);
    n = word(p, len, &pos, &w);
    int32_t s = weir_close_session(sid, (uint32_t)code, w, n);
    return weir_result(WEIR_CONTINUE, answer_status(p, s));
  }
  if (starts(p, len, "drop")) return weir_result(WEIR_DROP, 0);
  if (starts(p, len, "kvset") || starts(p, len, "kvcas")) {
    int cas = starts(p, len, "kvcas");
    const uint8_t *key;
    k = word(p, len, &pos, &key);
    copy_out(scratch, key, k);
    uint32_t c = cas ? (uint32_t)parse_int(p, len, &pos) : 0;
    n = word(p, len, &pos, &w);
    copy_out(scratch + 256, w, n);
    int32_t s = weir_kv_set(scratch, k, scratch + 256, n, c);
    return weir_result(WEIR_CONTINUE, answer_status(p, s));
  }
  if (starts(p, len, "kvget")) {
    k = word(p, len, &pos, &w);
    copy_out(scratch, w, k);
    int64_t r = weir_kv_get(scratch, k, scratch + 256, 1024);
    if (r < 0) {
      copy_out(p, (const uint8_t *)"ERR ", 4);
      return weir_result(WEIR_CONTINUE, 4 + put_int(p + 4, -r));
    }
    uint32_t o = put_int(p, weir_kv_cas(r));
    p[o++] = ' ';
    o += put_int(p + o, weir_kv_len(r));
    p[o++] = ' ';
    o += copy_out(p + o, scratch + 256, weir_kv_len(r));
    return weir_result(WEIR_CONTINUE, o);
  }
  if (starts(p, len, "incr")) {
    k = word(p, len, &pos, &w);
    copy_out(scratch, w, k);
    int64_t d = parse_int(p, len, &pos);
    return weir_result(WEIR_CONTINUE, put_int(p, weir_kv_incr(scratch, k, d)));
  }
  if (starts(p, len, "count")) {
    weir_metric_add(counter, parse_int(p, len, &pos));
    return weir_result(WEIR_CONTINUE, len);
  }
  if (starts(p, len, "gauge")) {
    weir_metric_add(gauge, parse_int(p, len, &pos));
    return weir_result(WEIR_CONTINUE, len);
  }
  if (starts(p, len, "log")) {
    while (pos < len && p[pos] == ' ') pos++;
    weir_log(WEIR_LOG_INFO, p + pos, len - pos);
    return weir_result(WEIR_CONTINUE, put_int(p, weir_log_enabled(WEIR_LOG_DEBUG)));
  }
  if (starts(p, len, "features")) return weir_result(WEIR_CONTINUE, put_int(p, weir_enable_features(1)));
  if (starts(p, len, "reject")) return weir_result(WEIR_CONTINUE, put_int(p, weir_reject(403, "no", 2)));
  if (starts(p, len, "badmem")) {
    /* Every import that takes memory, with a range outside it. */
    int64_t r[9];
    r[0] = weir_get_config((void *)0xFFFFFF00u, 4096);
    r[1] = weir_get_config(0, 0xFFFFFFFFu);
    r[2] = weir_get_property(sid, (void *)0xFFFFFFF0u, 100, 0, 0);
    r[3] = weir_send_message(sid, weir_meta(WEIR_BACKEND_TO_CLIENT, WEIR_OP_TEXT), (void *)16, 0xFFFFFFFFu);
    r[4] = weir_close_session(sid, 1000, (void *)0xFFFFFFFFu, 2);
    r[5] = weir_kv_get((void *)0xFFFFFFF0u, 64, 0, 0);
    r[6] = weir_kv_set("k", 1, (void *)0xFFFFFF00u, 0x1000, 0);
    r[7] = weir_metric_define(WEIR_COUNTER, (void *)0xFFFFFFFFu, 0xFFFFFFFFu);
    r[8] = weir_kv_incr((void *)0xFFFFFFFFu, 8, 1) == WEIR_KV_INCR_ERROR ? -6 : 0;
    uint32_t o = 0;
    for (int i = 0; i < 9; i++) {
      if (i) p[o++] = ' ';
      o += put_int(p + o, r[i]);
    }
    return weir_result(WEIR_CONTINUE, o);
  }
  if (starts(p, len, "grow")) {
    uint32_t want = (uint32_t)parse_int(p, len, &pos) + 1;
    for (uint32_t i = 0; i < want && i < weir_buffer_cap; i++) p[i] = 'x';
    return weir_result(WEIR_CONTINUE, want);
  }
  if (starts(p, len, "huge")) return weir_result(WEIR_CONTINUE, 0xFFFFFFFFu);
  if (starts(p, len, "badaction")) return weir_result(7, 0);
  if (starts(p, len, "sessions")) return weir_result(WEIR_CONTINUE, put_int(p, live));
  return weir_result(WEIR_CONTINUE, len);
}
