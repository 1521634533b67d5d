//! A validating JSON scanner over bytes: no allocation, no recursion (a
//! depth-bounded array stands in for the call stack, so a deeply nested
//! message cannot overflow the module's 64 KiB stack). Positions are byte
//! indices; every function returns `Err(Invalid)` rather than panicking.

/// The input is not valid JSON (or nests deeper than allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

/// The deepest nesting any caller may ask for.
pub const MAX_DEPTH: usize = 256;

pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if c != b' ' && c != b'\t' && c != b'\n' && c != b'\r' {
            break;
        }
        i += 1;
    }
    i
}

fn hex(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'a'..=b'f' => Some(u32::from(c - b'a' + 10)),
        b'A'..=b'F' => Some(u32::from(c - b'A' + 10)),
        _ => None,
    }
}

fn hex4(b: &[u8], i: usize) -> Result<u32, Invalid> {
    let d = b.get(i..i + 4).ok_or(Invalid)?;
    let mut v = 0;
    for &c in d {
        v = v * 16 + hex(c).ok_or(Invalid)?;
    }
    Ok(v)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` is zero (exact: no false negatives).
fn has_zero(w: u64) -> bool {
    w.wrapping_sub(ONES) & !w & HIGHS != 0
}

/// Skips string bytes that need no attention (not `"`, `\` or a control
/// character) eight at a time: string contents are most of a JSON message,
/// and every loop iteration of a metered module costs a little.
fn skip_plain(b: &[u8], mut j: usize) -> usize {
    while let Some(w) = b.get(j..j + 8) {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS != 0;
        if control || has_zero(w ^ (ONES * u64::from(b'"'))) || has_zero(w ^ (ONES * u64::from(b'\\'))) {
            break;
        }
        j += 8;
    }
    j
}

/// Scans the string starting at `i` (its opening quote) and returns the
/// index after its closing quote. The bytes are trusted to be UTF-8 (the
/// gateway checked the text message); escapes and control characters are
/// checked here.
pub fn scan_string(b: &[u8], i: usize) -> Result<usize, Invalid> {
    if b.get(i) != Some(&b'"') {
        return Err(Invalid);
    }
    let mut j = i + 1;
    loop {
        j = skip_plain(b, j);
        match *b.get(j).ok_or(Invalid)? {
            b'"' => return Ok(j + 1),
            b'\\' => {
                match *b.get(j + 1).ok_or(Invalid)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => {
                        hex4(b, j + 2)?;
                        j += 6;
                    }
                    _ => return Err(Invalid),
                }
            }
            c if c < 0x20 => return Err(Invalid),
            _ => j += 1,
        }
    }
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        i += 1;
    }
    i
}

/// Scans a number (RFC 8259 §6) starting at `i`.
pub fn scan_number(b: &[u8], mut i: usize) -> Result<usize, Invalid> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i),
        _ => return Err(Invalid),
    }
    if b.get(i) == Some(&b'.') {
        let j = digits(b, i + 1);
        if j == i + 1 {
            return Err(Invalid);
        }
        i = j;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let j = digits(b, i);
        if j == i {
            return Err(Invalid);
        }
        i = j;
    }
    Ok(i)
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, Invalid> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        Err(Invalid)
    }
}

/// Scans `"key" :` at `i` (after optional whitespace) and returns the
/// index after the colon.
pub fn scan_key(b: &[u8], i: usize) -> Result<usize, Invalid> {
    let i = scan_string(b, skip_ws(b, i))?;
    let i = skip_ws(b, i);
    if b.get(i) != Some(&b':') {
        return Err(Invalid);
    }
    Ok(i + 1)
}

/// Scans one value starting at `i` (after optional whitespace) and returns
/// the index after it. Containers may nest `max_depth` deep (capped at
/// [`MAX_DEPTH`]); a scalar has depth 0, `[]` depth 1.
pub fn scan_value(b: &[u8], i: usize, max_depth: usize) -> Result<usize, Invalid> {
    // Scalars first: most values are, and they need no stack.
    let i = skip_ws(b, i);
    match *b.get(i).ok_or(Invalid)? {
        b'{' | b'[' => scan_container(b, i, max_depth),
        b'"' => scan_string(b, i),
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        b'-' | b'0'..=b'9' => scan_number(b, i),
        _ => Err(Invalid),
    }
}

fn scan_container(b: &[u8], mut i: usize, max_depth: usize) -> Result<usize, Invalid> {
    let max_depth = if max_depth > MAX_DEPTH { MAX_DEPTH } else { max_depth };
    // true: inside an object, false: inside an array.
    let mut stack = [false; MAX_DEPTH];
    let mut depth = 0;
    loop {
        // A value is expected at i.
        i = skip_ws(b, i);
        let c = *b.get(i).ok_or(Invalid)?;
        match c {
            b'{' | b'[' => {
                if depth == max_depth {
                    return Err(Invalid);
                }
                let object = c == b'{';
                stack[depth] = object;
                depth += 1;
                let j = skip_ws(b, i + 1);
                if b.get(j) == Some(if object { &b'}' } else { &b']' }) {
                    depth -= 1;
                    i = j + 1;
                } else {
                    i = if object { scan_key(b, j)? } else { j };
                    continue;
                }
            }
            b'"' => i = scan_string(b, i)?,
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            b'-' | b'0'..=b'9' => i = scan_number(b, i)?,
            _ => return Err(Invalid),
        }
        // After a value: close containers until one continues with ','.
        loop {
            if depth == 0 {
                return Ok(i);
            }
            i = skip_ws(b, i);
            let object = stack[depth - 1];
            match b.get(i) {
                Some(b',') => {
                    i = if object { scan_key(b, i + 1)? } else { i + 1 };
                    break;
                }
                Some(b'}') if object => {
                    depth -= 1;
                    i += 1;
                }
                Some(b']') if !object => {
                    depth -= 1;
                    i += 1;
                }
                _ => return Err(Invalid),
            }
        }
    }
}

/// Decodes the string starting at `i` (its opening quote) into `out`,
/// calling `out` with each UTF-8 byte; it returns the index after the
/// string, or `Err` for a bad string or a lone surrogate escape.
pub fn decode_string<F: FnMut(u8) -> bool>(b: &[u8], i: usize, mut out: F) -> Result<usize, Invalid> {
    let end = scan_string(b, i)?;
    let mut j = i + 1;
    while j < end - 1 {
        let c = b[j];
        if c != b'\\' {
            if !out(c) {
                return Err(Invalid);
            }
            j += 1;
            continue;
        }
        let e = b[j + 1];
        j += 2;
        let cp = match e {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => u32::from(b'\n'),
            b'r' => u32::from(b'\r'),
            b't' => u32::from(b'\t'),
            b'u' => {
                let hi = hex4(b, j)?;
                j += 4;
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by \u and a low one.
                    if b.get(j..j + 2) != Some(b"\\u") {
                        return Err(Invalid);
                    }
                    let lo = hex4(b, j + 2)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(Invalid);
                    }
                    j += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(Invalid);
                } else {
                    hi
                }
            }
            other => u32::from(other),
        };
        let mut buf = [0u8; 4];
        let n = utf8(cp, &mut buf);
        for &x in &buf[..n] {
            if !out(x) {
                return Err(Invalid);
            }
        }
    }
    Ok(end)
}

fn utf8(cp: u32, out: &mut [u8; 4]) -> usize {
    if cp < 0x80 {
        out[0] = cp as u8;
        1
    } else if cp < 0x800 {
        out[0] = 0xC0 | (cp >> 6) as u8;
        out[1] = 0x80 | (cp & 0x3F) as u8;
        2
    } else if cp < 0x10000 {
        out[0] = 0xE0 | (cp >> 12) as u8;
        out[1] = 0x80 | ((cp >> 6) & 0x3F) as u8;
        out[2] = 0x80 | (cp & 0x3F) as u8;
        3
    } else {
        out[0] = 0xF0 | (cp >> 18) as u8;
        out[1] = 0x80 | ((cp >> 12) & 0x3F) as u8;
        out[2] = 0x80 | ((cp >> 6) & 0x3F) as u8;
        out[3] = 0x80 | (cp & 0x3F) as u8;
        4
    }
}

/// Reports whether the string starting at `i` decodes to exactly `want`,
/// so that `"n\u0061me"` matches `name`.
pub fn string_equals(b: &[u8], i: usize, want: &[u8]) -> bool {
    // Most keys have no escapes: compare their bytes as they are.
    if let Ok(end) = scan_string(b, i) {
        let raw = &b[i + 1..end - 1];
        if !raw.contains(&b'\\') {
            return raw == want;
        }
    }
    let mut n = 0;
    let ok = decode_string(b, i, |c| {
        if want.get(n) == Some(&c) {
            n += 1;
            true
        } else {
            false
        }
    });
    ok.is_ok() && n == want.len()
}
