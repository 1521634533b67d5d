package balance

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRoundRobinSpreadsByWeight(t *testing.T) {
	p := NewPool(NewState(), []Backend{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 2}, {Address: "c:1", Weight: 0}})
	counts := map[string]int{}
	for i := 0; i < 300; i++ {
		b, err := p.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		counts[b.Address]++
	}
	if counts["a:1"] != 100 || counts["b:1"] != 200 || counts["c:1"] != 0 {
		t.Fatalf("counts = %v, want a:100 b:200 c:0", counts)
	}
}

func TestPickSkipsExcludedAndEjected(t *testing.T) {
	st := NewState()
	st.EjectAfter = 2
	now := time.Unix(1000, 0)
	st.now = func() time.Time { return now }
	p := NewPool(st, []Backend{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 1}})
	a := p.Members()[0]
	p.Done(a, errors.New("refused"))
	p.Done(a, errors.New("refused"))
	for i := 0; i < 10; i++ {
		b, err := p.Pick(nil)
		if err != nil || b.Address != "b:1" {
			t.Fatalf("pick %d = %v, %v; want b:1 while a:1 is ejected", i, b, err)
		}
	}
	// Every healthy member excluded: the ejected one is still a better guess than nothing.
	b, err := p.Pick([]*Backend{p.Members()[1]})
	if err != nil || b != a {
		t.Fatalf("fallback pick = %v, %v; want a:1", b, err)
	}
	if _, err := p.Pick(p.Members()); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("all excluded: err = %v, want ErrNoBackend", err)
	}
	now = now.Add(st.EjectFor + time.Second)
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		b, _ := p.Pick(nil)
		seen[b.Address] = true
	}
	if !seen["a:1"] {
		t.Fatal("a:1 not picked again after its ejection expired")
	}
}

func TestHealthSurvivesNewPool(t *testing.T) {
	st := NewState()
	st.EjectAfter = 1
	p1 := NewPool(st, []Backend{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 1}})
	p1.Done(p1.Members()[0], errors.New("down"))
	p2 := NewPool(st, []Backend{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 1}})
	for i := 0; i < 4; i++ {
		if b, _ := p2.Pick(nil); b.Address != "b:1" {
			t.Fatalf("new pool picked %s; ejection of a:1 should survive the reload", b.Address)
		}
	}
}

func TestPickConcurrent(t *testing.T) {
	p := NewPool(NewState(), []Backend{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 1}})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				b, err := p.Pick(nil)
				if err != nil {
					t.Error(err)
					return
				}
				b.Acquire()
				p.Done(b, nil)
				b.Release()
			}
		}()
	}
	wg.Wait()
	for _, b := range p.Members() {
		if b.Active() != 0 {
			t.Fatalf("%s active = %d after all releases", b.Address, b.Active())
		}
	}
}

func BenchmarkPick(b *testing.B) {
	p := NewPool(NewState(), []Backend{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 1}, {Address: "c:1", Weight: 1}})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.Pick(nil); err != nil {
			b.Fatal(err)
		}
	}
}
