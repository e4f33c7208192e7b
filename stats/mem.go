package stats

import "unsafe"

// offHeapMin is the size from which allocArray maps memory outside the Go
// heap where it can (mem_linux.go).
const offHeapMin = 64 << 10

// allocArray returns a zeroed array of n T. T must hold no pointers: the
// memory may be outside the Go heap, where the collector does not look.
// A mapping made for it is appended to maps, for the owner's cleanup.
func allocArray[T any](n int, maps [][]byte) ([]T, [][]byte) {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size >= offHeapMin {
		if b := mapAnon(size); b != nil {
			return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n), append(maps, b)
		}
	}
	return make([]T, n), maps
}

func freeMaps(maps [][]byte) {
	for _, b := range maps {
		unmapAnon(b)
	}
}
