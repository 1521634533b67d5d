// Package redact is the native filter redact: it rewrites text messages so
// that chosen JSON fields and anything matching chosen patterns are
// replaced before the message goes on.
//
// # Description
//
// A text message that is valid JSON is rewritten value by value and stays
// valid JSON:
//
//   - the value of every object field named in fields, at any depth, is
//     replaced by the replacement as a JSON string when it is a string or a
//     number. Names match ignoring case (Unicode simple folding, as
//     encoding/json matches struct fields, so a backend decoding into
//     structs cannot read "SSN" unredacted), and escaped names ("s\u0073n")
//     are decoded first. An object or array value is not replaced, but its
//     own fields are looked at; true, false and null stay.
//   - every JSON string (keys included, after decoding escapes) and every
//     number is searched for the patterns on its own: each match is replaced
//     and the string is written back as JSON; a number with a match becomes
//     a string. Because each string stands alone, ^ and $ anchor at its ends.
//
// A text message that is not JSON has the patterns replaced anywhere in it.
// Binary messages pass untouched.
//
// The output is valid UTF-8 when the input is (the gateway rejects text
// messages that are not). The replacement is literal: "$1" is not expanded.
//
// # Bounds
//
// Patterns are RE2 (Go's regexp): matching takes time linear in the message,
// never backtracking. A pattern that can match the empty string is refused,
// since it would insert the replacement between every two characters. A
// rewritten message may not grow past max_output_bytes (or the size of the
// original, when larger): past it the filter fails with ErrOutputTooLarge,
// which closes the session with 1011 (with on_error skip the message goes on
// unredacted: do not combine skip with this filter).
//
// # Configuration
//
//   - fields (list of strings): JSON field names whose values are replaced.
//   - patterns (list of strings): regular expressions in Go's RE2 syntax,
//     compiled once when the configuration loads; an invalid one is an error
//     naming patterns[i].
//   - replacement (string, default "[REDACTED]"): what replaces a value or a
//     match; "" removes.
//   - max_output_bytes (integer, default 1048576): the largest a rewritten
//     message may grow.
//
// At least one of fields and patterns is required.
//
// # Example
//
// Hide card numbers and social security numbers from a backend's replies,
// whether they come as named fields or inside free text:
//
//	filters:
//	  - native: redact
//	    directions: backend_to_client
//	    config:
//	      fields: [ssn, card_number, password]
//	      patterns: ['\b\d{3}-\d{2}-\d{4}\b', '\b(?:\d[ -]?){13,19}\b']
//	      replacement: "***"
//
// # Cost
//
// A message with nothing to redact is not copied and costs no allocation. A
// JSON message costs a validation and one walk, the patterns running on each
// string and number on its own (about 200 MB/s on the benchmark's JSON); a
// message that is not JSON costs one pass of the patterns over all of it,
// which for Go's regexp is slow for patterns without a literal prefix (about
// 20 MB/s for the benchmark's three patterns). A rewritten message costs one
// new payload (the filter keeps nothing between messages) plus the regexp's
// replacement buffers. Sessions share the filter: NewFilter costs nothing.
package redact
