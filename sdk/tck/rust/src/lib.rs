//! tck: the Rust guest of the weir conformance kit. It implements the
//! behaviour of sdk/tck/README.md ("The guest") through crate `weir`; the
//! C, Go and AssemblyScript guests beside it implement the same behaviour,
//! and sdk/tck runs one case list against all four.
#![no_std]

use weir::{
    host, Action, Drain, Filter, Handshake, Meta, Payload, Status, BACKEND_TO_CLIENT, CLIENT_TO_BACKEND, COUNTER,
    FEATURE_FRAMES, GAUGE, HISTOGRAM, LOG_INFO, OP_BINARY, OP_TEXT,
};

const MAX_SESSIONS: usize = 64;
const WORD_MAX: usize = 32;
const SUMMARY_MAX: usize = 64;
const SCRATCH: usize = 1024;

/// The state the guest keeps keyed by sid (ABI §6).
#[derive(Clone, Copy)]
struct Session {
    used: bool,
    sid: u32,
    msgs: u32,
    handshaken: bool,
    word_len: usize,
    word: [u8; WORD_MAX],
    summary_len: usize,
    summary: [u8; SUMMARY_MAX],
}

const EMPTY: Session = Session {
    used: false,
    sid: 0,
    msgs: 0,
    handshaken: false,
    word_len: 0,
    word: [0; WORD_MAX],
    summary_len: 0,
    summary: [0; SUMMARY_MAX],
};

impl Session {
    fn word(&self) -> &[u8] {
        &self.word[..self.word_len]
    }
}

struct Tck {
    sessions: [Session; MAX_SESSIONS],
    metrics: [i32; 3],
    frames: bool,
    /// Keys and values copied out of the buffer before the host writes into it.
    scratch: [u8; SCRATCH],
}

/// What a command makes of the message.
enum Reply {
    Forward(usize),
    Act(Action),
}

// ---- bytes and numbers ----------------------------------------------------

/// Cuts p at its first space: the word before it and what follows.
fn split(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().position(|&c| c == b' ') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (p, &[]),
    }
}

/// Reads an optional '-' and the digits that follow.
fn parse_int(p: &[u8]) -> i64 {
    let (neg, digits) = match p.first() {
        Some(b'-') => (true, &p[1..]),
        _ => (false, p),
    };
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
    }
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

/// Narrows a close code or HTTP status for the SDK's u16: a number that
/// does not fit becomes 0, which the host refuses as the ABI's i32 would be.
fn code16(v: i64) -> u16 {
    if (0..=0xFFFF).contains(&v) {
        v as u16
    } else {
        0
    }
}

fn text(p: &[u8]) -> &str {
    core::str::from_utf8(p).unwrap_or("")
}

/// Writes decimal v at out[at..] and returns the position after it.
fn put_int(out: &mut [u8], at: usize, v: i64) -> usize {
    let mut tmp = [0u8; 24];
    let mut n = 0;
    let mut u = v.unsigned_abs();
    loop {
        tmp[n] = b'0' + (u % 10) as u8;
        n += 1;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    let mut o = at;
    if v < 0 {
        out[o] = b'-';
        o += 1;
    }
    for i in 0..n {
        out[o + i] = tmp[n - 1 - i];
    }
    o + n
}

fn put(out: &mut [u8], at: usize, b: &[u8]) -> usize {
    out[at..at + b.len()].copy_from_slice(b);
    at + b.len()
}

fn put_meta(out: &mut [u8], m: Meta) -> usize {
    let mut o = put_int(out, 0, i64::from(m.dir()));
    o = put(out, o, b" ");
    o = put_int(out, o, i64::from(m.opcode()));
    o = put(out, o, b" ");
    o = put_int(out, o, i64::from(m.fin()));
    o = put(out, o, b" ");
    o = put_int(out, o, i64::from(m.first()));
    o = put(out, o, b" ");
    put_int(out, o, i64::from(m.seq()))
}

fn status(r: Result<(), Status>) -> i64 {
    match r {
        Ok(()) => 0,
        Err(s) => i64::from(s.0),
    }
}

fn answer(out: &mut [u8], v: i64) -> Reply {
    Reply::Forward(put_int(out, 0, v))
}

fn answer_err(out: &mut [u8], s: Status) -> Reply {
    let o = put(out, 0, b"ERR ");
    Reply::Forward(put_int(out, o, i64::from(s.0)))
}

// ---- sessions ---------------------------------------------------------------

impl Tck {
    fn find(&mut self, sid: u32) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.used && s.sid == sid)
    }

    fn state(&mut self, sid: u32) -> Option<&mut Session> {
        let i = match self.sessions.iter().position(|s| s.used && s.sid == sid) {
            Some(i) => i,
            None => {
                let i = self.sessions.iter().position(|s| !s.used)?;
                self.sessions[i] = Session { used: true, sid, ..EMPTY };
                i
            }
        };
        Some(&mut self.sessions[i])
    }

    /// Runs the command in buf[..len]; answers are written from buf[0].
    fn command(&mut self, sid: u32, meta: Meta, buf: &mut [u8], len: usize) -> Reply {
        let cap = buf.len();
        let msgs = match self.state(sid) {
            Some(s) => {
                s.msgs += 1;
                s.msgs
            }
            None => 0,
        };
        if self.frames {
            return Reply::Forward(put_meta(buf, meta));
        }
        if meta.opcode() != OP_TEXT {
            return Reply::Forward(len);
        }
        let (cmd_len, arg_start) = {
            let (cmd, arg) = split(&buf[..len]);
            (cmd.len(), len - arg.len())
        };
        let mut cmd = [0u8; 16];
        let cmd = if cmd_len <= cmd.len() {
            cmd[..cmd_len].copy_from_slice(&buf[..cmd_len]);
            &cmd[..cmd_len]
        } else {
            &[][..]
        };
        let arg = arg_start..len;
        match cmd {
            b"echo" => {
                buf.copy_within(arg.clone(), 0);
                Reply::Forward(arg.len())
            }
            b"upper" => {
                buf.copy_within(arg.clone(), 0);
                buf[..arg.len()].make_ascii_uppercase();
                Reply::Forward(arg.len())
            }
            b"cap" => answer(buf, weir::buffer_capacity() as i64),
            b"grow" => {
                let n = parse_int(&buf[arg]) as usize;
                for c in buf.iter_mut().take(n) {
                    *c = b'x';
                }
                Reply::Forward(n)
            }
            b"drop" => Reply::Act(Action::Drop),
            b"close-action" => Reply::Act(Action::Close),
            b"close" | b"close-sid" => {
                let r = {
                    let mut rest = &buf[arg];
                    let mut target = sid;
                    if cmd == b"close-sid" {
                        let (w, r) = split(rest);
                        target = parse_int(w) as u32;
                        rest = r;
                    }
                    let (code, reason) = split(rest);
                    host::close_session(target, code16(parse_int(code)), text(reason))
                };
                answer(buf, status(r))
            }
            b"send-back" => {
                let r = host::send_message(sid, Meta::new(BACKEND_TO_CLIENT, OP_TEXT), &buf[arg]);
                answer(buf, status(r))
            }
            b"send-forward" => {
                let r = host::send_message(sid, Meta::new(CLIENT_TO_BACKEND, OP_BINARY), &buf[arg]);
                answer(buf, status(r))
            }
            b"send-sid" => {
                let r = {
                    let (w, rest) = split(&buf[arg]);
                    host::send_message(parse_int(w) as u32, Meta::new(BACKEND_TO_CLIENT, OP_TEXT), rest)
                };
                answer(buf, status(r))
            }
            b"send-invalid" => {
                let r = host::send_message(sid, Meta::new(BACKEND_TO_CLIENT, OP_TEXT), &[0xff, 0xfe]);
                answer(buf, status(r))
            }
            b"prop" | b"prop0" | b"prop-len" => {
                let kl = arg.len().min(SCRATCH);
                self.scratch[..kl].copy_from_slice(&buf[arg_start..arg_start + kl]);
                let key = text(&self.scratch[..kl]);
                let target = if cmd == b"prop0" { 0 } else { sid };
                let r = if cmd == b"prop-len" {
                    host::get_property(target, key, &mut [])
                } else {
                    host::get_property(target, key, &mut buf[..cap])
                };
                match r {
                    Err(s) => answer_err(buf, s),
                    Ok(n) if cmd == b"prop-len" => answer(buf, n as i64),
                    Ok(n) => Reply::Forward(n),
                }
            }
            b"hs" => match self.find(sid) {
                Some(s) if s.handshaken => Reply::Forward(put(buf, 0, &s.summary[..s.summary_len])),
                _ => Reply::Forward(put(buf, 0, b"-")),
            },
            b"config" => Reply::Forward(host::get_config(&mut buf[..cap])),
            b"log" => {
                let level = {
                    let (w, msg) = split(&buf[arg]);
                    let level = parse_int(w) as i32;
                    host::log(level, text(msg));
                    level
                };
                answer(buf, i64::from(host::log_enabled(level)))
            }
            b"metric" => {
                let id = {
                    let (w, v) = split(&buf[arg]);
                    let id = match w {
                        b"counter" => self.metrics[0],
                        b"gauge" => self.metrics[1],
                        b"histogram" => self.metrics[2],
                        _ => -1,
                    };
                    host::metric_add(id, parse_int(v));
                    id
                };
                answer(buf, i64::from(id))
            }
            b"metric-define" => {
                let r = {
                    let (w, name) = split(&buf[arg]);
                    host::metric_define(parse_int(w) as i32, text(name))
                };
                match r {
                    Ok(id) => answer(buf, i64::from(id)),
                    Err(s) => answer(buf, -i64::from(s.0)),
                }
            }
            b"kv-set" => {
                let r = {
                    let (key, rest) = split(&buf[arg]);
                    let (cas, val) = split(rest);
                    host::kv_set(text(key), val, parse_int(cas) as u32)
                };
                answer(buf, status(r))
            }
            b"kv-get" => {
                let r = host::kv_get(text(&buf[arg]), &mut self.scratch).get();
                match r {
                    Err(s) => answer_err(buf, s),
                    Ok((cas, n)) => {
                        let mut o = put_int(buf, 0, i64::from(cas));
                        o = put(buf, o, b" ");
                        o = put_int(buf, o, i64::from(n));
                        if n as usize <= SCRATCH {
                            o = put(buf, o, b" ");
                            o = put(buf, o, &self.scratch[..n as usize]);
                        }
                        Reply::Forward(o)
                    }
                }
            }
            b"kv-incr" => {
                let r = {
                    let (key, d) = split(&buf[arg]);
                    host::kv_incr(text(key), parse_int(d))
                };
                match r {
                    Some(v) => answer(buf, v),
                    None => Reply::Forward(put(buf, 0, b"ERR")),
                }
            }
            b"now" => answer(buf, host::now_ns()),
            b"count" => answer(buf, i64::from(msgs)),
            b"state-set" => {
                let n = arg.len().min(WORD_MAX);
                let mut word = [0u8; WORD_MAX];
                word[..n].copy_from_slice(&buf[arg_start..arg_start + n]);
                if let Some(s) = self.find(sid) {
                    s.word = word;
                    s.word_len = n;
                }
                Reply::Forward(put(buf, 0, b"ok"))
            }
            b"state-get" => match self.find(sid) {
                Some(s) => Reply::Forward(put(buf, 0, s.word())),
                None => Reply::Forward(0),
            },
            b"sessions" => answer(buf, self.sessions.iter().filter(|s| s.used).count() as i64),
            b"sid" => answer(buf, i64::from(sid)),
            b"meta" => Reply::Forward(put_meta(buf, meta)),
            b"features" => answer(buf, i64::from(host::enable_features(FEATURE_FRAMES))),
            b"reject" => answer(buf, status(host::reject(403, "no"))),
            b"trap" => core::arch::wasm32::unreachable(),
            b"spin" => {
                let mut n: u32 = 0;
                loop {
                    // SAFETY: a write to a local; volatile keeps the loop.
                    unsafe { core::ptr::write_volatile(&mut n, n.wrapping_add(1)) }
                }
            }
            _ => Reply::Forward(len),
        }
    }
}

// ---- hooks ------------------------------------------------------------------

impl Filter for Tck {
    fn init(&mut self, config_len: u32) -> i32 {
        for (i, (kind, name)) in [(COUNTER, "tck_counter"), (GAUGE, "tck_gauge"), (HISTOGRAM, "tck_histogram")]
            .iter()
            .enumerate()
        {
            match host::metric_define(*kind, name) {
                Ok(id) => self.metrics[i] = id,
                Err(_) => return 3,
            }
        }
        let n = host::get_config(&mut self.scratch);
        if n != config_len as usize {
            return 5;
        }
        // A configuration longer than the scratch was not written: no words.
        let mut rest = if n <= SCRATCH { &self.scratch[..n] } else { &[][..] };
        while !rest.is_empty() {
            let (w, r) = split(rest);
            match w {
                b"fail-init" => return 7,
                b"frames" => self.frames = host::enable_features(FEATURE_FRAMES) & FEATURE_FRAMES != 0,
                b"tick" => host::set_tick(10),
                _ => {}
            }
            rest = r;
        }
        host::log(LOG_INFO, "tck init");
        0
    }

    fn on_handshake(&mut self, sid: u32, props: &[u8]) -> Handshake {
        let (mut records, mut multi) = (0i64, 0i64);
        let mut path: &[u8] = &[];
        for (k, v) in weir::props(props) {
            records += 1;
            match k {
                b"request.path" => path = v,
                b"request.header.x-tck-multi" => multi += 1,
                _ => {}
            }
        }
        let mut line = [0u8; SUMMARY_MAX + 48];
        let mut o = put_int(&mut line, 0, records);
        o = put(&mut line, o, b" ");
        o = put(&mut line, o, &path[..path.len().min(SUMMARY_MAX)]);
        o = put(&mut line, o, b" ");
        o = put_int(&mut line, o, multi);
        if let Some(s) = self.state(sid) {
            s.summary_len = o.min(SUMMARY_MAX);
            s.summary[..s.summary_len].copy_from_slice(&line[..s.summary_len]);
            s.handshaken = true;
        }

        if let Ok(n) = host::get_property(sid, "request.header.x-tck-reject", &mut self.scratch) {
            let (code, reason) = split(&self.scratch[..n.min(SCRATCH)]);
            let _ = host::reject(code16(parse_int(code)), text(reason));
            return Handshake::Reject;
        }
        if host::get_property(sid, "request.header.x-tck-reject-bare", &mut []).is_ok() {
            return Handshake::Reject;
        }
        Handshake::Continue
    }

    fn on_open(&mut self, sid: u32) -> i32 {
        match host::get_property(sid, "request.header.x-tck-open", &mut self.scratch) {
            Ok(n) if &self.scratch[..n.min(SCRATCH)] == b"close" => {
                let _ = host::close_session(sid, 4002, "closed at open");
                0
            }
            Ok(n) if &self.scratch[..n.min(SCRATCH)] == b"fail" => 1,
            _ => 0,
        }
    }

    fn on_message(&mut self, sid: u32, meta: Meta, payload: &mut Payload) -> Action {
        let len = payload.len();
        match self.command(sid, meta, payload.buffer(), len) {
            Reply::Forward(n) => {
                payload.set_len(n);
                Action::Continue
            }
            Reply::Act(a) => a,
        }
    }

    fn on_close(&mut self, _sid: u32, code: u16, by_peer: bool) {
        let mut v = [0u8; 24];
        let mut o = put_int(&mut v, 0, i64::from(code));
        o = put(&mut v, o, if by_peer { b" 1" } else { b" 0" });
        let _ = host::kv_set("last-close", &v[..o], 0);
    }

    fn on_session_end(&mut self, sid: u32) {
        if let Some(s) = self.find(sid) {
            s.used = false;
        }
        let _ = host::kv_incr("ended", 1);
    }

    fn on_tick(&mut self) {
        let _ = host::kv_incr("ticks", 1);
        for s in self.sessions.iter_mut().filter(|s| s.used) {
            if s.word() == b"tick-send" {
                s.word_len = 0;
                let _ = host::send_message(s.sid, Meta::new(BACKEND_TO_CLIENT, OP_TEXT), b"tick");
            } else if s.word() == b"tick-close" {
                s.word_len = 0;
                let _ = host::close_session(s.sid, 4004, "tick");
            }
        }
    }

    fn on_drain(&mut self, sid: u32, deadline_ms: u32) -> Drain {
        let mut v = [0u8; 24];
        let o = put_int(&mut v, 0, i64::from(deadline_ms));
        let _ = host::kv_set("drain-deadline", &v[..o], 0);
        match self.find(sid) {
            Some(s) if s.word() == b"drain-now" => Drain::CloseNow,
            Some(s) if s.word() == b"drain-close" => {
                let _ = host::close_session(sid, 4003, "drain");
                Drain::Keep
            }
            _ => Drain::Keep,
        }
    }
}

weir::filter!(
    Tck,
    Tck { sessions: [EMPTY; MAX_SESSIONS], metrics: [-1; 3], frames: false, scratch: [0; SCRATCH] }
);
