package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// Info returns the gateway's /system/info.
func (c *Client) Info(ctx context.Context) (api.GatewayInfo, error) {
	var info api.GatewayInfo
	resp, err := c.system(ctx, http.MethodGet, "/system/info", nil)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, statusErr("gateway info", resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return info, fmt.Errorf("gateway info: %w", err)
	}
	return info, nil
}

// Secrets returns the names of the secrets in the gateway's secret store
// (values are never listed).
func (c *Client) Secrets(ctx context.Context) ([]api.Secret, error) {
	resp, err := c.system(ctx, http.MethodGet, "/system/secrets", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr("list secrets", resp)
	}
	var out []api.Secret
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return out, nil
}

// CreateSecret adds a secret; the gateway answers 409 (a StatusError) when
// it exists.
func (c *Client) CreateSecret(ctx context.Context, name string, value []byte) error {
	return c.writeSecret(ctx, http.MethodPost, "create secret "+name, api.Secret{Name: name, RawValue: value})
}

// UpdateSecret replaces a secret's value; the gateway answers 404 (a
// StatusError) when it does not exist.
func (c *Client) UpdateSecret(ctx context.Context, name string, value []byte) error {
	return c.writeSecret(ctx, http.MethodPut, "update secret "+name, api.Secret{Name: name, RawValue: value})
}

// DeleteSecret removes a secret; 404 (a StatusError) when it does not exist.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.writeSecret(ctx, http.MethodDelete, "remove secret "+name, api.Secret{Name: name})
}

func (c *Client) writeSecret(ctx context.Context, method, op string, s api.Secret) error {
	resp, err := c.system(ctx, method, "/system/secrets", s)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return statusErr(op, resp)
	}
	return nil
}
