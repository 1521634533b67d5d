// Package jsononly is the native filter json_only: text messages must be
// valid JSON.
//
// # Description
//
// A text message that is not valid JSON (RFC 8259), or with require_object
// not a JSON object, closes the session with 1007 (invalid frame payload
// data), the default, or is dropped while the session goes on. Binary
// messages pass by default; they can instead be dropped, or close the
// session with 1003 (unsupported data).
//
// The filter needs whole messages: it does not stream.
//
// # Configuration
//
//   - require_object (bool, default false): a text message must be a JSON
//     object ({...}), not an array, string, number, boolean or null.
//   - action (string, default "close"): what to do with a text message that
//     fails: "close" (1007) or "drop".
//   - binary (string, default "allow"): what to do with a binary message:
//     "allow", "drop" or "close" (1003).
//
// # Example
//
// A chat route whose clients may send only JSON objects, and nothing binary:
//
//	filters:
//	  - native: json_only
//	    directions: client_to_backend
//	    config: { require_object: true, binary: close }
//
// # Cost
//
// One pass of encoding/json's validating scanner over each text message
// (about 2.5 ns a byte; see the benchmark), with no allocation for valid
// JSON or for text whose first byte cannot start JSON. Invalid JSON that
// starts like JSON costs the scanner's error value (a few small
// allocations). JSON nested deeper than 10 000 levels is invalid (the
// scanner's limit), so the scanner's state stays bounded.
package jsononly
