// A validating JSON scanner over linear memory: `b` is the address of the
// bytes, `n` their length, positions are i32 indices and -1 means invalid.
// No allocation and no recursion: a depth-bounded array stands in for the
// call stack, so a deeply nested message cannot overflow the module's
// stack. The bytes are trusted to be UTF-8 (the gateway checks text
// messages); escapes and control characters are checked here.

export const INVALID: i32 = -1;
export const MAX_DEPTH: i32 = 256;

// Allocated once, when the module starts.
const stack = new StaticArray<bool>(MAX_DEPTH);

// @ts-ignore: decorator
@inline function byteAt(b: usize, i: i32): i32 {
  return <i32>load<u8>(b + <usize>i);
}

export function skipWs(b: usize, n: i32, i: i32): i32 {
  while (i < n) {
    const c = byteAt(b, i);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
    i++;
  }
  return i;
}

function hex(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function hex4(b: usize, n: i32, i: i32): i32 {
  if (i > n - 4) return -1;
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const h = hex(byteAt(b, i + k));
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

const ONES: u64 = 0x0101010101010101;
const HIGHS: u64 = 0x8080808080808080;

// @ts-ignore: decorator
@inline function hasZero(w: u64): bool {
  return ((w - ONES) & ~w & HIGHS) != 0;
}

// skipPlain skips string bytes that need no attention (not '"', '\' or a
// control character) eight at a time: string contents are most of a JSON
// message, and every loop iteration of a metered module costs a little.
function skipPlain(b: usize, n: i32, j: i32): i32 {
  while (j <= n - 8) {
    const w = load<u64>(b + <usize>j);
    if (((w - ONES * 0x20) & ~w & HIGHS) != 0 || hasZero(w ^ (ONES * 0x22)) || hasZero(w ^ (ONES * 0x5c))) break;
    j += 8;
  }
  return j;
}

// scanString scans the string at i (its opening quote) and returns the
// index after its closing quote.
export function scanString(b: usize, n: i32, i: i32): i32 {
  if (i >= n || byteAt(b, i) != 0x22) return INVALID;
  let j = i + 1;
  while (j < n) {
    j = skipPlain(b, n, j);
    if (j >= n) break;
    const c = byteAt(b, j);
    if (c == 0x22) return j + 1;
    if (c < 0x20) return INVALID;
    if (c == 0x5c) {
      if (j + 1 >= n) return INVALID;
      const e = byteAt(b, j + 1);
      if (e == 0x75) {
        if (hex4(b, n, j + 2) < 0) return INVALID;
        j += 6;
      } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
        j += 2;
      } else {
        return INVALID;
      }
      continue;
    }
    j++;
  }
  return INVALID;
}

function digits(b: usize, n: i32, i: i32): i32 {
  while (i < n) {
    const c = byteAt(b, i);
    if (c < 0x30 || c > 0x39) break;
    i++;
  }
  return i;
}

// scanNumber scans a number (RFC 8259 §6) at i.
export function scanNumber(b: usize, n: i32, i: i32): i32 {
  if (i < n && byteAt(b, i) == 0x2d) i++;
  if (i >= n) return INVALID;
  const c = byteAt(b, i);
  if (c == 0x30) {
    i++;
  } else if (c >= 0x31 && c <= 0x39) {
    i = digits(b, n, i);
  } else {
    return INVALID;
  }
  if (i < n && byteAt(b, i) == 0x2e) {
    const j = digits(b, n, i + 1);
    if (j == i + 1) return INVALID;
    i = j;
  }
  if (i < n && (byteAt(b, i) == 0x65 || byteAt(b, i) == 0x45)) {
    i++;
    if (i < n && (byteAt(b, i) == 0x2b || byteAt(b, i) == 0x2d)) i++;
    const j = digits(b, n, i);
    if (j == i) return INVALID;
    i = j;
  }
  return i;
}

// literal matches one of true, false, null at i.
function literal(b: usize, n: i32, i: i32, word: string): i32 {
  const len = word.length;
  if (i > n - len) return INVALID;
  for (let k = 0; k < len; k++) {
    if (byteAt(b, i + k) != word.charCodeAt(k)) return INVALID;
  }
  return i + len;
}

// scanKey scans `"key" :` at i (after optional whitespace) and returns the
// index after the colon.
export function scanKey(b: usize, n: i32, i: i32): i32 {
  i = scanString(b, n, skipWs(b, n, i));
  if (i < 0) return INVALID;
  i = skipWs(b, n, i);
  if (i >= n || byteAt(b, i) != 0x3a) return INVALID;
  return i + 1;
}

// scanValue scans one value at i (after optional whitespace) and returns
// the index after it. Containers may nest maxDepth deep (capped at
// MAX_DEPTH): a scalar has depth 0, [] depth 1.
export function scanValue(b: usize, n: i32, i: i32, maxDepth: i32): i32 {
  if (maxDepth > MAX_DEPTH) maxDepth = MAX_DEPTH;
  let depth = 0;
  for (;;) {
    // A value is expected at i.
    i = skipWs(b, n, i);
    if (i >= n) return INVALID;
    const c = byteAt(b, i);
    if (c == 0x7b || c == 0x5b) {
      if (depth >= maxDepth) return INVALID;
      const object = c == 0x7b;
      unchecked((stack[depth] = object));
      depth++;
      const j = skipWs(b, n, i + 1);
      if (j < n && byteAt(b, j) == (object ? 0x7d : 0x5d)) {
        depth--;
        i = j + 1;
      } else {
        i = object ? scanKey(b, n, j) : j;
        if (i < 0) return INVALID;
        continue;
      }
    } else if (c == 0x22) {
      i = scanString(b, n, i);
    } else if (c == 0x74) {
      i = literal(b, n, i, "true");
    } else if (c == 0x66) {
      i = literal(b, n, i, "false");
    } else if (c == 0x6e) {
      i = literal(b, n, i, "null");
    } else if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
      i = scanNumber(b, n, i);
    } else {
      return INVALID;
    }
    if (i < 0) return INVALID;
    // After a value: close containers until one continues with ','.
    for (;;) {
      if (depth == 0) return i;
      i = skipWs(b, n, i);
      if (i >= n) return INVALID;
      const object = unchecked(stack[depth - 1]);
      const d = byteAt(b, i);
      if (d == 0x2c) {
        i = object ? scanKey(b, n, i + 1) : i + 1;
        if (i < 0) return INVALID;
        break;
      }
      if ((object && d == 0x7d) || (!object && d == 0x5d)) {
        depth--;
        i++;
        continue;
      }
      return INVALID;
    }
  }
  // Not reached: both loops leave only by return.
  return INVALID;
}

function put(out: usize, limit: i32, k: i32, c: i32): i32 {
  if (k >= limit) return -1;
  store<u8>(out + <usize>k, <u8>c);
  return k + 1;
}

// decodeString decodes the string at i (its opening quote) to UTF-8 bytes
// at out and returns their count, or -1 for a bad string, a lone
// surrogate escape or more than limit bytes.
export function decodeString(b: usize, n: i32, i: i32, out: usize, limit: i32): i32 {
  const end = scanString(b, n, i);
  if (end < 0) return -1;
  let j = i + 1;
  let k = 0;
  while (j < end - 1 && k >= 0) {
    const c = byteAt(b, j);
    if (c != 0x5c) {
      k = put(out, limit, k, c);
      j++;
      continue;
    }
    const e = byteAt(b, j + 1);
    j += 2;
    let cp: i32 = e;
    if (e == 0x62) cp = 0x08;
    else if (e == 0x66) cp = 0x0c;
    else if (e == 0x6e) cp = 0x0a;
    else if (e == 0x72) cp = 0x0d;
    else if (e == 0x74) cp = 0x09;
    else if (e == 0x75) {
      cp = hex4(b, n, j);
      j += 4;
      if (cp >= 0xd800 && cp < 0xdc00) {
        // A high surrogate must be followed by \u and a low one.
        if (j > n - 6 || byteAt(b, j) != 0x5c || byteAt(b, j + 1) != 0x75) return -1;
        const lo = hex4(b, n, j + 2);
        if (lo < 0xdc00 || lo >= 0xe000) return -1;
        j += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp < 0xe000) {
        return -1;
      }
    }
    if (cp < 0x80) {
      k = put(out, limit, k, cp);
    } else if (cp < 0x800) {
      k = put(out, limit, k, 0xc0 | (cp >> 6));
      if (k >= 0) k = put(out, limit, k, 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      k = put(out, limit, k, 0xe0 | (cp >> 12));
      if (k >= 0) k = put(out, limit, k, 0x80 | ((cp >> 6) & 0x3f));
      if (k >= 0) k = put(out, limit, k, 0x80 | (cp & 0x3f));
    } else {
      k = put(out, limit, k, 0xf0 | (cp >> 18));
      if (k >= 0) k = put(out, limit, k, 0x80 | ((cp >> 12) & 0x3f));
      if (k >= 0) k = put(out, limit, k, 0x80 | ((cp >> 6) & 0x3f));
      if (k >= 0) k = put(out, limit, k, 0x80 | (cp & 0x3f));
    }
  }
  return k;
}

// stringEquals reports whether the string at i decodes to exactly the
// wantLen bytes at want (so "us\u0065r" equals user), using scratch, which
// holds at least wantLen + 1 bytes.
export function stringEquals(b: usize, n: i32, i: i32, want: usize, wantLen: i32, scratch: usize): bool {
  // Most keys have no escapes: compare their bytes as they are.
  const end = scanString(b, n, i);
  if (end < 0) return false;
  let plain = true;
  for (let j = i + 1; j < end - 1; j++) {
    if (byteAt(b, j) == 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return end - i - 2 == wantLen && memory.compare(b + <usize>(i + 1), want, <usize>wantLen) == 0;
  const k = decodeString(b, n, i, scratch, wantLen + 1);
  return k == wantLen && memory.compare(scratch, want, <usize>wantLen) == 0;
}
