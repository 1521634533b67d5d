// Package balance picks a backend for each new session.
//
// A Pool holds a route's members; a Balancer picks one for a handshake and is
// told how the attempt went (Done), so that a member that refuses connections
// is skipped for a while (passive health). Selection policies are small
// values behind one interface; round robin is the default.
//
// Backend state that is keyed by identity (address) rather than by
// configuration belongs to a State that outlives configuration reloads.
//
// This package must not import plugins or policy.
package balance
