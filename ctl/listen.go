package ctl

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
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
// there, and renamed into place. A stale socket at path (nobody accepting)
// is replaced; a live one is an error. Closing the listener removes path.
func Listen(path string, perm fs.FileMode, gid int) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("ctl: listen %s: exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("ctl: listen %s: a daemon is already serving it", path)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ctl")
	if err != nil {
		return nil, fmt.Errorf("ctl: listen %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
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
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &unixListener{UnixListener: l, path: path, fi: fi}, nil
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
