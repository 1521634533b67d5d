package demo

import _ "embed"

// Page is the demo page (HTML, no external resources).
//
//go:embed index.html
var Page []byte
