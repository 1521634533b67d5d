// tag: stamps every JSON object a client sends with the session's user and
// a per-session sequence number, so a backend learns who said what, and in
// which order, without trusting the client:
//
//   {"msg":"hi"}  ->  {"msg":"hi","user":"ann","seq":1}
//
// The user comes from a session property read at the handshake (by default
// the X-User request header, set by an authenticating proxy or a policy).
// A message that already carries the user or seq field is an attempt to
// speak for someone else: the session is closed with 1008. Text that is not
// a JSON object passes, is dropped or closes the session (on_invalid);
// binary messages and messages from the backend pass unchanged. See
// README.md for the configuration.
//
// Memory: the module is built with the stub runtime, which never frees, so
// everything is allocated once (at start and in init) and the hooks work in
// place: the message in the SDK's buffer, the session table in one block.
import {
  CLIENT_TO_BACKEND, COUNTER, Filter, HANDSHAKE_CONTINUE, HANDSHAKE_REJECT, LOG_ERROR, OP_TEXT,
  bufferCap, bufferPtr, closeSession, getConfig, getProperty, logStr, metaDir, metaOpcode, metricAdd,
  metricDefineStr, register, reject, resultClose, resultContinue, resultDrop,
} from "../../../sdk/assemblyscript/assembly/index";
export * from "../../../sdk/assemblyscript/assembly/exports";
import { INVALID, MAX_DEPTH, decodeString, scanKey, scanString, scanValue, skipWs, stringEquals } from "./json";

const USER_MAX: i32 = 64; // bytes of a user value
const NAME_MAX: i32 = 64; // bytes of a field name
const PROPERTY_MAX: i32 = 128; // bytes of the user_from property key

const PASS: i32 = 0;
const DROP: i32 = 1;
const CLOSE: i32 = 2;

// Reasons, encoded once: the hooks must not allocate.
const REASON_INVALID = String.UTF8.encode("tag: not a JSON object");
const REASON_RESERVED = String.UTF8.encode("tag: message carries a reserved field");
const REASON_FULL = String.UTF8.encode("tag: too many sessions");
const REASON_NO_USER = String.UTF8.encode("tag: missing user");
const REASON_BAD_USER = String.UTF8.encode("tag: invalid user");

function ptr(b: ArrayBuffer): usize {
  return changetype<usize>(b);
}

// validUser reports whether the n bytes at p are UTF-8 without control
// characters: a header may carry any byte, and the value ends up in a
// JSON string of a text message.
function validUser(p: usize, n: i32): bool {
  let i = 0;
  while (i < n) {
    const c = <i32>load<u8>(p + <usize>i);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      i++;
      continue;
    }
    let need = 0;
    let min = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return false;
    }
    if (i + need >= n) return false;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const d = <i32>load<u8>(p + <usize>(i + k));
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return false;
    i += need + 1;
  }
  return true;
}

// validName reports whether a field name is 1-64 bytes of [A-Za-z0-9_.-],
// which needs no escaping in the JSON the filter writes.
function validName(b: ArrayBuffer): bool {
  const n = b.byteLength;
  if (n < 1 || n > NAME_MAX) return false;
  for (let i = 0; i < n; i++) {
    const c = <i32>load<u8>(ptr(b) + <usize>i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c == 0x5f || c == 0x2e || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

function bytesEqual(a: ArrayBuffer, b: ArrayBuffer): bool {
  return a.byteLength == b.byteLength && memory.compare(ptr(a), ptr(b), <usize>a.byteLength) == 0;
}

class Tag extends Filter {
  userFrom: ArrayBuffer = String.UTF8.encode("request.header.x-user");
  userField: ArrayBuffer = String.UTF8.encode("user");
  seqField: ArrayBuffer = String.UTF8.encode("seq");
  requireUser: bool = false;
  onInvalid: i32 = PASS;
  maxDepth: i32 = 32;
  maxSessions: i32 = 1024;

  // The session table: open addressing, 8-byte slots of (sid, seq); sid 0
  // marks a free slot (session ids start at 1).
  slots: usize = 0;
  mask: u32 = 0;
  count: i32 = 0;

  // scratch holds a decoded key or the user value during a hook.
  scratch: usize = 0;
  tagged: i32 = -1;
  rejected: i32 = -1;

  init(configLen: u32): i32 {
    this.tagged = metricDefineStr(COUNTER, "tag_tagged");
    this.rejected = metricDefineStr(COUNTER, "tag_rejected");
    if (this.tagged < 0 || this.rejected < 0) return fail("tag: metric_define failed");
    this.scratch = heap.alloc(<usize>(USER_MAX + PROPERTY_MAX + 8));
    if (configLen > 0) {
      if (configLen > 8192) return fail("tag: config larger than 8192 bytes");
      const raw = new ArrayBuffer(<i32>configLen);
      if (getConfig(ptr(raw), configLen) != <i32>configLen) return fail("tag: get_config failed");
      const err = this.parseConfig(ptr(raw), <i32>configLen);
      if (err != null) return fail(err);
    }
    let cap: u32 = 16;
    while (cap < <u32>this.maxSessions * 2) cap <<= 1;
    this.mask = cap - 1;
    this.slots = heap.alloc(<usize>cap * 8);
    memory.fill(this.slots, 0, <usize>cap * 8);
    return 0;
  }

  // parseConfig reads the config object; it returns what is wrong, or null.
  parseConfig(b: usize, n: i32): string | null {
    let i = skipWs(b, n, 0);
    if (i >= n || load<u8>(b + <usize>i) != 0x7b) return "tag: config must be a JSON object";
    i = skipWs(b, n, i + 1);
    // A flag rather than for (;;) with break: asc 0.28 compiles a break
    // out of an endless loop inside an else branch to a trap.
    let more = true;
    if (i < n && load<u8>(b + <usize>i) == 0x7d) {
      i++;
      more = false;
    }
    while (more) {
      const key = skipWs(b, n, i);
      let v = scanKey(b, n, key);
      if (v < 0) return "tag: config is not valid JSON";
      v = skipWs(b, n, v);
      const k = this.decode(b, n, key, 32);
      if (k == null) return "tag: config: unknown key";
      let end = INVALID;
      if (k == "user_from") {
        const s = this.decodeBuffer(b, n, v, PROPERTY_MAX);
        if (s == null || s.byteLength == 0) return "tag: config: user_from must be a property name of at most 128 bytes";
        this.userFrom = s;
        end = scanString(b, n, v);
      } else if (k == "user_field" || k == "seq_field") {
        const s = this.decodeBuffer(b, n, v, NAME_MAX);
        if (s == null || !validName(s)) return "tag: config: " + k + " must be 1-64 characters of A-Z a-z 0-9 _ . -";
        if (k == "user_field") this.userField = s;
        else this.seqField = s;
        end = scanString(b, n, v);
      } else if (k == "require_user") {
        end = scanValue(b, n, v, 0);
        const t = this.decodeLiteral(b, v, end);
        if (t < 0) return "tag: config: require_user must be true or false";
        this.requireUser = t == 1;
      } else if (k == "on_invalid") {
        const s = this.decode(b, n, v, 8);
        if (s == "pass") this.onInvalid = PASS;
        else if (s == "drop") this.onInvalid = DROP;
        else if (s == "close") this.onInvalid = CLOSE;
        else return "tag: config: on_invalid must be pass, drop or close";
        end = scanString(b, n, v);
      } else if (k == "max_depth" || k == "max_sessions") {
        end = scanValue(b, n, v, 0);
        const x = this.decodeInt(b, v, end);
        const max = k == "max_depth" ? MAX_DEPTH : 65536;
        if (x < 1 || x > max) return "tag: config: " + k + " must be an integer from 1 to " + max.toString();
        if (k == "max_depth") this.maxDepth = x;
        else this.maxSessions = x;
      } else {
        return "tag: config: unknown key " + k +
          " (known: user_from, user_field, seq_field, require_user, on_invalid, max_depth, max_sessions)";
      }
      if (end < 0) return "tag: config is not valid JSON";
      i = skipWs(b, n, end);
      const c = i < n ? <i32>load<u8>(b + <usize>i) : -1;
      i++;
      if (c == 0x7d) more = false;
      else if (c != 0x2c) return "tag: config is not valid JSON";
    }
    if (skipWs(b, n, i) != n) return "tag: config is not valid JSON";
    if (bytesEqual(this.userField, this.seqField)) return "tag: config: user_field and seq_field must differ";
    return null;
  }

  decodeBuffer(b: usize, n: i32, i: i32, limit: i32): ArrayBuffer | null {
    const tmp = new ArrayBuffer(limit);
    const k = decodeString(b, n, i, ptr(tmp), limit);
    if (k < 0) return null;
    return tmp.slice(0, k);
  }

  decode(b: usize, n: i32, i: i32, limit: i32): string | null {
    const s = this.decodeBuffer(b, n, i, limit);
    return s == null ? null : String.UTF8.decode(s);
  }

  // decodeLiteral returns 1 for true, 0 for false, -1 otherwise.
  decodeLiteral(b: usize, i: i32, end: i32): i32 {
    if (end == i + 4 && load<u8>(b + <usize>i) == 0x74) return 1;
    if (end == i + 5 && load<u8>(b + <usize>i) == 0x66) return 0;
    return -1;
  }

  // decodeInt returns the plain integer between i and end, or -1.
  decodeInt(b: usize, i: i32, end: i32): i32 {
    if (end <= i || end - i > 6) return -1;
    let x = 0;
    for (let k = i; k < end; k++) {
      const c = <i32>load<u8>(b + <usize>k);
      if (c < 0x30 || c > 0x39) return -1;
      x = x * 10 + (c - 0x30);
    }
    return x;
  }

  // ---- the session table ----

  find(sid: u32): usize {
    let i = sid & this.mask;
    for (let probes: u32 = 0; probes <= this.mask; probes++) {
      const slot = this.slots + <usize>i * 8;
      const s = load<u32>(slot);
      if (s == sid) return slot;
      if (s == 0) return 0;
      i = (i + 1) & this.mask;
    }
    return 0;
  }

  insert(sid: u32): usize {
    if (this.count >= this.maxSessions) return 0;
    let i = sid & this.mask;
    // The table holds at most half as many sessions as slots: a free slot
    // is always found.
    for (let probes: u32 = 0; probes <= this.mask; probes++) {
      const slot = this.slots + <usize>i * 8;
      if (load<u32>(slot) == 0) {
        store<u32>(slot, sid);
        store<u32>(slot, 0, 4);
        this.count++;
        return slot;
      }
      i = (i + 1) & this.mask;
    }
    return 0;
  }

  // remove deletes sid by shifting later entries of its probe chain back,
  // so lookups never need tombstones.
  remove(sid: u32): void {
    const found = this.find(sid);
    if (found == 0) return;
    let i = <u32>((found - this.slots) / 8);
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      const sj = load<u32>(this.slots + <usize>j * 8);
      if (sj == 0) break;
      const home = sj & this.mask;
      // Leave the entry where it is if its home lies cyclically in (i, j].
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      store<u64>(this.slots + <usize>i * 8, load<u64>(this.slots + <usize>j * 8));
      i = j;
    }
    store<u64>(this.slots + <usize>i * 8, 0);
    this.count--;
  }

  // ---- hooks ----

  onHandshake(sid: u32, propsLen: u32): i32 {
    const n = getProperty(sid, ptr(this.userFrom), <u32>this.userFrom.byteLength, this.scratch, <u32>USER_MAX);
    if (n < 0 && this.requireUser) {
      reject(401, ptr(REASON_NO_USER), <u32>REASON_NO_USER.byteLength);
      return HANDSHAKE_REJECT;
    }
    if (n > USER_MAX || (n >= 0 && !validUser(this.scratch, n))) {
      reject(400, ptr(REASON_BAD_USER), <u32>REASON_BAD_USER.byteLength);
      return HANDSHAKE_REJECT;
    }
    if (this.find(sid) == 0 && this.insert(sid) == 0) {
      reject(503, ptr(REASON_FULL), <u32>REASON_FULL.byteLength);
      return HANDSHAKE_REJECT;
    }
    return HANDSHAKE_CONTINUE;
  }

  onSessionEnd(sid: u32): void {
    this.remove(sid);
  }

  onMessage(sid: u32, meta: i64, len: u32): i64 {
    if (metaDir(meta) != CLIENT_TO_BACKEND || metaOpcode(meta) != OP_TEXT) return resultContinue(len);
    const b = bufferPtr();
    const n = <i32>len;
    // Walk the top-level object, validating everything, looking for the
    // reserved fields and for the closing brace.
    let i = skipWs(b, n, 0);
    let members = 0;
    let reserved = false;
    let ok = i < n && load<u8>(b + <usize>i) == 0x7b;
    if (ok) {
      i = skipWs(b, n, i + 1);
      let more = true;
      if (i < n && load<u8>(b + <usize>i) == 0x7d) {
        i++;
        more = false;
      }
      while (more) {
        const key = skipWs(b, n, i);
        i = scanKey(b, n, key);
        if (i >= 0) i = scanValue(b, n, i, this.maxDepth - 1);
        if (i < 0) break;
        members++;
        if (this.isReserved(b, n, key)) reserved = true;
        i = skipWs(b, n, i);
        const c = i < n ? <i32>load<u8>(b + <usize>i) : -1;
        i++;
        if (c == 0x7d) more = false;
        else if (c != 0x2c) i = INVALID;
        if (i < 0) break;
      }
      ok = i >= 0 && skipWs(b, n, i) == n;
    }
    if (!ok) {
      if (this.onInvalid == PASS) return resultContinue(len);
      metricAdd(this.rejected, 1);
      if (this.onInvalid == DROP) return resultDrop();
      closeSession(sid, 1008, ptr(REASON_INVALID), <u32>REASON_INVALID.byteLength);
      return resultClose();
    }
    if (reserved) {
      metricAdd(this.rejected, 1);
      closeSession(sid, 1008, ptr(REASON_RESERVED), <u32>REASON_RESERVED.byteLength);
      return resultClose();
    }
    let slot = this.find(sid);
    if (slot == 0) slot = this.insert(sid);
    if (slot == 0) {
      closeSession(sid, 1013, ptr(REASON_FULL), <u32>REASON_FULL.byteLength);
      return resultClose();
    }
    const seq = load<u32>(slot, 4) + 1;
    store<u32>(slot, seq, 4);
    // i is just after the closing brace; write the tags over it.
    const out = this.appendTags(b, i - 1, members > 0, sid, seq);
    if (out < 0) {
      // Cannot happen: the buffer holds len + 1024 bytes and the tags
      // need fewer than 600.
      closeSession(sid, 1011, ptr(REASON_INVALID), <u32>REASON_INVALID.byteLength);
      return resultClose();
    }
    metricAdd(this.tagged, 1);
    return resultContinue(<u32>out);
  }

  isReserved(b: usize, n: i32, key: i32): bool {
    const s = this.scratch;
    return stringEquals(b, n, key, ptr(this.userField), this.userField.byteLength, s) ||
      stringEquals(b, n, key, ptr(this.seqField), this.seqField.byteLength, s);
  }

  // appendTags writes `,"user":"ann","seq":7}` from w on (no comma into an
  // empty object) and returns the new length, or -1 if it does not fit.
  appendTags(b: usize, w: i32, comma: bool, sid: u32, seq: u32): i32 {
    const cap = <i32>bufferCap();
    const user = this.scratch;
    let n = getProperty(sid, ptr(this.userFrom), <u32>this.userFrom.byteLength, user, <u32>USER_MAX);
    if (n > USER_MAX) n = -1;
    // Worst case: every user byte escaped as \u00XX.
    const need = 4 + this.userField.byteLength + 4 + USER_MAX * 6 + 4 + this.seqField.byteLength + 4 + 10 + 1;
    if (w + need > cap) return -1;
    if (comma) w = putByte(b, w, 0x2c);
    w = putField(b, w, this.userField);
    if (n < 0) {
      w = putAscii(b, w, "null");
    } else {
      w = putByte(b, w, 0x22);
      for (let k = 0; k < n; k++) {
        const c = <i32>load<u8>(user + <usize>k);
        if (c == 0x22 || c == 0x5c) {
          w = putByte(b, w, 0x5c);
          w = putByte(b, w, c);
        } else if (c < 0x20) {
          w = putAscii(b, w, "\\u00");
          w = putByte(b, w, HEX.charCodeAt(c >> 4));
          w = putByte(b, w, HEX.charCodeAt(c & 15));
        } else {
          w = putByte(b, w, c);
        }
      }
      w = putByte(b, w, 0x22);
    }
    w = putByte(b, w, 0x2c);
    w = putField(b, w, this.seqField);
    w = putUint(b, w, seq);
    return putByte(b, w, 0x7d);
  }
}

const HEX = "0123456789abcdef";

function putByte(b: usize, w: i32, c: i32): i32 {
  store<u8>(b + <usize>w, <u8>c);
  return w + 1;
}

function putAscii(b: usize, w: i32, s: string): i32 {
  for (let k = 0; k < s.length; k++) w = putByte(b, w, s.charCodeAt(k));
  return w;
}

// putField writes "name": for a name validName accepted.
function putField(b: usize, w: i32, name: ArrayBuffer): i32 {
  w = putByte(b, w, 0x22);
  memory.copy(b + <usize>w, ptr(name), <usize>name.byteLength);
  w += name.byteLength;
  w = putByte(b, w, 0x22);
  return putByte(b, w, 0x3a);
}

function putUint(b: usize, w: i32, v: u32): i32 {
  let digits = 1;
  for (let x = v; x >= 10; x /= 10) digits++;
  for (let k = digits - 1; k >= 0; k--) {
    store<u8>(b + <usize>(w + k), <u8>(0x30 + v % 10));
    v /= 10;
  }
  return w + digits;
}

function fail(msg: string): i32 {
  logStr(LOG_ERROR, msg);
  return 1;
}

register(new Tag());
