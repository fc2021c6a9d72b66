package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EtcdUser is a user StartEtcd creates (or updates) for clients that may
// read and write the keys under Prefix, and, unless Admin, not manage etcd
// (users, roles, authentication, members).
type EtcdUser struct {
	Name, Password string
	// Prefix starts every key the user may use ("": every key).
	Prefix string
	// Admin grants the user etcd's root role as well. etcd skips its
	// permission checks for such a user, among them one that makes every
	// write with a lease check the user's permission on each key already
	// attached to that lease: for a client that writes many keys under
	// shared leases, as flows do, that check costs more CPU than the rest
	// of the write. A later start without Admin revokes the role.
	Admin bool
}

// EtcdRootUser is etcd's administrator, the user maintenance runs as.
const EtcdRootUser = "root"

// etcdBcryptCost is the bcrypt cost of the embedded etcd's passwords. They
// are long random strings, which no cost makes easier or harder to guess,
// so the lowest cost loses nothing and keeps each login (every flow
// process logs in when it starts) cheap.
const etcdBcryptCost = 4

// ErrEtcdAuth is wrapped by StartEtcd's errors about its users: the root
// password does not match the one the data directory was set up with.
var ErrEtcdAuth = errors.New("embedded etcd: authentication")

// client connects to e as user ("" for no user).
func (e *Etcd) client(user, password string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints: []string{e.clientURL}, Username: user, Password: password,
		DialTimeout: 10 * time.Second, Logger: zap.NewNop(),
	})
}

// rootClient connects to e as root when authentication is on, else with
// no user.
func (e *Etcd) rootClient() (*clientv3.Client, error) {
	if e.rootPassword == "" {
		return e.client("", "")
	}
	return e.client(EtcdRootUser, e.rootPassword)
}

// setupAuth turns etcd's authentication on with o.RootPassword (on the
// first start with a password; later starts check it) and creates or
// updates o.Users. Without a root password it does nothing.
func (e *Etcd) setupAuth(ctx context.Context, o EtcdOptions) error {
	if o.RootPassword == "" {
		if len(o.Users) > 0 {
			return errors.New("embedded etcd: users need a root password")
		}
		return nil
	}
	open, err := e.client("", "")
	if err != nil {
		return err
	}
	defer open.Close()
	st, err := open.AuthStatus(ctx)
	if err != nil {
		return fmt.Errorf("auth status: %w", err)
	}
	if !st.Enabled {
		if err := enableAuth(ctx, open, o.RootPassword); err != nil {
			return err
		}
	}
	root, err := e.client(EtcdRootUser, o.RootPassword)
	if err == nil {
		_, err = root.AuthStatus(ctx)
		defer root.Close()
	}
	if errors.Is(err, rpctypes.ErrAuthFailed) {
		return fmt.Errorf("%w: the root password does not match the one this data directory was set up with: %w", ErrEtcdAuth, err)
	}
	if err != nil {
		return fmt.Errorf("log in as %s: %w", EtcdRootUser, err)
	}
	for _, u := range o.Users {
		if err := ensureUser(ctx, root, u); err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	return nil
}

// enableAuth creates the root user and role and turns authentication on.
func enableAuth(ctx context.Context, cli *clientv3.Client, password string) error {
	if _, err := cli.RoleAdd(ctx, EtcdRootUser); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return fmt.Errorf("add role %s: %w", EtcdRootUser, err)
	}
	if err := addOrUpdateUser(ctx, cli, EtcdRootUser, password); err != nil {
		return err
	}
	if _, err := cli.UserGrantRole(ctx, EtcdRootUser, EtcdRootUser); err != nil {
		return fmt.Errorf("grant role %s: %w", EtcdRootUser, err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		return fmt.Errorf("enable authentication: %w", err)
	}
	return nil
}

// addOrUpdateUser creates user name with password, or sets the password of
// the user that exists.
func addOrUpdateUser(ctx context.Context, cli *clientv3.Client, name, password string) error {
	_, err := cli.UserAdd(ctx, name, password)
	if errors.Is(err, rpctypes.ErrUserAlreadyExist) {
		_, err = cli.UserChangePassword(ctx, name, password)
	}
	if err != nil {
		return fmt.Errorf("add user %s: %w", name, err)
	}
	return nil
}

// ensureUser makes u exist with its password and a role of its name that
// may read and write the keys under its prefix and nothing else.
func ensureUser(ctx context.Context, root *clientv3.Client, u EtcdUser) error {
	if u.Name == "" || u.Name == EtcdRootUser || u.Password == "" {
		return errors.New("a user needs a name other than root and a password")
	}
	if _, err := root.RoleAdd(ctx, u.Name); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return fmt.Errorf("add role: %w", err)
	}
	key, end := u.Prefix, clientv3.GetPrefixRangeEnd(u.Prefix)
	if key == "" {
		key, end = "\x00", "\x00" // etcd's range of every key
	}
	role, err := root.RoleGet(ctx, u.Name)
	if err != nil {
		return fmt.Errorf("read role: %w", err)
	}
	for _, p := range role.Perm {
		if string(p.Key) != key || string(p.RangeEnd) != end {
			if _, err := root.RoleRevokePermission(ctx, u.Name, string(p.Key), string(p.RangeEnd)); err != nil {
				return fmt.Errorf("revoke an old permission: %w", err)
			}
		}
	}
	if _, err := root.RoleGrantPermission(ctx, u.Name, key, end, clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		return fmt.Errorf("grant %q: %w", key, err)
	}
	if err := addOrUpdateUser(ctx, root, u.Name, u.Password); err != nil {
		return err
	}
	if _, err := root.UserGrantRole(ctx, u.Name, u.Name); err != nil {
		return fmt.Errorf("grant role: %w", err)
	}
	return setAdmin(ctx, root, u)
}

// setAdmin grants u etcd's root role when u.Admin, and revokes it when not.
func setAdmin(ctx context.Context, root *clientv3.Client, u EtcdUser) error {
	if u.Admin {
		if _, err := root.UserGrantRole(ctx, u.Name, EtcdRootUser); err != nil {
			return fmt.Errorf("grant role %s: %w", EtcdRootUser, err)
		}
		return nil
	}
	_, err := root.UserRevokeRole(ctx, u.Name, EtcdRootUser)
	if err != nil && !errors.Is(err, rpctypes.ErrRoleNotGranted) {
		return fmt.Errorf("revoke role %s: %w", EtcdRootUser, err)
	}
	return nil
}
