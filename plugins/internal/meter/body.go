package meter

// body rewrites function bodies; its slices are reused from one body to the
// next.
type body struct {
	weights []int // per metered region: the function entry, then each loop
	inserts []int // where each region's check goes, parallel to weights
	frames  []int // open blocks: the region index that their instructions charge
	patches []patch
}

// patch replaces a function index immediate.
type patch struct {
	start, end int
	idx        uint32
}

// simdValid lists the vector opcodes wazero v1.12.0 accepts (128-bit SIMD of
// WebAssembly 2.0); the others are refused. wazero reads the vector opcode
// as one byte rather than a LEB128, and so does this decoder.
var simdValid = func() (v [256]bool) {
	for i := 0x00; i <= 0x99; i++ {
		v[i] = true
	}
	for _, op := range []int{
		0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa3, 0xa4, 0xa7, 0xa8, 0xa9,
		0xaa, 0xab, 0xac, 0xad, 0xae, 0xb1, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
		0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc3, 0xc4, 0xc7, 0xc8, 0xc9, 0xca,
		0xcb, 0xcc, 0xcd, 0xce, 0xd1, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb,
		0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8,
		0xe9, 0xea, 0xeb, 0xec, 0xed, 0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
		0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
	} {
		v[op] = true
	}
	return v
}()

// rewrite returns src, one function body (locals and code), with a check at
// its entry and at the start of every loop, and with every function index
// remapped.
func (b *body) rewrite(m *module, src []byte) ([]byte, error) {
	r := reader{b: src}
	var locals uint64
	for n, i := r.u32(), uint32(0); i < n && r.err == nil; i++ {
		locals += uint64(r.u32())
		if err := valType(r.byte()); err != nil && r.err == nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, errorf(ErrMalformed, "locals: %v", r.err)
	}
	if locals > 1<<20 {
		return nil, errorf(ErrMalformed, "%d locals", locals)
	}

	b.weights = append(b.weights[:0], 0)
	b.inserts = append(b.inserts[:0], r.pos)
	b.frames = append(b.frames[:0], 0)
	b.patches = b.patches[:0]

	for len(b.frames) > 0 {
		if r.done() {
			return nil, errorf(ErrMalformed, "function body ends inside a block: %v", r.err)
		}
		b.weights[b.frames[len(b.frames)-1]]++
		if err := b.instruction(m, &r); err != nil {
			return nil, err
		}
		if r.err != nil {
			return nil, errorf(ErrMalformed, "at body offset %d: %v", r.pos, r.err)
		}
	}
	if r.pos != len(src) {
		return nil, errorf(ErrMalformed, "%d bytes after the end of the function body", len(src)-r.pos)
	}
	m.info.Loops += len(b.weights) - 1

	// Second pass: the recorded positions are in increasing order in each
	// list; merge them.
	sp := splicer{src: src, out: make([]byte, 0, len(src)+len(b.inserts)*24)}
	pi := 0
	for i, at := range b.inserts {
		for ; pi < len(b.patches) && b.patches[pi].start < at; pi++ {
			p := b.patches[pi]
			if err := sp.replaceFunc(m, p.start, p.end, p.idx); err != nil {
				return nil, err
			}
		}
		sp.keepTo(at)
		sp.out = m.appendCheck(sp.out, b.weights[i])
	}
	for ; pi < len(b.patches); pi++ {
		p := b.patches[pi]
		if err := sp.replaceFunc(m, p.start, p.end, p.idx); err != nil {
			return nil, err
		}
	}
	return sp.finish(), nil
}

// appendCheck appends the metering sequence charging weight instructions.
func (m *module) appendCheck(dst []byte, weight int) []byte {
	if weight < 1 {
		weight = 1
	}
	if max := int(m.opts.Fuel); max > 0 && weight > max {
		weight = max
	}
	g := m.fuelGlobal
	dst = append(dst, 0x23) // global.get $fuel
	dst = appendU32(dst, g)
	dst = append(dst, 0x41) // i32.const W
	dst = appendS32(dst, int32(weight))
	dst = append(dst, 0x6b, 0x24) // i32.sub ; global.set $fuel
	dst = appendU32(dst, g)
	dst = append(dst, 0x23) // global.get $fuel
	dst = appendU32(dst, g)
	dst = append(dst, 0x41, 0x00, 0x48, 0x04, 0x40, 0x10) // i32.const 0 ; i32.lt_s ; if ; call
	dst = appendU32(dst, m.yieldFunc)
	dst = append(dst, 0x24) // global.set $fuel
	dst = appendU32(dst, g)
	return append(dst, 0x0b) // end
}

// blockType reads a block type: empty, one value type, or a type index of
// the original module (the added yield type is not one).
func blockType(m *module, r *reader) error {
	switch c := r.byte(); c {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return nil
	case 0x63, 0x64, 0x69:
		return errorf(ErrUnsupported, "block type %#x (typed references or exceptions)", c)
	}
	r.pos--
	v := r.sleb(5)
	switch {
	case r.err != nil:
	case v < 0:
		return errorf(ErrUnsupported, "block type %d", v)
	case v >= int64(m.types):
		return errorf(ErrMalformed, "block type index %d out of range (%d types)", v, m.types)
	}
	return nil
}

func memArg(r *reader) {
	r.u32() // alignment
	r.u32() // offset
}

// instruction decodes one instruction after its opcode's weight was
// counted, updating the block structure and recording patches.
func (b *body) instruction(m *module, r *reader) error {
	op := r.byte()
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0f || op == 0x1a || op == 0x1b:
		// unreachable, nop, else, return, drop, select
	case op == 0x02 || op == 0x04: // block, if
		if err := blockType(m, r); err != nil {
			return err
		}
		b.frames = append(b.frames, b.frames[len(b.frames)-1])
	case op == 0x03: // loop
		if err := blockType(m, r); err != nil {
			return err
		}
		b.weights = append(b.weights, 0)
		b.inserts = append(b.inserts, r.pos)
		b.frames = append(b.frames, len(b.weights)-1)
	case op == 0x0b: // end
		b.frames = b.frames[:len(b.frames)-1]
	case op == 0x0c || op == 0x0d: // br, br_if
		r.u32()
	case op == 0x0e: // br_table
		n := r.u32()
		for i := uint64(0); i <= uint64(n) && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x10: // call
		start := r.pos
		idx := r.u32()
		b.patches = append(b.patches, patch{start: start, end: r.pos, idx: idx})
	case op == 0x11: // call_indirect
		if ti := r.u32(); r.err == nil && ti >= m.types {
			return errorf(ErrMalformed, "call_indirect type index %d out of range (%d types)", ti, m.types)
		}
		r.u32()
	case op == 0x1c: // select with a type
		if n := r.byte(); n != 1 && r.err == nil {
			return errorf(ErrUnsupported, "select with %d types", n)
		}
		if err := valType(r.byte()); err != nil && r.err == nil {
			return err
		}
	case op >= 0x20 && op <= 0x22: // local.get, local.set, local.tee
		r.u32()
	case op == 0x23 || op == 0x24: // global.get, global.set
		if g := r.u32(); r.err == nil && g >= m.globals {
			return errorf(ErrMalformed, "global index %d out of range (%d globals)", g, m.globals)
		}
	case op == 0x25 || op == 0x26: // table.get, table.set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		memArg(r)
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41:
		r.sleb(5)
	case op == 0x42:
		r.sleb(10)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op >= 0x45 && op <= 0xc4: // numeric, including sign extension
	case op == 0xd0: // ref.null
		if err := refType(r.byte()); err != nil && r.err == nil {
			return err
		}
	case op == 0xd1: // ref.is_null
	case op == 0xd2: // ref.func
		start := r.pos
		idx := r.u32()
		b.patches = append(b.patches, patch{start: start, end: r.pos, idx: idx})
	case op == 0xfc:
		return miscInstruction(r)
	case op == 0xfd:
		return vectorInstruction(r)
	default:
		if r.err == nil {
			return errorf(ErrUnsupported, "opcode %#x at body offset %d", op, r.pos-1)
		}
	}
	return nil
}

// zeroByte reads a reserved byte that must be 0 (a memory index).
func zeroByte(r *reader) error {
	if c := r.byte(); c != 0 && r.err == nil {
		return errorf(ErrUnsupported, "memory index %d (multi-memory)", c)
	}
	return nil
}

func miscInstruction(r *reader) error {
	switch sub := r.u32(); {
	case sub <= 0x07: // saturating truncations
	case sub == 0x08: // memory.init
		r.u32()
		return zeroByte(r)
	case sub == 0x09: // data.drop
		r.u32()
	case sub == 0x0a: // memory.copy
		if err := zeroByte(r); err != nil {
			return err
		}
		return zeroByte(r)
	case sub == 0x0b: // memory.fill
		return zeroByte(r)
	case sub == 0x0c || sub == 0x0e: // table.init, table.copy
		r.u32()
		r.u32()
	case sub == 0x0d || (sub >= 0x0f && sub <= 0x11): // elem.drop, table.grow/size/fill
		r.u32()
	default:
		if r.err == nil {
			return errorf(ErrUnsupported, "instruction 0xfc %#x", sub)
		}
	}
	return nil
}

func vectorInstruction(r *reader) error {
	sub := r.byte()
	if r.err != nil {
		return nil
	}
	if !simdValid[sub] {
		return errorf(ErrUnsupported, "vector instruction %#x", sub)
	}
	switch {
	case sub <= 0x0b || sub == 0x5c || sub == 0x5d: // loads and stores
		memArg(r)
	case sub == 0x0c || sub == 0x0d: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 0x15 && sub <= 0x22: // extract and replace lane
		r.byte()
	case sub >= 0x54 && sub <= 0x5b: // load and store lane
		memArg(r)
		r.byte()
	}
	return nil
}
