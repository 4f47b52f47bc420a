package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of docker-compose.kafka.yml the checks read.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Ports       []string          `yaml:"ports"`
		Profiles    []string          `yaml:"profiles"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

// TestComposeMatchesReadmeAndDefaults keeps the Docker path honest: the
// single node advertises the address the README tells users to export, it
// does not create topics by accident, it runs the Kafka version the CI
// script pins, and no compose port collides with the embedded broker.
func TestComposeMatchesReadmeAndDefaults(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.kafka.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.kafka.yml: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("../../scripts/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}

	single, ok := c.Services["kafka"]
	if !ok {
		t.Fatal("no single-node service \"kafka\"")
	}
	m := regexp.MustCompile(`PLAINTEXT://([^,]+)`).FindStringSubmatch(single.Environment["KAFKA_ADVERTISED_LISTENERS"])
	if m == nil {
		t.Fatalf("single node advertises no PLAINTEXT listener: %q", single.Environment["KAFKA_ADVERTISED_LISTENERS"])
	}
	advertised := m[1]
	if want := "KAFKA_BROKERS=" + advertised + " make run"; !strings.Contains(string(readme), want) {
		t.Errorf("README does not tell users %q", want)
	}
	if !strings.Contains(string(readme), "docker compose -f docker-compose.kafka.yml up -d") {
		t.Error("README does not give the compose command")
	}
	port := advertised[strings.LastIndex(advertised, ":")+1:]
	if !slices.Contains(single.Ports, port+":9092") {
		t.Errorf("single node publishes %v, want host port %s (advertised %s)", single.Ports, port, advertised)
	}

	version := regexp.MustCompile(`(?m)^KAFKA_VERSION=(\S+)`).FindSubmatch(script)
	if version == nil {
		t.Fatal("scripts/kafka.sh pins no KAFKA_VERSION")
	}
	listenPort := DefaultListen[strings.LastIndex(DefaultListen, ":")+1:]
	for name, s := range c.Services {
		if want := "apache/kafka:" + string(version[1]); s.Image != want {
			t.Errorf("service %s runs %q, want %q (the version CI tests)", name, s.Image, want)
		}
		if s.Environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] != "false" {
			t.Errorf("service %s creates topics automatically; the app provisions its own", name)
		}
		for _, p := range s.Ports {
			if strings.HasPrefix(p, listenPort+":") {
				t.Errorf("service %s publishes %s, the embedded broker's default port", name, p)
			}
		}
	}
}
