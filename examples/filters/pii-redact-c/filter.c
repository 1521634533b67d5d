/*
 * pii-redact: masks e-mail addresses and payment card numbers in text
 * messages, in place. Masking replaces ASCII characters with one ASCII
 * mask character, so a message keeps its length and stays valid UTF-8:
 * the gateway never has to re-frame or reject what this filter returns.
 * Binary messages pass unchanged. See README.md for the configuration.
 */
#include "weir.h"

/* ---- configuration -------------------------------------------------- */

struct config {
  int email;          /* mask e-mail addresses */
  int keep_domain;    /* leave an address's domain readable */
  int cards;          /* mask card numbers */
  uint32_t keep_last; /* card digits left readable at the end (0-4) */
  uint8_t mask;       /* the mask character, printable ASCII */
};

static struct config cfg = {1, 1, 1, 4, '*'};

/* The config is small JSON; a fixed buffer keeps the module's memory
 * at its declared size (the SDK's buffer owns the heap). */
#define CONFIG_MAX 1024
static uint8_t config_buf[CONFIG_MAX];

static int32_t metric_masked = -1;

/* A tiny JSON reader for the flat config object: string keys, and
 * true/false, non-negative integers or ASCII strings as values. */
struct scan {
  const uint8_t *p;
  uint32_t i, n;
};

static void skip_ws(struct scan *s) {
  while (s->i < s->n) {
    uint8_t c = s->p[s->i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      break;
    }
    s->i++;
  }
}

static int take(struct scan *s, uint8_t c) {
  skip_ws(s);
  if (s->i < s->n && s->p[s->i] == c) {
    s->i++;
    return 1;
  }
  return 0;
}

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* read_string decodes an ASCII JSON string into out; it returns the
 * decoded length, or -1 (not a string, not ASCII, longer than limit). */
static int32_t read_string(struct scan *s, uint8_t *out, uint32_t limit) {
  if (!take(s, '"')) return -1;
  uint32_t n = 0;
  while (s->i < s->n) {
    uint8_t c = s->p[s->i++];
    if (c == '"') return (int32_t)n;
    if (c < 0x20 || c >= 0x80) return -1;
    if (c == '\\') {
      if (s->i >= s->n) return -1;
      uint8_t e = s->p[s->i++];
      switch (e) {
        case '"': case '\\': case '/': c = e; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
          if (s->n - s->i < 4) return -1;
          int v = 0;
          for (int k = 0; k < 4; k++) {
            int h = hexval(s->p[s->i++]);
            if (h < 0) return -1;
            v = v * 16 + h;
          }
          if (v >= 0x80) return -1;
          c = (uint8_t)v;
          break;
        }
        default: return -1;
      }
    }
    if (n >= limit) return -1;
    out[n++] = c;
  }
  return -1;
}

static int read_bool(struct scan *s, int *v) {
  skip_ws(s);
  const uint8_t *p = s->p + s->i;
  uint32_t left = s->n - s->i;
  if (left >= 4 && p[0] == 't' && p[1] == 'r' && p[2] == 'u' && p[3] == 'e') {
    s->i += 4;
    *v = 1;
    return 1;
  }
  if (left >= 5 && p[0] == 'f' && p[1] == 'a' && p[2] == 'l' && p[3] == 's' && p[4] == 'e') {
    s->i += 5;
    *v = 0;
    return 1;
  }
  return 0;
}

/* read_uint reads a small non-negative integer (at most 6 digits). */
static int read_uint(struct scan *s, uint32_t *v) {
  skip_ws(s);
  uint32_t x = 0, digits = 0;
  while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9') {
    if (++digits > 6) return 0;
    x = x * 10 + (s->p[s->i++] - '0');
  }
  if (digits == 0) return 0;
  *v = x;
  return 1;
}

static int key_is(const uint8_t *k, int32_t n, const char *want) {
  int32_t i = 0;
  for (; i < n; i++) {
    if (want[i] == 0 || (uint8_t)want[i] != k[i]) return 0;
  }
  return want[i] == 0;
}

static int32_t config_error(const char *msg) {
  weir_log_str(WEIR_LOG_ERROR, msg);
  return 1;
}

/* parse_config fills cfg from the JSON object in s; it returns 0 or logs
 * what is wrong and returns non-zero, which fails the plugin's load. */
static int32_t parse_config(struct scan *s) {
  if (!take(s, '{')) return config_error("pii-redact: config must be a JSON object");
  if (take(s, '}')) goto end;
  for (;;) {
    uint8_t key[32];
    int32_t kn = read_string(s, key, sizeof key);
    if (kn < 0) return config_error("pii-redact: config: bad or unknown key");
    if (!take(s, ':')) return config_error("pii-redact: config: missing ':'");
    if (key_is(key, kn, "email")) {
      if (!read_bool(s, &cfg.email)) return config_error("pii-redact: config: email must be true or false");
    } else if (key_is(key, kn, "keep_domain")) {
      if (!read_bool(s, &cfg.keep_domain)) {
        return config_error("pii-redact: config: keep_domain must be true or false");
      }
    } else if (key_is(key, kn, "cards")) {
      if (!read_bool(s, &cfg.cards)) return config_error("pii-redact: config: cards must be true or false");
    } else if (key_is(key, kn, "keep_last")) {
      if (!read_uint(s, &cfg.keep_last) || cfg.keep_last > 4) {
        return config_error("pii-redact: config: keep_last must be an integer from 0 to 4");
      }
    } else if (key_is(key, kn, "mask")) {
      uint8_t m[2];
      if (read_string(s, m, sizeof m) != 1 || m[0] < 0x21 || m[0] > 0x7e || (m[0] >= '0' && m[0] <= '9')) {
        return config_error("pii-redact: config: mask must be one printable ASCII character, not a digit");
      }
      cfg.mask = m[0];
    } else {
      return config_error("pii-redact: config: unknown key (known: email, keep_domain, cards, keep_last, mask)");
    }
    if (take(s, ',')) continue;
    if (take(s, '}')) break;
    return config_error("pii-redact: config: expected ',' or '}'");
  }
end:
  skip_ws(s);
  if (s->i != s->n) return config_error("pii-redact: config: trailing bytes after the object");
  return 0;
}

WEIR_EXPORT(weir_init)
int32_t init(uint32_t config_len) {
  metric_masked = weir_metric_define(WEIR_COUNTER, "pii_masked", 10);
  if (metric_masked < 0) return config_error("pii-redact: metric_define failed");
  if (config_len == 0) return 0;
  if (config_len > CONFIG_MAX) return config_error("pii-redact: config larger than 1024 bytes");
  if (weir_get_config(config_buf, CONFIG_MAX) != (int32_t)config_len) {
    return config_error("pii-redact: get_config failed");
  }
  struct scan s = {config_buf, 0, config_len};
  return parse_config(&s);
}

/* ---- matching ------------------------------------------------------- */

static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static inline int is_alnum(uint8_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_local reports the characters of an address's local part (RFC 5322
 * atext plus '.'). All are ASCII, so masking never splits a UTF-8
 * sequence. */
static inline int is_local(uint8_t c) {
  if (is_alnum(c)) return 1;
  switch (c) {
    case '.': case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '/': case '=': case '?': case '^': case '_': case '`': case '{':
    case '|': case '}': case '~': case '-':
      return 1;
  }
  return 0;
}

/* domain_end returns the end of a domain starting at i: labels of
 * letters, digits and '-' joined by single dots, at least two labels;
 * i when there is none. */
static uint32_t domain_end(const uint8_t *p, uint32_t i, uint32_t n) {
  uint32_t j = i, labels = 0;
  for (;;) {
    uint32_t start = j;
    while (j < n && (is_alnum(p[j]) || p[j] == '-')) j++;
    if (j == start) break;
    labels++;
    if (j + 1 < n && p[j] == '.' && is_alnum(p[j + 1])) {
      j++;
      continue;
    }
    break;
  }
  return labels >= 2 ? j : i;
}

/* mask_email_at masks the address around the '@' at i, if there is one,
 * and returns 1 if it masked one. */
static uint32_t mask_email_at(uint8_t *p, uint32_t i, uint32_t n) {
  uint32_t a = i;
  while (a > 0 && is_local(p[a - 1])) a--;
  uint32_t e = domain_end(p, i + 1, n);
  if (a == i || e == i + 1) return 0;
  for (uint32_t k = a; k < i; k++) p[k] = cfg.mask;
  if (!cfg.keep_domain) {
    for (uint32_t k = i + 1; k < e; k++) {
      if (p[k] != '.') p[k] = cfg.mask;
    }
  }
  return 1;
}

/* A card number is 13 to 19 digits, written together or in groups joined
 * by single spaces or dashes, whose Luhn checksum holds. Within a run of
 * such groups, every window of whole groups is tried, so "order 12 4111
 * 1111 1111 1111" still finds the card. */
#define CARD_MIN 13
#define CARD_MAX 19

static inline int is_sep(uint8_t c) { return c == ' ' || c == '-'; }

/* group_end returns the end of the digit group starting at i. */
static uint32_t group_end(const uint8_t *p, uint32_t i, uint32_t n) {
  while (i < n && is_digit(p[i])) i++;
  return i;
}

/* next_group returns the start of the group after the one ending at e, or
 * 0 when the run ends there (a group never starts at 0 after another). */
static uint32_t next_group(const uint8_t *p, uint32_t e, uint32_t n) {
  if (e + 1 < n && is_sep(p[e]) && is_digit(p[e + 1])) return e + 1;
  return 0;
}

static const uint8_t luhn_double[10] = {0, 2, 4, 6, 8, 1, 3, 5, 7, 9};

/* card_at looks for the longest card made of whole groups starting at the
 * group at g; it returns its end, or 0. Luhn sums are kept for both
 * parities as digits are added, so each group start costs at most
 * CARD_MAX digits. */
static uint32_t card_at(const uint8_t *p, uint32_t g, uint32_t n) {
  uint32_t plain[2] = {0, 0}, doubled[2] = {0, 0}; /* by index parity */
  uint32_t digits = 0, best = 0;
  uint32_t s = g;
  for (;;) {
    uint32_t e = group_end(p, s, n);
    if (digits + (e - s) > CARD_MAX) break;
    for (uint32_t k = s; k < e; k++) {
      uint32_t d = p[k] - '0';
      plain[digits & 1] += d;
      doubled[digits & 1] += luhn_double[d];
      digits++;
    }
    if (digits >= CARD_MIN) {
      /* The last digit is not doubled; counting from the left, the
       * doubled digits are those whose index parity differs from the
       * last index's. */
      uint32_t last = (digits - 1) & 1;
      if ((plain[last] + doubled[last ^ 1]) % 10 == 0) best = e;
    }
    s = next_group(p, e, n);
    if (s == 0) break;
  }
  return best;
}

static void mask_card(uint8_t *p, uint32_t a, uint32_t e) {
  uint32_t digits = 0;
  for (uint32_t k = a; k < e; k++) digits += is_digit(p[k]);
  uint32_t hide = digits > cfg.keep_last ? digits - cfg.keep_last : 0;
  for (uint32_t k = a; k < e && hide > 0; k++) {
    if (is_digit(p[k])) {
      p[k] = cfg.mask;
      hide--;
    }
  }
}

/* mask_cards_from walks the run of digit groups starting at i, masks the
 * cards in it, adds their number to *count and returns the end of the
 * run. */
static uint32_t mask_cards_from(uint8_t *p, uint32_t i, uint32_t n, uint32_t *count) {
  uint32_t g = i;
  for (;;) {
    uint32_t e = card_at(p, g, n);
    uint32_t ge = e ? e : group_end(p, g, n);
    if (e) {
      mask_card(p, g, e);
      (*count)++;
    }
    uint32_t next = next_group(p, ge, n);
    if (next == 0) return ge;
    g = next;
  }
}

/* ---- one pass over the message ------------------------------------- */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* interesting reports whether any of the 8 bytes in w is '@' or a digit.
 * It never misses one (a false alarm only costs the byte-wise look), so
 * the scan can skip plain text a word at a time: metering makes every loop
 * iteration cost a little, and most of a chat message is plain text. */
static inline int interesting(uint64_t w) {
  uint64_t at = w ^ (ONES * '@');
  uint64_t has_at = (at - ONES) & ~at & HIGHS;
  /* Bytes between '0' and '9': bit-twiddling "hasbetween". */
  uint64_t low = w & (ONES * 127);
  uint64_t has_digit = ((ONES * (127 + '9' + 1)) - low) & ~w & (low + ONES * (127 - ('0' - 1))) & HIGHS;
  return (has_at | has_digit) != 0;
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t w;
  __builtin_memcpy(&w, p, 8);
  return w;
}

/* redact masks what the config asks for and returns how many addresses
 * and card numbers it masked. */
static uint32_t redact(uint8_t *p, uint32_t n) {
  uint32_t count = 0;
  uint32_t i = 0;
  while (i < n) {
    if (i + 8 <= n && !interesting(load64(p + i))) {
      i += 8;
      continue;
    }
    uint8_t c = p[i];
    if (c == '@' && cfg.email) {
      count += mask_email_at(p, i, n);
      i++;
      continue;
    }
    if (is_digit(c) && cfg.cards && (i == 0 || !is_digit(p[i - 1]))) {
      i = mask_cards_from(p, i, n, &count);
      continue;
    }
    i++;
  }
  return count;
}

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  (void)sid;
  if (weir_meta_opcode(meta) != WEIR_OP_TEXT) {
    return weir_result(WEIR_CONTINUE, len);
  }
  uint32_t masked = redact(weir_buf(), len);
  if (masked) weir_metric_add(metric_masked, masked);
  return weir_result(WEIR_CONTINUE, len);
}
