# previewd itself as a Nomad job: two replicas (the BullMQ queue, the per-PR lock and the
# fenced GC lock in Redis let them share the work), routed by Traefik through the Consul
# Catalog provider, with previewd's own Vault token from Nomad's workload identity.
#
#   vault policy write previewd deploy/previewd-vault-policy.hcl
#   vault write auth/jwt-nomad/role/previewd @deploy/previewd-vault-role.json
#   vault kv put secret/previewd/config DATABASE_URL=… REDIS_URL=… NOMAD_TOKEN=… \
#     CONSUL_HTTP_TOKEN=… GITHUB_WEBHOOK_SECRET=… GITHUB_TOKEN=… PREVIEWD_ADMIN_TOKEN=… PREVIEWD_LINK_SECRET=…
#   nomad job run deploy/previewd.nomad.hcl
#
# Adjust the image, the hosts, the addresses and previewd.yaml below to your cluster.
# No secret is in this file: the template reads them from Vault into the task's
# secrets/ directory at run time. test/deploy.test.ts parses and registers it.
job "previewd" {
  datacenters = ["dc1"]
  type        = "service"

  # One replica at a time, a canary first; a release whose canary does not pass both
  # checks within the deadline is rolled back to the last good version.
  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    auto_revert       = true
    health_check      = "checks"
    min_healthy_time  = "15s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
  }

  group "previewd" {
    count = 2

    # The two replicas on different machines, so losing one leaves the other serving.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      port "http" {
        to = 8080
      }
    }

    service {
      name     = "previewd"
      port     = "http"
      provider = "consul"
      # Only the webhook and the dashboard are public; /admin, /metrics and the health
      # endpoints stay on the cluster network (Prometheus finds /metrics via Consul).
      tags = [
        "traefik.enable=true",
        "traefik.http.routers.previewd-webhooks.rule=Host(`previewd.example.com`) && PathPrefix(`/webhooks/`)",
        "traefik.http.routers.previewd-webhooks.entrypoints=websecure",
        "traefik.http.routers.previewd-webhooks.tls.certresolver=le",
        "traefik.http.routers.previewd-ui.rule=Host(`previewd.example.com`) && PathPrefix(`/ui`)",
        "traefik.http.routers.previewd-ui.entrypoints=websecure",
        "traefik.http.routers.previewd-ui.tls.certresolver=le",
      ]
      # A canary gets no Traefik route until it is promoted.
      canary_tags = ["canary"]

      meta {
        component = "previewd"
      }

      # Liveness: the process answers. A failing one is restarted.
      check {
        name     = "previewd-alive"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }

      # Readiness: Postgres, Redis, Nomad, Consul and Vault all answer. Failing takes the
      # replica out of Traefik's routing but does not restart it.
      check {
        name     = "previewd-ready"
        type     = "http"
        path     = "/readyz"
        interval = "10s"
        timeout  = "5s"
      }
    }

    task "previewd" {
      driver = "docker"

      config {
        image = "ghcr.io/acme/previewd:0.1.0"
        ports = ["http"]
        # The image's entry point is `previewd`; these replace its default `serve`.
        args = ["--config", "/local/previewd.yaml", "serve"]
      }

      # previewd's own Vault token: Nomad logs in with the task's workload identity on the
      # JWT auth mount, as role "previewd" (policy deploy/previewd-vault-policy.hcl), and
      # hands it to the task as VAULT_TOKEN; a new token restarts the task.
      identity {
        name = "vault_default"
        aud  = ["vault.io"]
        ttl  = "1h"
      }

      vault {
        role        = "previewd"
        change_mode = "restart"
      }

      env {
        PORT             = "8080"
        LOG_LEVEL        = "info"
        NOMAD_ADDR       = "https://nomad.service.consul:4646"
        CONSUL_HTTP_ADDR = "http://consul.service.consul:8500"
        VAULT_ADDR       = "https://vault.service.consul:8200"
        GITHUB_API_URL   = "https://api.github.com"
      }

      # Non-secret settings (see config/previewd.example.yaml).
      template {
        destination = "local/previewd.yaml"
        change_mode = "restart"
        data        = <<-EOT
          instance: previewd
          baseDomain: preview.example.com
          publicUrl: https://previewd.example.com
          repos:
            - name: acme/shop
              images:
                api: ghcr.io/acme/shop-api
                frontend: ghcr.io/acme/shop-web
                worker: ghcr.io/acme/shop-worker
        EOT
      }

      # Secrets from Vault, as environment variables of the task, never in the job spec.
      # Nomad reads an env template with hashicorp/go-envparse: toJSON quotes each value
      # (a `#` would end an unquoted one; a PEM key's newlines become \n escapes).
      template {
        destination = "secrets/previewd.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with secret "secret/data/previewd/config" }}
          {{ range $key, $value := .Data.data }}{{ $key }}={{ $value | toJSON }}
          {{ end }}{{ end }}
        EOT
      }

      # bench/RESULTS.md, "Compiled start-up and memory": ~150 MB RSS at 500 environments,
      # 180-210 MB peak after reconciles (the image sets NODE_OPTIONS=--max-semi-space-size=2).
      # memory_max applies where memory oversubscription is enabled.
      resources {
        cpu        = 500
        memory     = 256
        memory_max = 384
      }

      # serve's --grace is 25 s: running steps finish before Nomad's SIGKILL.
      kill_timeout = "30s"
    }
  }
}
