// Package sizelimit is the native filter size_limit: it stops messages
// larger than a configured number of bytes.
//
// # Description
//
// A message whose payload is larger than max_bytes either closes the session
// with 1009 (message too big), the default, or is dropped while the session
// goes on. The filter sees each direction it is configured for separately.
//
// With action close the filter streams (it implements filters.Streamer): it
// counts the bytes of a fragmented message frame by frame and closes the
// session as soon as the running total passes the limit, before the rest of
// the message arrives. With action drop it does not stream, because frames
// already relayed cannot be taken back: the gateway reassembles each message
// first and the filter drops it whole.
//
// The gateway's own limits.max_message_bytes applies to every route; this
// filter sets a tighter limit for one direction, or drops instead of closing.
//
// # Configuration
//
//   - max_bytes (integer, required): the largest payload allowed, in bytes; must be > 0.
//   - action (string, default "close"): "close" closes the session with
//     1009; "drop" discards the message.
//
// # Example
//
// Close the session when the client sends more than 64 KiB in one message,
// and drop backend messages over 1 MiB:
//
//	filters:
//	  - native: size_limit
//	    directions: client_to_backend
//	    config: { max_bytes: 65536 }
//	  - native: size_limit
//	    directions: backend_to_client
//	    config: { max_bytes: 1048576, action: drop }
//
// # Cost
//
// One addition and one comparison per message or frame; no allocation.
package sizelimit
