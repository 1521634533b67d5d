//! json-allowlist: text messages must be JSON objects, and only the
//! configured top-level fields may pass. Fields off the list are removed in
//! place (or the message is dropped, or the session closed with 1008, per
//! `on_violation`); text that is not a JSON object is dropped or closes the
//! session (`on_invalid`). See README.md for the configuration.
//!
//! No allocator: the config lives in fixed arrays of the filter value, and
//! the message is rewritten inside the SDK's buffer. Removing fields only
//! shortens a message, so the rewrite never needs more room than the input.
#![no_std]

mod json;

use weir::{host, Action, Filter, Meta, Payload, COUNTER, LOG_ERROR, OP_BINARY, OP_TEXT};

const CONFIG_MAX: usize = 4096;
const MAX_FIELDS: usize = 64;
const DEFAULT_DEPTH: usize = 32;

/// What happens to a message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Response {
    Pass,
    Strip,
    Drop,
    Close,
}

struct Allowlist {
    /// The raw config, then the decoded field names, back to back.
    raw: [u8; CONFIG_MAX],
    names: [u8; CONFIG_MAX],
    /// (start, end) of each name in `names`.
    spans: [(u16, u16); MAX_FIELDS],
    count: usize,
    on_violation: Response,
    on_invalid: Response,
    on_binary: Response,
    max_depth: usize,
    stripped: i32,
    rejected: i32,
}

/// What a scan of a message found.
struct Scan {
    /// Top-level fields not on the list.
    violations: u32,
}

impl Allowlist {
    const fn new() -> Allowlist {
        Allowlist {
            raw: [0; CONFIG_MAX],
            names: [0; CONFIG_MAX],
            spans: [(0, 0); MAX_FIELDS],
            count: 0,
            on_violation: Response::Strip,
            on_invalid: Response::Close,
            on_binary: Response::Pass,
            max_depth: DEFAULT_DEPTH,
            stripped: -1,
            rejected: -1,
        }
    }

    /// Whether the key string starting at `i` of `b` is on the list.
    fn allowed(&self, b: &[u8], i: usize) -> bool {
        self.spans[..self.count]
            .iter()
            .any(|&(s, e)| json::string_equals(b, i, &self.names[s as usize..e as usize]))
    }

    /// Validates the whole message as one JSON object and counts the
    /// fields off the list.
    fn scan(&self, b: &[u8]) -> Result<Scan, json::Invalid> {
        let mut scan = Scan { violations: 0 };
        let mut i = json::skip_ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return Err(json::Invalid);
        }
        i = json::skip_ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                let key = json::skip_ws(b, i);
                i = json::scan_key(b, key)?;
                // The object itself is one level.
                i = json::scan_value(b, i, self.max_depth - 1)?;
                if !self.allowed(b, key) {
                    scan.violations += 1;
                }
                i = json::skip_ws(b, i);
                match b.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return Err(json::Invalid),
                }
            }
        }
        if json::skip_ws(b, i) != b.len() {
            return Err(json::Invalid);
        }
        Ok(scan)
    }

    /// Rewrites a message that scan accepted, keeping only the fields on
    /// the list, and returns its new length. Writes trail reads (every
    /// kept field moves left or stays), so one buffer suffices.
    fn strip(&self, b: &mut [u8]) -> usize {
        let mut i = json::skip_ws(b, 0) + 1; // after '{'
        let mut w = 0;
        b[w] = b'{';
        w += 1;
        let mut kept = 0;
        loop {
            let key = json::skip_ws(b, i);
            if b.get(key) == Some(&b'}') {
                break;
            }
            // scan validated the message: these cannot fail.
            let end = match json::scan_key(b, key).and_then(|v| json::scan_value(b, v, self.max_depth - 1)) {
                Ok(end) => end,
                Err(_) => break,
            };
            if self.allowed(b, key) {
                if kept > 0 {
                    b[w] = b',';
                    w += 1;
                }
                b.copy_within(key..end, w);
                w += end - key;
                kept += 1;
            }
            i = json::skip_ws(b, end);
            if b.get(i) == Some(&b',') {
                i += 1;
            } else {
                break;
            }
        }
        b[w] = b'}';
        w + 1
    }

    fn reject(&self, sid: u32, response: Response, reason: &str) -> Action {
        host::metric_add(self.rejected, 1);
        match response {
            Response::Pass | Response::Strip => Action::Continue,
            Response::Drop => Action::Drop,
            Response::Close => {
                let _ = host::close_session(sid, 1008, reason);
                Action::Close
            }
        }
    }
}

impl Filter for Allowlist {
    fn init(&mut self, config_len: u32) -> i32 {
        self.stripped = match host::metric_define(COUNTER, "json_allowlist_stripped") {
            Ok(id) => id,
            Err(_) => return config_error("json-allowlist: metric_define failed"),
        };
        self.rejected = match host::metric_define(COUNTER, "json_allowlist_rejected") {
            Ok(id) => id,
            Err(_) => return config_error("json-allowlist: metric_define failed"),
        };
        let n = config_len as usize;
        if n > CONFIG_MAX {
            return config_error("json-allowlist: config larger than 4096 bytes");
        }
        if host::get_config(&mut self.raw[..n]) != n {
            return config_error("json-allowlist: get_config failed");
        }
        match self.parse_config(n) {
            Ok(()) => 0,
            Err(msg) => config_error(msg),
        }
    }

    fn on_message(&mut self, sid: u32, meta: Meta, payload: &mut Payload) -> Action {
        match meta.opcode() {
            OP_TEXT => {}
            OP_BINARY if self.on_binary == Response::Pass => return Action::Continue,
            OP_BINARY => return self.reject(sid, self.on_binary, "json-allowlist: binary messages are not allowed"),
            _ => return Action::Continue,
        }
        let scan = match self.scan(payload.bytes()) {
            Ok(scan) => scan,
            Err(_) => return self.reject(sid, self.on_invalid, "json-allowlist: not a JSON object"),
        };
        if scan.violations == 0 {
            return Action::Continue;
        }
        if self.on_violation != Response::Strip {
            return self.reject(sid, self.on_violation, "json-allowlist: field not allowed");
        }
        let n = self.strip(payload.bytes());
        payload.set_len(n);
        host::metric_add(self.stripped, i64::from(scan.violations));
        Action::Continue
    }
}

fn config_error(msg: &str) -> i32 {
    host::log(LOG_ERROR, msg);
    1
}

impl Allowlist {
    /// Reads the config object in `raw[..n]`; an empty config is an error
    /// because `allow` is required.
    fn parse_config(&mut self, n: usize) -> Result<(), &'static str> {
        // Copy out the bytes so that the names can be written while the
        // config is read.
        let raw = self.raw;
        let b = &raw[..n];
        let mut has_allow = false;
        let mut i = json::skip_ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return Err("json-allowlist: config must be a JSON object with an allow list");
        }
        i = json::skip_ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                let key = json::skip_ws(b, i);
                let v = json::scan_key(b, key).map_err(|_| "json-allowlist: config is not valid JSON")?;
                let v = json::skip_ws(b, v);
                i = if json::string_equals(b, key, b"allow") {
                    has_allow = true;
                    self.parse_allow(b, v)?
                } else if json::string_equals(b, key, b"on_violation") {
                    let (r, end) = response(b, v, &[("strip", Response::Strip), ("drop", Response::Drop), ("close", Response::Close)])
                        .ok_or("json-allowlist: on_violation must be strip, drop or close")?;
                    self.on_violation = r;
                    end
                } else if json::string_equals(b, key, b"on_invalid") {
                    let (r, end) = response(b, v, &[("drop", Response::Drop), ("close", Response::Close)])
                        .ok_or("json-allowlist: on_invalid must be drop or close")?;
                    self.on_invalid = r;
                    end
                } else if json::string_equals(b, key, b"on_binary") {
                    let (r, end) = response(b, v, &[("pass", Response::Pass), ("drop", Response::Drop), ("close", Response::Close)])
                        .ok_or("json-allowlist: on_binary must be pass, drop or close")?;
                    self.on_binary = r;
                    end
                } else if json::string_equals(b, key, b"max_depth") {
                    let (d, end) = small_int(b, v).ok_or("json-allowlist: max_depth must be an integer from 1 to 256")?;
                    if d == 0 || d > json::MAX_DEPTH {
                        return Err("json-allowlist: max_depth must be an integer from 1 to 256");
                    }
                    self.max_depth = d;
                    end
                } else {
                    return Err("json-allowlist: unknown config key (known: allow, on_violation, on_invalid, on_binary, max_depth)");
                };
                i = json::skip_ws(b, i);
                match b.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return Err("json-allowlist: config is not valid JSON"),
                }
            }
        }
        if json::skip_ws(b, i) != n {
            return Err("json-allowlist: config is not valid JSON");
        }
        if !has_allow {
            return Err("json-allowlist: config needs an allow list of field names");
        }
        Ok(())
    }

    /// Reads the array of names at `i` into `names` and `spans`.
    fn parse_allow(&mut self, b: &[u8], i: usize) -> Result<usize, &'static str> {
        const BAD: &str = "json-allowlist: allow must be an array of at most 64 strings";
        if b.get(i) != Some(&b'[') {
            return Err(BAD);
        }
        // A repeated allow key replaces the list, as JSON's last value wins.
        self.count = 0;
        let mut i = json::skip_ws(b, i + 1);
        if b.get(i) == Some(&b']') {
            return Ok(i + 1);
        }
        let mut w = 0;
        loop {
            if self.count == MAX_FIELDS {
                return Err(BAD);
            }
            let start = w;
            let names = &mut self.names;
            let end = json::decode_string(b, i, |c| {
                if w < CONFIG_MAX {
                    names[w] = c;
                    w += 1;
                    true
                } else {
                    false
                }
            })
            .map_err(|_| BAD)?;
            self.spans[self.count] = (start as u16, w as u16);
            self.count += 1;
            i = json::skip_ws(b, end);
            match b.get(i) {
                Some(b',') => i = json::skip_ws(b, i + 1),
                Some(b']') => return Ok(i + 1),
                _ => return Err(BAD),
            }
        }
    }
}

/// Reads a string value naming one of `choices`.
fn response(b: &[u8], i: usize, choices: &[(&str, Response)]) -> Option<(Response, usize)> {
    let end = json::scan_string(b, i).ok()?;
    choices
        .iter()
        .find(|(name, _)| json::string_equals(b, i, name.as_bytes()))
        .map(|&(_, r)| (r, end))
}

/// Reads a non-negative integer of at most 4 digits.
fn small_int(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut v = 0;
    let mut j = i;
    while let Some(c) = b.get(j) {
        if !c.is_ascii_digit() || j - i == 4 {
            break;
        }
        v = v * 10 + usize::from(c - b'0');
        j += 1;
    }
    if j == i || b.get(j).map_or(false, |c| c.is_ascii_digit() || *c == b'.' || *c == b'e' || *c == b'E') {
        return None;
    }
    Some((v, j))
}

weir::filter!(Allowlist, Allowlist::new());
