package ctl

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Where the control socket lives.
const (
	// DefaultSocket is the daemon's socket unless told otherwise.
	DefaultSocket = "/run/netyard/ctl.sock"
	// SocketEnv names the environment variable that overrides it, for
	// the daemon and for `netyard tc` alike.
	SocketEnv = "NETYARD_SOCKET"
)

// SocketPath is $NETYARD_SOCKET, or DefaultSocket when it is unset or
// empty.
func SocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	return DefaultSocket
}

// Listen creates the control socket at path with permissions perm (0600:
// only the daemon's user; 0660 with a group) and, when gid >= 0, that
// group. Whoever can connect can reconfigure the datapath, so the socket
// never exists with looser permissions, not even for an instant: it is
// bound in a fresh 0700 directory next to path, given its mode and group
// there, and linked into place. A stale socket at path (connecting is
// refused: nobody listens) is replaced; a live one, or one whose state
// cannot be told (a daemon too busy to accept, a socket we may not
// connect to), is an error: a second daemon never replaces a live
// daemon's socket. Daemons starting at once take turns (a lock on the
// directory), so two cannot both find the path free. Closing the
// listener removes path.
func Listen(path string, perm fs.FileMode, gid int) (net.Listener, error) {
	if len(path) > MaxSocketPath {
		return nil, fmt.Errorf("ctl: listen %s: the path is %d bytes, over the kernel's limit of %d for a unix socket (sun_path is 108 bytes with its NUL): choose a shorter one",
			path, len(path), MaxSocketPath)
	}
	unlock, err := lockDir(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("ctl: listen %s: %w", path, err)
	}
	defer unlock()
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("ctl: listen %s: exists and is not a socket", path)
		}
		c, err := net.Dial("unix", path)
		switch {
		case err == nil:
			c.Close()
			return nil, fmt.Errorf("ctl: listen %s: a daemon is already serving it", path)
		case !errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("ctl: listen %s: a daemon may be serving it (%v); not replacing it", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("ctl: listen %s: removing the stale socket: %w", path, err)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ctl")
	if err != nil {
		return nil, fmt.Errorf("ctl: listen %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	if len(tmp) > MaxSocketPath {
		return nil, fmt.Errorf("ctl: listen %s: the socket is bound first as %s, %d bytes, over the kernel's limit of %d for a unix socket: choose a path of at most %d bytes",
			path, tmp, len(tmp), MaxSocketPath, MaxSocketPath-(len(tmp)-len(path)))
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ctl: listen %s: %w", path, err)
	}
	// Close must remove path, not the temporary name.
	l.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, error) {
		l.Close()
		return nil, fmt.Errorf("ctl: listen %s: %w", path, err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return fail(err)
	}
	if gid >= 0 {
		if err := os.Lchown(tmp, -1, gid); err != nil {
			return fail(err)
		}
	}
	// A link, not a rename: it never replaces what is at path.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(errors.New("a daemon is already serving it"))
		}
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &unixListener{UnixListener: l, path: path, fi: fi}, nil
}

// MaxSocketPath is the longest path a unix socket can be bound to: the
// kernel's sun_path is 108 bytes, with its terminating NUL.
const MaxSocketPath = 107

// lockDir takes an exclusive flock on dir until unlock is called: the
// daemons placing a socket there take turns.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// unixListener removes its socket file when closed, if the file is still
// the one it created (a newer daemon may have replaced it).
type unixListener struct {
	*net.UnixListener
	path string
	fi   fs.FileInfo
	once sync.Once
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.fi) {
			if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
				err = rerr
			}
		}
	})
	return err
}
