package config_test

import (
	"errors"
	"fmt"

	"github.com/weirproxy/weir/gateway/config"
)

func ExampleLoad() {
	g, err := config.Load(config.LoadOptions{
		Data: config.DefaultYAML,
		Env:  []string{"WEIR_SERVER_MAX_CONNECTIONS=500", "TERM=xterm"},
		Sets: []string{"routes.0.limits.max_message_bytes=64KiB"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Server.MaxConnections, g.Routes[0].Name, g.Routes[0].Limits.MaxMessageBytes, g.Routes[0].Limits.PingInterval)
	// Output: 500 echo 64KiB 30s
}

func ExampleLoad_errors() {
	_, err := config.Load(config.LoadOptions{Data: []byte(`
listeners: [{name: public, address: "127.0.0.1:0"}]
routes:
  - name: chat
    limits: {idle_timeout: 60}
    backends: {members: [{adress: "127.0.0.1:9001"}]}
`)})
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			fmt.Println(fe.Path)
		}
	}
	// Output:
	// routes[0].backends.members[0].adress
	// routes[0].limits.idle_timeout
	// routes[0].backends.members[0].address
}

func ExampleParseSize() {
	for _, s := range []string{"512", "64KiB", "1 MB", "2gib"} {
		n, _ := config.ParseSize(s)
		fmt.Println(int64(n), n)
	}
	// Output:
	// 512 512
	// 65536 64KiB
	// 1000000 1000000
	// 2147483648 2GiB
}
