package act

import (
	"testing"
	"unsafe"
)

// TestCloneMirredDev: a stored mirred spec does not share its device name
// with the caller's buffer (a batch chunk it would keep alive).
func TestCloneMirredDev(t *testing.T) {
	buf := "action mirred egress redirect dev veth1 x"
	in := &Mirred{Dev: buf[34:39]}
	out := cloneSpec(in).(*Mirred)
	if out.Dev != "veth1" {
		t.Fatalf("clone dev %q, want veth1", out.Dev)
	}
	if unsafe.StringData(out.Dev) == unsafe.StringData(in.Dev) {
		t.Error("the clone's dev points into the caller's buffer")
	}
}
