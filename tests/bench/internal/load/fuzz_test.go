package load

import (
	"testing"

	"github.com/gobwas/ws"
)

// FuzzReadMessage feeds arbitrary server bytes to the client's frame
// reader: it must return a message or an error, never panic, and never
// return more than its message cap.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte{0x82, 0x03, 'a', 'b', 'c'})
	f.Add([]byte{0x02, 0x01, 'a', 0x89, 0x00, 0x80, 0x01, 'b'})
	f.Add([]byte{0x88, 0x02, 0x03, 0xe8})
	f.Add([]byte{0x82, 0x7e, 0x00, 0x10})
	f.Add([]byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x82, 0x81, 1, 2, 3, 4, 'x'})
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1024
		c := newConn(fakeConn{}, bytesReader(in), 0, 0, max)
		for range 64 {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if len(p) > max || (op != ws.OpText && op != ws.OpBinary) {
				t.Fatalf("message op %v len %d", op, len(p))
			}
		}
	})
}
