package main

import (
	"slices"
	"testing"
)

func TestSubnetCidrs(t *testing.T) {
	tests := []struct {
		cidr    string
		want    []string
		wantErr bool
	}{
		{cidr: "10.0.0.0/16", want: []string{"10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20", "10.0.48.0/20"}},
		{cidr: "172.16.0.0/12", want: []string{"172.16.0.0/16", "172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"}},
		{cidr: "10.1.16.0/20", want: []string{"10.1.16.0/24", "10.1.17.0/24", "10.1.18.0/24", "10.1.19.0/24"}},
		{cidr: "10.0.0.0/21", wantErr: true},
		{cidr: "fd00::/48", wantErr: true},
		{cidr: "10.0.0.0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			got, err := subnetCidrs(tt.cidr, 4)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
