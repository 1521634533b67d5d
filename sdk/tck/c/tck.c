/*
 * tck: the C guest of the weir conformance kit. It implements the
 * behaviour of sdk/tck/README.md ("The guest") through weir.h; the Go, Rust
 * and AssemblyScript guests beside it implement the same behaviour, and
 * sdk/tck runs one case list against all four.
 */
#include "weir.h"

#define MAX_SESSIONS 64
#define WORD_MAX 32
#define SUMMARY_MAX 64
#define SCRATCH 1024

/* One slot per session: the state a guest keeps keyed by sid (ABI §6). */
struct session {
  uint32_t used, sid, msgs;
  uint32_t word_len, summary_len;
  int handshaken;
  uint8_t word[WORD_MAX];
  uint8_t summary[SUMMARY_MAX];
};

static struct session sessions[MAX_SESSIONS];
static int32_t metric_ids[3] = {-1, -1, -1};
static int frames;
/* Keys and values copied out of the buffer before the host writes into it. */
static uint8_t scratch[SCRATCH];

/* ---- bytes and numbers ------------------------------------------------- */

static int eq(const uint8_t *p, uint32_t n, const char *lit) {
  if (n != weir_strlen(lit)) return 0;
  for (uint32_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)lit[i]) return 0;
  return 1;
}

/* copy moves n bytes forward; dst <= src may overlap. */
static void copy(uint8_t *dst, const uint8_t *src, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) dst[i] = src[i];
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

static uint32_t put_str(uint8_t *p, const char *s) {
  uint32_t n = weir_strlen(s);
  copy(p, (const uint8_t *)s, n);
  return n;
}

/* parse_int reads an optional '-' and the digits that follow; it wraps
 * around on overflow, as the other guests do. */
static int64_t parse_int(const uint8_t *p, uint32_t n) {
  uint32_t i = 0;
  int neg = n > 0 && p[0] == '-';
  uint64_t v = 0;
  if (neg) i++;
  for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) v = v * 10 + (uint64_t)(p[i] - '0');
  return (int64_t)(neg ? 0 - v : v);
}

/* split cuts p at its first space: it returns the length of the word before
 * it and sets the rest to what follows the space (empty without one). */
static uint32_t split(const uint8_t *p, uint32_t n, const uint8_t **rest, uint32_t *rest_len) {
  uint32_t i = 0;
  while (i < n && p[i] != ' ') i++;
  *rest = i < n ? p + i + 1 : p + n;
  *rest_len = i < n ? n - i - 1 : 0;
  return i;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t put_meta(uint8_t *p, int64_t meta) {
  uint32_t o = put_int(p, weir_meta_dir(meta));
  p[o++] = ' ';
  o += put_int(p + o, weir_meta_opcode(meta));
  p[o++] = ' ';
  o += put_int(p + o, weir_meta_fin(meta));
  p[o++] = ' ';
  o += put_int(p + o, weir_meta_first(meta));
  p[o++] = ' ';
  return o + put_int(p + o, weir_meta_seq(meta));
}

/* ---- sessions ---------------------------------------------------------- */

static struct session *find(uint32_t sid) {
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (sessions[i].used && sessions[i].sid == sid) return &sessions[i];
  return 0;
}

static struct session *state(uint32_t sid) {
  struct session *s = find(sid);
  if (s) return s;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    if (!sessions[i].used) {
      s = &sessions[i];
      s->used = 1;
      s->sid = sid;
      s->msgs = s->word_len = s->summary_len = 0;
      s->handshaken = 0;
      return s;
    }
  }
  return 0;
}

static uint32_t live(void) {
  uint32_t n = 0;
  for (int i = 0; i < MAX_SESSIONS; i++) n += sessions[i].used;
  return n;
}

/* ---- hooks ------------------------------------------------------------- */

WEIR_EXPORT(weir_init)
int32_t init(uint32_t config_len) {
  metric_ids[0] = weir_metric_define(WEIR_COUNTER, "tck_counter", 11);
  metric_ids[1] = weir_metric_define(WEIR_GAUGE, "tck_gauge", 9);
  metric_ids[2] = weir_metric_define(WEIR_HISTOGRAM, "tck_histogram", 13);
  if (metric_ids[0] < 0 || metric_ids[1] < 0 || metric_ids[2] < 0) return 3;
  int32_t n = weir_get_config(scratch, SCRATCH);
  if (n < 0 || (uint32_t)n != config_len) return 5;
  /* A configuration longer than the scratch was not written: no words. */
  const uint8_t *p = scratch, *rest;
  uint32_t left = (uint32_t)n <= SCRATCH ? (uint32_t)n : 0, rest_len;
  while (left > 0) {
    uint32_t w = split(p, left, &rest, &rest_len);
    if (eq(p, w, "fail-init")) return 7;
    if (eq(p, w, "frames")) frames = (weir_enable_features(WEIR_FEATURE_FRAMES) & WEIR_FEATURE_FRAMES) != 0;
    if (eq(p, w, "tick")) weir_set_tick(10);
    p = rest;
    left = rest_len;
  }
  weir_log_str(WEIR_LOG_INFO, "tck init");
  return 0;
}

WEIR_EXPORT(weir_on_handshake)
int32_t on_handshake(uint32_t sid, uint32_t props_len) {
  const uint8_t *p = weir_buf(), *path = (const uint8_t *)"";
  uint32_t off = 0, records = 0, multi = 0, path_len = 0;
  while (props_len - off >= 4) {
    uint32_t k = le32(p + off);
    off += 4;
    if (k > props_len - off || props_len - off - k < 4) break;
    const uint8_t *key = p + off;
    off += k;
    uint32_t v = le32(p + off);
    off += 4;
    if (v > props_len - off) break;
    records++;
    if (eq(key, k, "request.path")) {
      path = p + off;
      path_len = v;
    }
    if (eq(key, k, "request.header.x-tck-multi")) multi++;
    off += v;
  }
  struct session *s = state(sid);
  if (s) {
    uint8_t line[SUMMARY_MAX + 48];
    uint32_t o = put_int(line, records);
    line[o++] = ' ';
    if (path_len > SUMMARY_MAX) path_len = SUMMARY_MAX;
    copy(line + o, path, path_len);
    o += path_len;
    line[o++] = ' ';
    o += put_int(line + o, multi);
    s->summary_len = o < SUMMARY_MAX ? o : SUMMARY_MAX;
    copy(s->summary, line, s->summary_len);
    s->handshaken = 1;
  }

  int32_t n = weir_get_property_str(sid, "request.header.x-tck-reject", scratch, SCRATCH);
  if (n >= 0) {
    const uint8_t *reason;
    uint32_t reason_len, len = (uint32_t)n < SCRATCH ? (uint32_t)n : SCRATCH;
    uint32_t w = split(scratch, len, &reason, &reason_len);
    weir_reject((uint32_t)parse_int(scratch, w), reason, reason_len);
    return WEIR_HANDSHAKE_REJECT;
  }
  if (weir_get_property_str(sid, "request.header.x-tck-reject-bare", 0, 0) >= 0) return WEIR_HANDSHAKE_REJECT;
  return WEIR_HANDSHAKE_CONTINUE;
}

WEIR_EXPORT(weir_on_open)
int32_t on_open(uint32_t sid) {
  int32_t n = weir_get_property_str(sid, "request.header.x-tck-open", scratch, SCRATCH);
  if (n >= 0 && eq(scratch, (uint32_t)n, "close")) {
    weir_close_session(sid, 4002, "closed at open", 14);
    return 0;
  }
  if (n >= 0 && eq(scratch, (uint32_t)n, "fail")) return 1;
  return 0;
}

WEIR_EXPORT(weir_on_close)
void on_close(uint32_t sid, uint32_t code, uint32_t by_peer) {
  (void)sid;
  uint8_t v[24];
  uint32_t o = put_int(v, code);
  v[o++] = ' ';
  o += put_int(v + o, by_peer);
  weir_kv_set("last-close", 10, v, o, 0);
}

WEIR_EXPORT(weir_on_session_end)
void on_session_end(uint32_t sid) {
  struct session *s = find(sid);
  if (s) s->used = 0;
  weir_kv_incr("ended", 5, 1);
}

WEIR_EXPORT(weir_on_tick)
void on_tick(void) {
  weir_kv_incr("ticks", 5, 1);
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (!s->used) continue;
    if (eq(s->word, s->word_len, "tick-send")) {
      s->word_len = 0;
      weir_send_message(s->sid, weir_meta(WEIR_BACKEND_TO_CLIENT, WEIR_OP_TEXT), "tick", 4);
    } else if (eq(s->word, s->word_len, "tick-close")) {
      s->word_len = 0;
      weir_close_session(s->sid, 4004, "tick", 4);
    }
  }
}

WEIR_EXPORT(weir_on_drain)
int32_t on_drain(uint32_t sid, uint32_t deadline_ms) {
  uint8_t v[16];
  weir_kv_set("drain-deadline", 14, v, put_int(v, deadline_ms), 0);
  struct session *s = find(sid);
  if (s && eq(s->word, s->word_len, "drain-now")) return WEIR_DRAIN_CLOSE_NOW;
  if (s && eq(s->word, s->word_len, "drain-close")) weir_close_session(sid, 4003, "drain", 5);
  return WEIR_DRAIN_KEEP;
}

static int64_t forward(uint32_t n) { return weir_result(WEIR_CONTINUE, n); }

static int64_t answer_int(uint8_t *p, int64_t v) { return forward(put_int(p, v)); }

static int64_t answer_err(uint8_t *p, int64_t status) {
  uint32_t o = put_str(p, "ERR ");
  return forward(o + put_int(p + o, status));
}

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  uint8_t *p = weir_buf();
  struct session *s = state(sid);
  if (s) s->msgs++;
  if (frames) return forward(put_meta(p, meta));
  if (weir_meta_opcode(meta) != WEIR_OP_TEXT) return forward(len);

  const uint8_t *arg, *rest, *rest2;
  uint32_t arg_len, rest_len, rest2_len;
  uint32_t cl = split(p, len, &arg, &arg_len);
#define IS(lit) eq(p, cl, lit)

  if (IS("echo")) {
    copy(p, arg, arg_len);
    return forward(arg_len);
  }
  if (IS("upper")) {
    for (uint32_t i = 0; i < arg_len; i++) {
      uint8_t c = arg[i];
      p[i] = c >= 'a' && c <= 'z' ? (uint8_t)(c - ('a' - 'A')) : c;
    }
    return forward(arg_len);
  }
  if (IS("cap")) return answer_int(p, weir_buffer_cap);
  if (IS("grow")) {
    uint32_t n = (uint32_t)parse_int(arg, arg_len);
    for (uint32_t i = 0; i < n && i < weir_buffer_cap; i++) p[i] = 'x';
    return forward(n);
  }
  if (IS("drop")) return weir_result(WEIR_DROP, 0);
  if (IS("close-action")) return weir_result(WEIR_CLOSE, 0);
  if (IS("close") || IS("close-sid")) {
    uint32_t target = sid;
    if (IS("close-sid")) {
      uint32_t w = split(arg, arg_len, &rest, &rest_len);
      target = (uint32_t)parse_int(arg, w);
      arg = rest;
      arg_len = rest_len;
    }
    uint32_t w = split(arg, arg_len, &rest, &rest_len);
    return answer_int(p, weir_close_session(target, (uint32_t)parse_int(arg, w), rest, rest_len));
  }
  if (IS("send-back"))
    return answer_int(p, weir_send_message(sid, weir_meta(WEIR_BACKEND_TO_CLIENT, WEIR_OP_TEXT), arg, arg_len));
  if (IS("send-forward"))
    return answer_int(p, weir_send_message(sid, weir_meta(WEIR_CLIENT_TO_BACKEND, WEIR_OP_BINARY), arg, arg_len));
  if (IS("send-sid")) {
    uint32_t w = split(arg, arg_len, &rest, &rest_len);
    uint32_t target = (uint32_t)parse_int(arg, w);
    return answer_int(p, weir_send_message(target, weir_meta(WEIR_BACKEND_TO_CLIENT, WEIR_OP_TEXT), rest, rest_len));
  }
  if (IS("send-invalid")) {
    static const uint8_t invalid[2] = {0xff, 0xfe};
    return answer_int(p, weir_send_message(sid, weir_meta(WEIR_BACKEND_TO_CLIENT, WEIR_OP_TEXT), invalid, 2));
  }
  if (IS("prop") || IS("prop0") || IS("prop-len")) {
    uint32_t kl = arg_len < SCRATCH ? arg_len : SCRATCH;
    copy(scratch, arg, kl);
    uint32_t target = IS("prop0") ? 0 : sid;
    int32_t r = IS("prop-len") ? weir_get_property(target, scratch, kl, 0, 0)
                               : weir_get_property(target, scratch, kl, p, weir_buffer_cap);
    if (r < 0) return answer_err(p, -r);
    if (IS("prop-len")) return answer_int(p, r);
    return forward((uint32_t)r);
  }
  if (IS("hs")) {
    if (!s || !s->handshaken) return forward(put_str(p, "-"));
    copy(p, s->summary, s->summary_len);
    return forward(s->summary_len);
  }
  if (IS("config")) return forward((uint32_t)weir_get_config(p, weir_buffer_cap));
  if (IS("log")) {
    uint32_t w = split(arg, arg_len, &rest, &rest_len);
    int32_t level = (int32_t)parse_int(arg, w);
    weir_log(level, rest, rest_len);
    return answer_int(p, weir_log_enabled(level));
  }
  if (IS("metric")) {
    uint32_t w = split(arg, arg_len, &rest, &rest_len);
    int32_t id = eq(arg, w, "counter") ? metric_ids[0]
                 : eq(arg, w, "gauge") ? metric_ids[1]
                 : eq(arg, w, "histogram") ? metric_ids[2] : -1;
    weir_metric_add(id, parse_int(rest, rest_len));
    return answer_int(p, id);
  }
  if (IS("metric-define")) {
    uint32_t w = split(arg, arg_len, &rest, &rest_len);
    return answer_int(p, weir_metric_define((int32_t)parse_int(arg, w), rest, rest_len));
  }
  if (IS("kv-set")) {
    uint32_t kl = split(arg, arg_len, &rest, &rest_len);
    uint32_t cl2 = split(rest, rest_len, &rest2, &rest2_len);
    return answer_int(p, weir_kv_set(arg, kl, rest2, rest2_len, (uint32_t)parse_int(rest, cl2)));
  }
  if (IS("kv-get")) {
    int64_t r = weir_kv_get(arg, arg_len, scratch, SCRATCH);
    if (r < 0) return answer_err(p, -r);
    uint32_t o = put_int(p, weir_kv_cas(r));
    p[o++] = ' ';
    o += put_int(p + o, weir_kv_len(r));
    if (weir_kv_len(r) <= SCRATCH) {
      p[o++] = ' ';
      copy(p + o, scratch, weir_kv_len(r));
      o += weir_kv_len(r);
    }
    return forward(o);
  }
  if (IS("kv-incr")) {
    uint32_t kl = split(arg, arg_len, &rest, &rest_len);
    int64_t v = weir_kv_incr(arg, kl, parse_int(rest, rest_len));
    if (v == WEIR_KV_INCR_ERROR) return forward(put_str(p, "ERR"));
    return answer_int(p, v);
  }
  if (IS("now")) return answer_int(p, weir_now_ns());
  if (IS("count")) return answer_int(p, s ? s->msgs : 0);
  if (IS("state-set")) {
    if (s) {
      s->word_len = arg_len < WORD_MAX ? arg_len : WORD_MAX;
      copy(s->word, arg, s->word_len);
    }
    return forward(put_str(p, "ok"));
  }
  if (IS("state-get")) {
    if (!s) return forward(0);
    copy(p, s->word, s->word_len);
    return forward(s->word_len);
  }
  if (IS("sessions")) return answer_int(p, live());
  if (IS("sid")) return answer_int(p, sid);
  if (IS("meta")) return forward(put_meta(p, meta));
  if (IS("features")) return answer_int(p, weir_enable_features(WEIR_FEATURE_FRAMES));
  if (IS("reject")) return answer_int(p, weir_reject(403, "no", 2));
  if (IS("trap")) __builtin_trap();
  if (IS("spin")) {
    volatile uint32_t n = 0;
    for (;;) n++;
  }
  return forward(len);
#undef IS
}
