package main

import (
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads GOGC (SetGCPercent is the only way), under bulk's lock so
// that a restore cannot fall between the read and the put back.
func gcPercent() int {
	bulk.Lock()
	defer bulk.Unlock()
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// TestBulkGC: GOGC is raised while batch chunks are applied (overlapping
// ones too), stays raised in the gap right after them, and is put back
// bulkGCLinger after the last one ends; a higher setting is left alone.
func TestBulkGC(t *testing.T) {
	// Other tests' batches may have left a restore pending: let it run.
	for wait := time.Now().Add(bulkGCLinger + 5*time.Second); ; time.Sleep(20 * time.Millisecond) {
		bulk.Lock()
		idle := !bulk.raised && bulk.n == 0
		bulk.Unlock()
		if idle {
			break
		}
		if time.Now().After(wait) {
			t.Fatal("a batch's raised GOGC was never restored")
		}
	}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	end1 := bulkGC()
	end2 := bulkGC()
	if g := gcPercent(); g != bulkGCPercent {
		t.Fatalf("GOGC %d during two chunks, want %d", g, bulkGCPercent)
	}
	end1()
	end2()
	if g := gcPercent(); g != bulkGCPercent {
		t.Fatalf("GOGC %d right after the chunks, want %d until the linger ends", g, bulkGCPercent)
	}
	deadline := time.Now().Add(bulkGCLinger + 5*time.Second)
	for gcPercent() != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d %v after the last chunk, want 100 back", gcPercent(), bulkGCLinger+5*time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Already higher than the bulk setting: untouched, and restored to itself.
	debug.SetGCPercent(1000)
	end := bulkGC()
	if g := gcPercent(); g != 1000 {
		t.Errorf("GOGC %d during a chunk with 1000 set, want 1000", g)
	}
	end()
	time.Sleep(bulkGCLinger + 100*time.Millisecond)
	if g := gcPercent(); g != 1000 {
		t.Errorf("GOGC %d after, want 1000", g)
	}
}
