package gateway

import (
	"maps"
	"slices"
	"testing"
)

func TestLocalFlowEnvPointsFlowsAtTheStacksServers(t *testing.T) {
	etcd, nats := []string{"http://127.0.0.1:2379"}, "nats://127.0.0.1:4222"
	base := map[string]string{
		"state_store": "etcd", "etcd_endpoints": "http://127.0.0.1:2379", "data_store": "local", "data_dir": "/st/data",
		"hop_transport": "nats", "nats_url": nats, "etcd_serializable_reads": "true",
		"events_nats_url": nats, "events_subject_prefix": EventsSubjectPrefix,
	}
	with := func(change func(map[string]string)) map[string]string {
		m := maps.Clone(base)
		change(m)
		return m
	}
	tests := []struct {
		name        string
		opts        LocalOptions
		env         map[string]string
		flowSecrets []string
	}{
		{"embedded etcd, local data, with the embedded services' logins and the gateway's", LocalOptions{StateDir: "/st"}, base,
			[]string{HMACSecretName, "basic-auth-user", "basic-auth-password", "etcd-username", "etcd-password", "nats-username", "nats-password"}},
		{"no gateway login leaves the flows' control routes open", LocalOptions{StateDir: "/st", NoAuth: true},
			with(func(m map[string]string) { m["control_auth"] = "none" }),
			[]string{HMACSecretName, "etcd-username", "etcd-password", "nats-username", "nats-password"}},
		{"external etcd reads linearizably and gets no generated etcd login", LocalOptions{StateDir: "/st", EtcdEndpoints: etcd},
			with(func(m map[string]string) { delete(m, "etcd_serializable_reads") }),
			[]string{HMACSecretName, "basic-auth-user", "basic-auth-password", "nats-username", "nats-password"}},
		{"external NATS gets no generated NATS login", LocalOptions{StateDir: "/st", NATSURL: nats}, base,
			[]string{HMACSecretName, "basic-auth-user", "basic-auth-password", "etcd-username", "etcd-password"}},
		{"no completion events", LocalOptions{StateDir: "/st", NoEvents: true},
			with(func(m map[string]string) { delete(m, "events_nats_url"); delete(m, "events_subject_prefix") }),
			[]string{HMACSecretName, "basic-auth-user", "basic-auth-password", "etcd-username", "etcd-password", "nats-username", "nats-password"}},
		{"MinIO data", LocalOptions{StateDir: "/st", S3URL: "minio:9000", S3Bucket: "b"},
			with(func(m map[string]string) {
				m["data_store"], m["s3_url"], m["s3_bucket"] = "minio", "minio:9000", "b"
				delete(m, "data_dir")
			}), []string{HMACSecretName, "basic-auth-user", "basic-auth-password", "etcd-username", "etcd-password", "nats-username", "nats-password", "s3-access-key", "s3-secret-key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, secrets := localFlowEnv(tt.opts, etcd, nats)
			if !maps.Equal(env, tt.env) || !slices.Equal(secrets, tt.flowSecrets) {
				t.Fatalf("localFlowEnv =\n%v %v\nwant\n%v %v", env, secrets, tt.env, tt.flowSecrets)
			}
		})
	}
}
