//go:build wasip1

// Command uppercase rewrites text messages to upper case in place (ASCII
// letters only, so UTF-8 stays valid); binary messages pass unchanged. It
// counts the messages it rewrote in the metric "uppercase_messages".
package main

import (
	"errors"

	"github.com/weirproxy/weir/sdk/go/weir"
)

type uppercase struct{ rewritten int32 }

func (u *uppercase) Init(uint32) error {
	u.rewritten = weir.MetricDefine(weir.Counter, "uppercase_messages")
	if u.rewritten < 0 {
		return errors.New("uppercase: metric_define failed")
	}
	return nil
}

func (u *uppercase) OnMessage(_ uint32, meta weir.Meta, p []byte) weir.Result {
	if op := meta.Opcode(); op == weir.OpText || op == weir.OpContinuation {
		for i, c := range p {
			if c >= 'a' && c <= 'z' {
				p[i] = c - ('a' - 'A')
			}
		}
		weir.MetricAdd(u.rewritten, 1)
	}
	return weir.Continue(len(p))
}

func init() { weir.Register(&uppercase{}) }

// main is never run: the module is a WASI reactor.
func main() {}
