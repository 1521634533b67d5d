// Drives a weir echo route with the `ws` npm client and prints one JSON line
// with the results:
//
//   node client.mjs ws://127.0.0.1:PORT/echo
//
// It sends a scripted set of messages one at a time — text, binary, empty,
// a 1 MiB binary, and text and binary messages that it fragments itself
// (ws sends a message as one frame unless told otherwise, so fragments are
// sent with `fin: false`; the text fragments split UTF-8 code points) — and
// checks that each echo comes back byte-exact with the same type. Then it
// closes with 1000 and reports the Close the server answered with.
//
// Exit status: 0 when every check passed, 1 when one failed, 2 on a
// connection error or the overall deadline.
import { createHash, randomBytes } from "node:crypto";
import WebSocket from "ws";

const DEADLINE_MS = 20000;

const url = process.argv[2];
if (!url) {
  console.error("usage: node client.mjs ws://HOST:PORT/PATH");
  process.exit(2);
}

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

// A text payload mixing 1- to 4-byte UTF-8 sequences.
function utf8Text(bytes) {
  const unit = "a€😀ßx✓"; // 1+3+4+2+1+3 = 14 bytes
  const s = unit.repeat(Math.ceil(bytes / 14));
  return Buffer.from(s, "utf8").subarray(0, Math.floor(bytes / 14) * 14);
}

// Splits buf at the given offsets.
function split(buf, offsets) {
  const parts = [];
  let at = 0;
  for (const o of offsets) {
    parts.push(buf.subarray(at, o));
    at = o;
  }
  parts.push(buf.subarray(at));
  return parts;
}

const fragText = utf8Text(300 * 1024);
const fragBinary = randomBytes(512 * 1024);
const cases = [
  { name: "text", binary: false, fragments: [Buffer.from("hello from ws — ünïcødé ✓", "utf8")] },
  { name: "binary", binary: true, fragments: [randomBytes(4096)] },
  { name: "empty-text", binary: false, fragments: [Buffer.alloc(0)] },
  { name: "binary-1MiB", binary: true, fragments: [randomBytes(1 << 20)] },
  // Offsets 1, 2 and 100003 fall inside multi-byte code points.
  { name: "fragmented-text", binary: false, fragments: split(fragText, [1, 2, 100003, 200000]) },
  { name: "fragmented-binary", binary: true, fragments: split(fragBinary, [7, 65536, 65537, 300000]) },
];

const results = [];
let finished = false;

function finish(code, extra) {
  if (finished) return;
  finished = true;
  const ok = code === 0;
  process.stdout.write(JSON.stringify({ ok, results, ...extra }) + "\n");
  process.exitCode = code;
  clearTimeout(timer);
  // Let stdout flush, then end even if a socket is still open.
  setImmediate(() => process.exit(code));
}

const timer = setTimeout(() => finish(2, { error: `deadline of ${DEADLINE_MS} ms passed` }), DEADLINE_MS);

const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20 });

// Incoming messages are queued and taken in order by the script.
const inbox = [];
let waiting = null;
ws.on("message", (data, isBinary) => {
  const msg = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data), isBinary };
  if (waiting) {
    const w = waiting;
    waiting = null;
    w(msg);
  } else {
    inbox.push(msg);
  }
});
const nextMessage = () =>
  inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((resolve) => (waiting = resolve));

const closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));

ws.on("error", (err) => finish(2, { error: String(err && err.message ? err.message : err) }));

function send(data, opts) {
  return new Promise((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
}

ws.on("open", async () => {
  try {
    let allOk = true;
    for (const c of cases) {
      const whole = Buffer.concat(c.fragments);
      for (let i = 0; i < c.fragments.length; i++) {
        const fin = i === c.fragments.length - 1;
        await send(c.fragments[i], { binary: c.binary, fin, compress: false });
      }
      const got = await nextMessage();
      const r = {
        name: c.name,
        bytes: whole.length,
        frames: c.fragments.length,
        binary: c.binary,
        sha256: sha256(whole),
        echo_bytes: got.data.length,
        echo_binary: got.isBinary,
        echo_sha256: sha256(got.data),
      };
      r.ok = r.echo_binary === r.binary && r.echo_bytes === r.bytes && r.echo_sha256 === r.sha256;
      allOk = allOk && r.ok;
      results.push(r);
    }
    ws.close(1000, "done");
    const close = await closed;
    finish(allOk && close.code === 1000 ? 0 : 1, { close });
  } catch (err) {
    finish(2, { error: String(err && err.message ? err.message : err) });
  }
});
