//! The `weir_v1` imports (ABI §5): raw declarations in [`sys`] and safe
//! wrappers over slices and strings.

use crate::{KvResult, Meta, Status};

/// Raw imports. Pointers are linear-memory addresses.
pub mod sys {
    #[link(wasm_import_module = "weir_v1")]
    extern "C" {
        pub fn enable_features(flags: i32) -> i32;
        pub fn get_config(buf: *mut u8, limit: u32) -> i32;
        pub fn get_property(sid: u32, key: *const u8, key_len: u32, buf: *mut u8, limit: u32) -> i32;
        pub fn send_message(sid: u32, meta: i64, ptr: *const u8, len: u32) -> i32;
        pub fn close_session(sid: u32, code: u32, reason: *const u8, reason_len: u32) -> i32;
        pub fn reject(status: u32, reason: *const u8, reason_len: u32) -> i32;
        pub fn log(level: i32, ptr: *const u8, len: u32);
        pub fn log_enabled(level: i32) -> i32;
        pub fn metric_define(kind: i32, name: *const u8, name_len: u32) -> i32;
        pub fn metric_add(id: i32, value: i64);
        pub fn kv_get(key: *const u8, key_len: u32, buf: *mut u8, limit: u32) -> i64;
        pub fn kv_set(key: *const u8, key_len: u32, val: *const u8, val_len: u32, cas: u32) -> i32;
        pub fn kv_incr(key: *const u8, key_len: u32, delta: i64) -> i64;
        pub fn now_ns() -> i64;
        pub fn set_tick(ms: u32);
    }
}

fn len_result(n: i32) -> Result<usize, Status> {
    if n < 0 {
        Err(Status(-n))
    } else {
        Ok(n as usize)
    }
}

// SAFETY (every wrapper): the host only reads/writes the (ptr, len) ranges
// passed, which come from live slices, and never keeps them.

/// Asks for feature bits (only in `init`); returns the set now enabled.
pub fn enable_features(flags: i32) -> i32 {
    unsafe { sys::enable_features(flags) }
}

/// Copies the plugin's config into `buf` when it fits; returns its length.
pub fn get_config(buf: &mut [u8]) -> usize {
    let n = unsafe { sys::get_config(buf.as_mut_ptr(), buf.len() as u32) };
    if n < 0 {
        0
    } else {
        n as usize
    }
}

/// Copies a session property into `buf` when it fits; returns its length.
pub fn get_property(sid: u32, key: &str, buf: &mut [u8]) -> Result<usize, Status> {
    len_result(unsafe { sys::get_property(sid, key.as_ptr(), key.len() as u32, buf.as_mut_ptr(), buf.len() as u32) })
}

/// Injects a whole message; `meta` from [`Meta::new`].
pub fn send_message(sid: u32, meta: Meta, payload: &[u8]) -> Result<(), Status> {
    Status(unsafe { sys::send_message(sid, meta.0, payload.as_ptr(), payload.len() as u32) }).result()
}

/// Closes the session with `code` and `reason`.
pub fn close_session(sid: u32, code: u16, reason: &str) -> Result<(), Status> {
    Status(unsafe { sys::close_session(sid, u32::from(code), reason.as_ptr(), reason.len() as u32) }).result()
}

/// Chooses the HTTP status of a refused handshake (in `on_handshake`).
pub fn reject(status: u16, reason: &str) -> Result<(), Status> {
    Status(unsafe { sys::reject(u32::from(status), reason.as_ptr(), reason.len() as u32) }).result()
}

/// Writes to the gateway's log.
pub fn log(level: i32, msg: &str) {
    unsafe { sys::log(level, msg.as_ptr(), msg.len() as u32) }
}

/// Whether `level` is logged.
pub fn log_enabled(level: i32) -> bool {
    unsafe { sys::log_enabled(level) == 1 }
}

/// Defines a metric (in `init`); returns its id.
pub fn metric_define(kind: i32, name: &str) -> Result<i32, Status> {
    let id = unsafe { sys::metric_define(kind, name.as_ptr(), name.len() as u32) };
    if id < 0 {
        Err(Status(-id))
    } else {
        Ok(id)
    }
}

/// Adds to a counter (negative values are ignored) or a gauge, records one
/// observation of a histogram.
pub fn metric_add(id: i32, value: i64) {
    unsafe { sys::metric_add(id, value) }
}

/// Copies the value of `key` into `buf` when it fits.
pub fn kv_get(key: &str, buf: &mut [u8]) -> KvResult {
    KvResult(unsafe { sys::kv_get(key.as_ptr(), key.len() as u32, buf.as_mut_ptr(), buf.len() as u32) })
}

/// Stores `val`: unconditionally when `cas` is 0, else only if `cas` is the
/// key's version (`CAS_MISMATCH` otherwise, also for a missing key). An
/// empty `val` deletes the key.
pub fn kv_set(key: &str, val: &[u8], cas: u32) -> Result<(), Status> {
    Status(unsafe { sys::kv_set(key.as_ptr(), key.len() as u32, val.as_ptr(), val.len() as u32, cas) }).result()
}

/// Adds `delta` to the 8-byte counter at `key`; `None` on error.
pub fn kv_incr(key: &str, delta: i64) -> Option<i64> {
    let v = unsafe { sys::kv_incr(key.as_ptr(), key.len() as u32, delta) };
    if v == i64::MIN {
        None
    } else {
        Some(v)
    }
}

/// Wall clock, ns since the Unix epoch.
pub fn now_ns() -> i64 {
    unsafe { sys::now_ns() }
}

/// Period of `on_tick` in ms; 0 stops ticks.
pub fn set_tick(ms: u32) {
    unsafe { sys::set_tick(ms) }
}
