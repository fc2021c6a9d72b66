package gateway

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/faas-flow/faas-flow/gateway/embedded"
	"github.com/faas-flow/faas-flow/transport/callbackguard"
)

// Secret names of the logins the local stack gives faas-flow functions to
// its embedded etcd and NATS; the runtime reads them as its etcd-username,
// etcd-password, nats-username and nats-password settings.
const (
	etcdUserSecret     = "etcd-username"
	etcdPasswordSecret = "etcd-password"
	natsUserSecret     = "nats-username"
	natsPasswordSecret = "nats-password"
)

// Secret names of the gateway's login in the secret store: a flow's
// control and read routes check it (the runtime's control_auth=basic).
// OpenFaaS names its gateway's login so too.
const (
	basicAuthUserSecret     = "basic-auth-user"
	basicAuthPasswordSecret = "basic-auth-password"
)

// flowLogin copies the gateway's login creds into the secret store, for
// flows to check calls of their control routes against (the files are
// rewritten at each start: the login may have changed).
func (l *Local) flowLogin(creds *Credentials) error {
	for name, v := range map[string]string{basicAuthUserSecret: creds.User, basicAuthPasswordSecret: creds.Password} {
		if err := writeFileAtomic(filepath.Join(l.opts.SecretsDir, name), []byte(v+"\n")); err != nil {
			return fmt.Errorf("secret %s: %w", name, err)
		}
	}
	return nil
}

// flowEtcdUser is the etcd user flows log in as on the embedded etcd.
const flowEtcdUser = "faasflow"

// etcdLogins loads (or creates on first start) the embedded etcd's root
// password, kept in StateDir/auth, and the flows' user, kept in the secret
// store, where flows read it.
func (l *Local) etcdLogins() (root string, user embedded.EtcdUser, err error) {
	root, _, err = loadOrCreateSecret(filepath.Join(l.opts.StateDir, "auth", "etcd-root-password"), 32)
	if err != nil {
		return "", user, fmt.Errorf("etcd root password: %w", err)
	}
	name, err := readOrWrite(filepath.Join(l.opts.SecretsDir, etcdUserSecret), flowEtcdUser)
	if err != nil {
		return "", user, fmt.Errorf("secret %s: %w", etcdUserSecret, err)
	}
	pass, _, err := loadOrCreateSecret(filepath.Join(l.opts.SecretsDir, etcdPasswordSecret), 32)
	if err != nil {
		return "", user, fmt.Errorf("secret %s: %w", etcdPasswordSecret, err)
	}
	// The flows' user may use every key, so a stack file's own
	// etcd_key_prefix keeps working. It has etcd's root role: without it,
	// etcd checks the user's permission on every key attached to a lease
	// at each write with that lease, which tripled the stack's CPU per
	// node execution. The login keeps out other users of the machine; the
	// functions themselves run as the user who can read the root password.
	return root, embedded.EtcdUser{Name: name, Password: pass, Admin: true}, nil
}

// natsLogin loads (or creates on first start) the user and password of the
// embedded NATS, kept in the secret store: the gateway and flows share it.
func (l *Local) natsLogin() (user, password string, err error) {
	if user, err = readOrWrite(filepath.Join(l.opts.SecretsDir, natsUserSecret), embedded.NATSDefaultUser); err != nil {
		return "", "", fmt.Errorf("secret %s: %w", natsUserSecret, err)
	}
	if password, _, err = loadOrCreateSecret(filepath.Join(l.opts.SecretsDir, natsPasswordSecret), 32); err != nil {
		return "", "", fmt.Errorf("secret %s: %w", natsPasswordSecret, err)
	}
	return user, password, nil
}

// flowNATSURL is the NATS URL flows get: with the embedded NATS, its login
// is in the URL too, so a flow built with a runtime that predates the
// nats-username and nats-password secrets, deployed before the embedded
// NATS had a login, still connects after an upgrade. The environment of a
// function is not shown by the API (only its deployment's envVars are).
func (l *Local) flowNATSURL() (string, error) {
	if l.natsSrv == nil {
		return l.natsURL, nil
	}
	u, err := url.Parse(l.natsURL)
	if err != nil {
		return "", fmt.Errorf("NATS URL: %w", err)
	}
	user, password, err := l.natsLogin()
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(user, password)
	return u.String(), nil
}

// internalSecrets are the secrets, beyond the hop signing key, that give
// flows their logins to the embedded services o runs, and the gateway's
// login their control routes check.
func internalSecrets(o LocalOptions) []string {
	var names []string
	if !o.NoAuth {
		names = append(names, basicAuthUserSecret, basicAuthPasswordSecret)
	}
	if len(o.EtcdEndpoints) == 0 {
		names = append(names, etcdUserSecret, etcdPasswordSecret)
	}
	if o.NATSURL == "" {
		names = append(names, natsUserSecret, natsPasswordSecret)
	}
	return names
}

// callbackGuard refuses callbacks to the stack's own services: etcd's
// client and peer ports, NATS and the S3 URL, except what CallbackAllow
// names.
func (l *Local) callbackGuard() (*callbackguard.Guard, error) {
	var protected []string
	if l.etcd != nil {
		protected = append(protected, l.etcd.ClientURL(), l.etcd.PeerURL())
	}
	if l.natsSrv != nil {
		protected = append(protected, l.natsSrv.URL())
	}
	// External services are protected too when their address can be read
	// (an address that cannot, or a host name, is skipped).
	external := append([]string(nil), l.opts.EtcdEndpoints...)
	external = append(external, strings.Split(l.opts.NATSURL, ",")...)
	external = append(external, l.opts.S3URL)
	for _, s := range external {
		if _, err := callbackguard.New(callbackguard.Options{Protected: []string{s}}); err == nil {
			protected = append(protected, s)
		}
	}
	g, err := callbackguard.New(callbackguard.Options{Protected: protected, Allow: l.opts.CallbackAllow})
	if err != nil {
		return nil, fmt.Errorf("callbacks: %w", err)
	}
	return g, nil
}
