//go:build unix

package watch

import (
	"os"
	"syscall"
)

// fileID returns the inode and device of a file: a file replaced by rename
// shows a new inode even when its size and modification time match.
func fileID(fi os.FileInfo) (ino, dev uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino), uint64(st.Dev)
	}
	return 0, 0
}
