package meter

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Sentinel errors; Instrument wraps one of them with the place and reason.
var (
	// ErrMalformed means the bytes are not a well-formed WebAssembly module.
	ErrMalformed = errors.New("meter: malformed module")
	// ErrUnsupported means the module uses a feature beyond WebAssembly 2.0
	// (threads, tail calls, exception handling, typed references, ...).
	ErrUnsupported = errors.New("meter: unsupported feature")
	// ErrTooManyFunctions means the module has more functions than allowed.
	ErrTooManyFunctions = errors.New("meter: too many functions")
)

// ExternKind is the kind of an import.
type ExternKind byte

// Import kinds, as encoded in the binary format.
const (
	ExternFunc   ExternKind = 0
	ExternTable  ExternKind = 1
	ExternMemory ExternKind = 2
	ExternGlobal ExternKind = 3
)

// Import is one import of the original module.
type Import struct {
	Module, Name string
	Kind         ExternKind
}

// Options says how to instrument.
type Options struct {
	// YieldModule and YieldName name the imported function the metered code
	// calls when its fuel runs out. Its type is () -> i32: it returns the
	// next allowance of fuel.
	YieldModule, YieldName string
	// Fuel is the initial value of the fuel global. It should be what the
	// yield function returns.
	Fuel int32
	// MaxFunctions bounds imported plus defined functions; 0 means no bound.
	MaxFunctions int
}

// Info describes the original module.
type Info struct {
	Imports []Import
	// Functions counts imported and defined functions.
	Functions int
	// HasMemory reports a defined memory; MemoryMinPages is its declared
	// initial size in 64 KiB pages.
	HasMemory      bool
	MemoryMinPages uint32
	// Loops counts the metered loops.
	Loops int
}

// section ranks give the required order of the non-custom sections (the
// data count section, id 12, sits between element and code).
var sectionRank = [13]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 10}

const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

type section struct {
	id      byte
	payload []byte
	offset  int // of the payload in the module, for error messages
}

type module struct {
	opts Options
	info Info

	types       uint32 // entries in the type section
	funcImports uint32
	globals     uint32 // imported + defined, before the rewrite
	funcs       uint32 // imported + defined, before the rewrite

	yieldFunc  uint32 // index of the added import
	fuelGlobal uint32 // index of the added global
	yieldType  uint32 // index of the added type
	check      []byte // scratch for one check sequence
}

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// Instrument returns a metered copy of the module wasm (see the package
// documentation) and what it learned about the original. It never modifies
// wasm.
func Instrument(wasm []byte, o Options) ([]byte, *Info, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, nil, errorf(ErrMalformed, "missing the \\0asm magic number")
	}
	if string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, nil, errorf(ErrMalformed, "binary format version is not 1")
	}
	m := &module{opts: o}
	secs, err := splitSections(wasm)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range secs {
		if err := m.scan(s); err != nil {
			return nil, nil, err
		}
	}
	if o.MaxFunctions > 0 && int(m.funcs) > o.MaxFunctions {
		return nil, nil, errorf(ErrTooManyFunctions, "%d functions, at most %d allowed", m.funcs, o.MaxFunctions)
	}
	m.info.Functions = int(m.funcs)
	m.yieldFunc = m.funcImports
	m.fuelGlobal = m.globals
	m.yieldType = m.types

	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, wasm[:8]...)
	emitted := map[byte]bool{}
	// flush emits the added sections that the original lacks and whose rank
	// comes before rank.
	flush := func(rank int) {
		for _, id := range []byte{secType, secImport, secGlobal} {
			if !emitted[id] && sectionRank[id] < rank {
				emitted[id] = true
				out = appendSection(out, id, m.emitEmpty(id))
			}
		}
	}
	// Custom sections after the last standard one stay last.
	lastStandard := -1
	for i, s := range secs {
		if s.id != secCustom {
			lastStandard = i
		}
	}
	for i, s := range secs {
		switch {
		case s.id != secCustom:
			flush(sectionRank[s.id])
		case i > lastStandard:
			flush(len(sectionRank) + 1)
		}
		payload, keep, err := m.emit(s)
		if err != nil {
			return nil, nil, err
		}
		emitted[s.id] = true
		if keep {
			out = appendSection(out, s.id, payload)
		}
	}
	flush(len(sectionRank) + 1)
	return out, &m.info, nil
}

// splitSections cuts the module into sections and checks their order.
func splitSections(wasm []byte) ([]section, error) {
	r := reader{b: wasm, pos: 8}
	var secs []section
	lastRank := 0
	for !r.done() {
		id := r.byte()
		size := r.u32()
		start := r.pos
		payload := r.bytes(int(size))
		if r.err != nil {
			return nil, errorf(ErrMalformed, "section %d at offset %d: %v", id, start, r.err)
		}
		if id >= byte(len(sectionRank)) {
			return nil, errorf(ErrUnsupported, "section id %d at offset %d", id, start)
		}
		if id != secCustom {
			if sectionRank[id] <= lastRank {
				return nil, errorf(ErrMalformed, "section %d at offset %d is out of order or repeated", id, start)
			}
			lastRank = sectionRank[id]
		}
		secs = append(secs, section{id: id, payload: payload, offset: start})
	}
	return secs, nil
}

// scan reads what the rewrite needs before any section is emitted.
func (m *module) scan(s section) error {
	r := reader{b: s.payload}
	fail := func(what string) error {
		return errorf(ErrMalformed, "%s section at offset %d: %v", what, s.offset+r.pos, r.err)
	}
	switch s.id {
	case secType:
		m.types = r.u32()
		for i := uint32(0); i < m.types && r.err == nil; i++ {
			if form := r.byte(); form != 0x60 && r.err == nil {
				return errorf(ErrUnsupported, "type %d has form %#x", i, form)
			}
			for k := 0; k < 2 && r.err == nil; k++ { // params, then results
				for n, j := r.u32(), uint32(0); j < n && r.err == nil; j++ {
					if err := valType(r.byte()); err != nil && r.err == nil {
						return err
					}
				}
			}
		}
		if r.err != nil {
			return fail("type")
		}
	case secImport:
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			imp := Import{Module: r.name(), Name: r.name(), Kind: ExternKind(r.byte())}
			switch imp.Kind {
			case ExternFunc:
				if ti := r.u32(); r.err == nil && ti >= m.types {
					return errorf(ErrMalformed, "import %q %q has type index %d out of range", imp.Module, imp.Name, ti)
				}
				m.funcImports++
				m.funcs++
			case ExternTable:
				if err := refType(r.byte()); err != nil {
					return err
				}
				if _, err := limits(&r); err != nil {
					return err
				}
			case ExternMemory:
				if _, err := limits(&r); err != nil {
					return err
				}
			case ExternGlobal:
				if err := valType(r.byte()); err != nil {
					return err
				}
				r.byte()
				m.globals++
			default:
				if r.err == nil {
					return errorf(ErrUnsupported, "import %q %q has kind %d", imp.Module, imp.Name, imp.Kind)
				}
			}
			if r.err == nil {
				m.info.Imports = append(m.info.Imports, imp)
			}
		}
		if r.err != nil {
			return fail("import")
		}
	case secFunction:
		n := r.u32()
		if r.err != nil {
			return fail("function")
		}
		if uint64(n) > uint64(len(s.payload)) { // each entry takes at least one byte
			return errorf(ErrMalformed, "function section declares %d functions in %d bytes", n, len(s.payload))
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			if ti := r.u32(); r.err == nil && ti >= m.types {
				return errorf(ErrMalformed, "function %d has type index %d out of range", i, ti)
			}
		}
		if r.err != nil {
			return fail("function")
		}
		m.funcs += n
	case secTable:
		for n, i := r.u32(), uint32(0); i < n && r.err == nil; i++ {
			if err := refType(r.byte()); err != nil && r.err == nil {
				return err
			}
			if _, err := limits(&r); err != nil {
				return err
			}
		}
		if r.err != nil {
			return fail("table")
		}
	case secMemory:
		n := r.u32()
		if n > 1 {
			return errorf(ErrUnsupported, "%d memories (multi-memory)", n)
		}
		if n == 1 {
			min, err := limits(&r)
			if err != nil {
				return err
			}
			m.info.HasMemory = true
			m.info.MemoryMinPages = min
		}
		if r.err != nil {
			return fail("memory")
		}
	case secGlobal:
		n := r.u32()
		if r.err != nil {
			return fail("global")
		}
		if uint64(n) > uint64(len(s.payload)) {
			return errorf(ErrMalformed, "global section declares %d globals in %d bytes", n, len(s.payload))
		}
		m.globals += n
		return nil // read whole by emitGlobals
	default:
		return nil // read whole when emitted
	}
	if r.err == nil && r.pos != len(s.payload) {
		return errorf(ErrMalformed, "section %d has %d trailing bytes", s.id, len(s.payload)-r.pos)
	}
	return nil
}

func valType(b byte) error {
	switch b {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return nil
	}
	return errorf(ErrUnsupported, "value type %#x", b)
}

func refType(b byte) error {
	switch b {
	case 0x70, 0x6f:
		return nil
	}
	return errorf(ErrUnsupported, "reference type %#x", b)
}

// limits reads a table or memory limits and returns the minimum.
func limits(r *reader) (uint32, error) {
	flag := r.byte()
	switch flag {
	case 0x00:
		return r.u32(), nil
	case 0x01:
		min := r.u32()
		r.u32()
		return min, nil
	}
	if r.err != nil {
		return 0, errorf(ErrMalformed, "limits: %v", r.err)
	}
	return 0, errorf(ErrUnsupported, "limits flag %#x (shared or 64-bit memory)", flag)
}

// remapFunc maps an original function index to its index after the yield
// import was inserted in front of the defined functions.
func (m *module) remapFunc(idx uint32) (uint32, error) {
	if idx >= m.funcs {
		return 0, errorf(ErrMalformed, "function index %d out of range (%d functions)", idx, m.funcs)
	}
	if idx >= m.funcImports {
		idx++
	}
	return idx, nil
}

// emitEmpty returns the payload of an added section the original lacks.
func (m *module) emitEmpty(id byte) []byte {
	var p []byte
	switch id {
	case secType:
		p = appendU32(p, 1)
		p = m.appendYieldType(p)
	case secImport:
		p = appendU32(p, 1)
		p = m.appendYieldImport(p)
	case secGlobal:
		p = appendU32(p, 1)
		p = m.appendFuelGlobal(p)
	}
	return p
}

func (m *module) appendYieldType(p []byte) []byte {
	return append(p, 0x60, 0x00, 0x01, 0x7f) // func () -> i32
}

func (m *module) appendYieldImport(p []byte) []byte {
	p = appendName(p, m.opts.YieldModule)
	p = appendName(p, m.opts.YieldName)
	p = append(p, byte(ExternFunc))
	return appendU32(p, m.yieldType)
}

func (m *module) appendFuelGlobal(p []byte) []byte {
	p = append(p, 0x7f, 0x01, 0x41) // mutable i32 = i32.const
	p = appendS32(p, m.opts.Fuel)
	return append(p, 0x0b)
}

// emit returns the payload of section s after the rewrite, and whether to
// keep the section at all.
func (m *module) emit(s section) ([]byte, bool, error) {
	switch s.id {
	case secType:
		r := reader{b: s.payload}
		n := r.u32()
		p := appendU32(nil, n+1)
		p = append(p, s.payload[r.pos:]...)
		return m.appendYieldType(p), true, nil
	case secImport:
		r := reader{b: s.payload}
		n := r.u32()
		p := appendU32(nil, n+1)
		p = append(p, s.payload[r.pos:]...)
		return m.appendYieldImport(p), true, nil
	case secGlobal:
		p, err := m.emitGlobals(s)
		if err != nil {
			return nil, false, err
		}
		return m.appendFuelGlobal(p), true, nil
	case secExport:
		p, err := m.emitExports(s)
		return p, true, err
	case secStart:
		r := reader{b: s.payload}
		idx, err := m.remapFunc(r.u32())
		if r.err != nil || r.pos != len(s.payload) {
			return nil, false, errorf(ErrMalformed, "start section: %v", r.err)
		}
		return appendU32(nil, idx), true, err
	case secElement:
		p, err := m.emitElements(s)
		return p, true, err
	case secCode:
		p, err := m.emitCode(s)
		return p, true, err
	case secData:
		return s.payload, true, m.checkData(s)
	case secDataCount:
		r := reader{b: s.payload}
		if r.u32(); r.err != nil || r.pos != len(s.payload) {
			return nil, false, errorf(ErrMalformed, "data count section")
		}
	case secCustom:
		r := reader{b: s.payload}
		if r.name() == "name" && r.err == nil {
			p, err := m.emitNames(s.payload, r.pos)
			return p, true, err
		}
	}
	return s.payload, true, nil
}

// splicer copies src to out while replacing or inserting pieces.
type splicer struct {
	src  []byte
	out  []byte
	last int
}

func (s *splicer) keepTo(pos int) {
	s.out = append(s.out, s.src[s.last:pos]...)
	s.last = pos
}

func (s *splicer) replaceFunc(m *module, start, end int, idx uint32) error {
	n, err := m.remapFunc(idx)
	if err != nil {
		return err
	}
	s.keepTo(start)
	s.out = appendU32(s.out, n)
	s.last = end
	return nil
}

func (s *splicer) finish() []byte {
	s.keepTo(len(s.src))
	return s.out
}

func (m *module) emitGlobals(s section) ([]byte, error) {
	r := reader{b: s.payload}
	n := r.u32()
	sp := splicer{src: s.payload}
	sp.out = appendU32(nil, n+1)
	sp.last = r.pos
	for i := uint32(0); i < n; i++ {
		if err := valType(r.byte()); err != nil {
			return nil, err
		}
		r.byte() // mutability
		if err := m.constExpr(&r, &sp); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
	}
	if r.err != nil || r.pos != len(s.payload) {
		return nil, errorf(ErrMalformed, "global section at offset %d", s.offset+r.pos)
	}
	return sp.finish(), nil
}

// constExpr reads a constant expression up to its end, remapping ref.func.
func (m *module) constExpr(r *reader, sp *splicer) error {
	for {
		op := r.byte()
		if r.err != nil {
			return errorf(ErrMalformed, "constant expression: %v", r.err)
		}
		switch op {
		case 0x0b:
			return nil
		case 0x41:
			r.sleb(5)
		case 0x42:
			r.sleb(10)
		case 0x43:
			r.bytes(4)
		case 0x44:
			r.bytes(8)
		case 0x23:
			if g := r.u32(); r.err == nil && g >= m.globals {
				return errorf(ErrMalformed, "global index %d out of range", g)
			}
		case 0xd0:
			if err := refType(r.byte()); err != nil {
				return err
			}
		case 0xd2:
			start := r.pos
			idx := r.u32()
			if r.err != nil {
				return errorf(ErrMalformed, "ref.func: %v", r.err)
			}
			if err := sp.replaceFunc(m, start, r.pos, idx); err != nil {
				return err
			}
		case 0xfd:
			if sub := r.byte(); sub != 0x0c {
				return errorf(ErrUnsupported, "vector instruction %#x in a constant expression", sub)
			}
			r.bytes(16)
		default:
			return errorf(ErrUnsupported, "instruction %#x in a constant expression", op)
		}
	}
}

func (m *module) emitExports(s section) ([]byte, error) {
	r := reader{b: s.payload}
	sp := splicer{src: s.payload}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		kind := r.byte()
		start := r.pos
		idx := r.u32()
		switch {
		case r.err != nil:
		case ExternKind(kind) == ExternFunc:
			if err := sp.replaceFunc(m, start, r.pos, idx); err != nil {
				return nil, err
			}
		case ExternKind(kind) == ExternGlobal && idx >= m.globals:
			return nil, errorf(ErrMalformed, "export of global %d out of range (%d globals)", idx, m.globals)
		}
	}
	if r.err != nil || r.pos != len(s.payload) {
		return nil, errorf(ErrMalformed, "export section at offset %d", s.offset+r.pos)
	}
	return sp.finish(), nil
}

func (m *module) emitElements(s section) ([]byte, error) {
	r := reader{b: s.payload}
	sp := splicer{src: s.payload}
	n := r.u32()
	funcIndices := func() error {
		k := r.u32()
		for j := uint32(0); j < k && r.err == nil; j++ {
			start := r.pos
			idx := r.u32()
			if r.err != nil {
				break
			}
			if err := sp.replaceFunc(m, start, r.pos, idx); err != nil {
				return err
			}
		}
		return nil
	}
	exprs := func() error {
		k := r.u32()
		for j := uint32(0); j < k && r.err == nil; j++ {
			if err := m.constExpr(&r, &sp); err != nil {
				return err
			}
		}
		return nil
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		var err error
		switch flags := r.u32(); flags {
		case 0:
			if err = m.constExpr(&r, &sp); err == nil {
				err = funcIndices()
			}
		case 1, 3:
			if kind := r.byte(); kind != 0 && r.err == nil {
				return nil, errorf(ErrUnsupported, "element kind %#x", kind)
			}
			err = funcIndices()
		case 2:
			r.u32()
			if err = m.constExpr(&r, &sp); err == nil {
				if kind := r.byte(); kind != 0 && r.err == nil {
					return nil, errorf(ErrUnsupported, "element kind %#x", kind)
				}
				err = funcIndices()
			}
		case 4:
			if err = m.constExpr(&r, &sp); err == nil {
				err = exprs()
			}
		case 5, 7:
			if err = refType(r.byte()); err == nil {
				err = exprs()
			}
		case 6:
			r.u32()
			if err = m.constExpr(&r, &sp); err == nil {
				if err = refType(r.byte()); err == nil {
					err = exprs()
				}
			}
		default:
			if r.err == nil {
				return nil, errorf(ErrMalformed, "element segment flags %d", flags)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("element segment %d: %w", i, err)
		}
	}
	if r.err != nil || r.pos != len(s.payload) {
		return nil, errorf(ErrMalformed, "element section at offset %d", s.offset+r.pos)
	}
	return sp.finish(), nil
}

// emitNames rebuilds the "name" custom section with only its function
// names, remapped. The section is debug information (names in stack
// traces), and wazero's decoder pre-allocates by counts it reads past
// subsection ends, so it gets a fresh, exact encoding rather than a patched
// copy. A name section that does not parse is an error.
func (m *module) emitNames(payload []byte, start int) ([]byte, error) {
	bad := errorf(ErrMalformed, "name section")
	r := reader{b: payload, pos: start}
	var names []byte
	count := uint32(0)
	for !r.done() {
		id := r.byte()
		sub := r.bytes(int(r.u32()))
		if r.err != nil {
			return nil, bad
		}
		if id != 1 {
			continue
		}
		sr := reader{b: sub}
		n := sr.u32()
		for i := uint32(0); i < n && sr.err == nil; i++ {
			idx := sr.u32()
			name := sr.name()
			if sr.err != nil {
				break
			}
			if !utf8.ValidString(name) {
				return nil, bad
			}
			nidx, err := m.remapFunc(idx)
			if err != nil {
				return nil, err
			}
			names = appendName(appendU32(names, nidx), name)
			count++
		}
		if sr.err != nil || sr.pos != len(sub) {
			return nil, bad
		}
	}
	out := appendName(nil, "name")
	if count == 0 {
		return out, nil
	}
	return appendSection(out, 1, append(appendU32(nil, count), names...)), nil
}

func (m *module) emitCode(s section) ([]byte, error) {
	r := reader{b: s.payload}
	n := r.u32()
	if r.err != nil || n != m.funcs-m.funcImports {
		return nil, errorf(ErrMalformed, "code section has %d bodies for %d functions", n, m.funcs-m.funcImports)
	}
	out := make([]byte, 0, len(s.payload)+len(s.payload)/8+16)
	out = appendU32(out, n)
	var b body
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		start := r.pos
		src := r.bytes(int(size))
		if r.err != nil {
			return nil, errorf(ErrMalformed, "code section at offset %d: %v", s.offset+start, r.err)
		}
		rewritten, err := b.rewrite(m, src)
		if err != nil {
			return nil, fmt.Errorf("function %d (body at offset %d): %w", m.funcImports+i, s.offset+start, err)
		}
		out = appendU32(out, uint32(len(rewritten)))
		out = append(out, rewritten...)
	}
	if r.pos != len(s.payload) {
		return nil, errorf(ErrMalformed, "code section has trailing bytes")
	}
	return out, nil
}

// checkData reads the data segments' offset expressions, so that one naming
// the added global is refused like any other out-of-range index.
func (m *module) checkData(s section) error {
	r := reader{b: s.payload}
	sp := splicer{src: s.payload}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch flags := r.u32(); flags {
		case 0:
			if err := m.constExpr(&r, &sp); err != nil {
				return fmt.Errorf("data segment %d: %w", i, err)
			}
		case 1:
		case 2:
			r.u32()
			if err := m.constExpr(&r, &sp); err != nil {
				return fmt.Errorf("data segment %d: %w", i, err)
			}
		default:
			if r.err == nil {
				return errorf(ErrMalformed, "data segment flags %d", flags)
			}
		}
		r.bytes(int(r.u32()))
	}
	if r.err != nil || r.pos != len(s.payload) {
		return errorf(ErrMalformed, "data section at offset %d", s.offset+r.pos)
	}
	return nil
}
